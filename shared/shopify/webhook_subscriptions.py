"""Creating a shop's webhook subscriptions through the GraphQL Admin API (`webhookSubscriptionCreate`).

Called after every install or reinstall (`register_webhook_subscriptions(shop)`, from the OAuth
side's after-install hook): Shopify deletes an app's subscriptions when it is uninstalled.
The callback is this app's `/api/webhooks/shopify` on APP_BASE_URL.

The compliance topics (customers/data_request, customers/redact, shop/redact) are not created
here: Shopify accepts them only from the app's configuration (`compliance_topics` in
shopify.app.toml, or the Dev Dashboard), never through the Admin API. The same toml also
declares every other topic as an app-specific subscription; with both in place Shopify sends
one delivery per subscription, which the app deduplicates on X-Shopify-Event-Id. The API route
stays for apps deployed without `shopify app deploy` and for shops installed before it.

Creating a subscription that exists already is answered with a user error ("address for this
topic has already been taken"), which counts as done: calling this twice is harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from shared.settings import get_settings
from shared.shopify.admin_api import AdminApiClient, ShopifyError
from shared.shopify.webhook_topics import API_SUBSCRIBABLE_TOPICS, COMPLIANCE_TOPICS, graphql_topic

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/api/webhooks/shopify"

CREATE_SUBSCRIPTION = """
mutation CreateWebhookSubscription($topic: WebhookSubscriptionTopic!, $subscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $subscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}"""
_ALREADY_TAKEN = "already been taken"


class WebhookSubscriptionError(ShopifyError):
    """Shopify refused a subscription for a reason other than it existing already. Not retryable."""

    retryable = False


class SubscriptionResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    topic: str
    status: str  # created | exists
    subscription_id: str | None = None


def callback_url() -> str:
    return get_settings().app_base_url.rstrip("/") + WEBHOOK_PATH


async def create_webhook_subscriptions(
    client: AdminApiClient, topics: Iterable[str] = API_SUBSCRIBABLE_TOPICS, *, uri: str | None = None
) -> list[SubscriptionResult]:
    """Subscribe the shop of `client` to each topic, in a stable order; one result per topic."""
    uri = uri or callback_url()
    results = []
    for topic in sorted(topics):
        if topic in COMPLIANCE_TOPICS:
            raise ValueError(f"{topic} is a compliance topic: it is configured in shopify.app.toml, not by API")
        data = await client.execute(
            CREATE_SUBSCRIPTION, {"topic": graphql_topic(topic), "subscription": {"uri": uri, "format": "JSON"}},
            operation_name="CreateWebhookSubscription",
        )
        answer = data.get("webhookSubscriptionCreate") or {}
        errors = [e.get("message", "") for e in answer.get("userErrors") or []]
        created = answer.get("webhookSubscription")
        if created:
            results.append(SubscriptionResult(topic=topic, status="created", subscription_id=created.get("id")))
        elif errors and all(_ALREADY_TAKEN in message.lower() for message in errors):
            results.append(SubscriptionResult(topic=topic, status="exists"))
        else:
            raise WebhookSubscriptionError(
                f"{client.shop_domain}: Shopify refused the {topic} subscription: {'; '.join(errors) or 'no reason given'}"
            )
    log.info("%s: webhook subscriptions %s", client.shop_domain,
             ", ".join(f"{r.topic} {r.status}" for r in results))
    return results


def register_webhook_subscriptions(shop: str) -> list[SubscriptionResult]:
    """Create the shop's subscriptions with its stored token (blocking; for the after-install hook)."""
    from shared.shopify.tokens import get_access_token_async  # reads the database: only when actually registering

    async def run() -> list[SubscriptionResult]:
        async with AdminApiClient(shop, await get_access_token_async(shop)) as client:
            return await create_webhook_subscriptions(client)

    return asyncio.run(run())
