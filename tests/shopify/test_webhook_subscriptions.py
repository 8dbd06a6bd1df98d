"""Creating a shop's webhook subscriptions through webhookSubscriptionCreate, against the emulator."""

from __future__ import annotations

import dataclasses
import os

import pytest

from shared.db.pool import transaction
from shared.db.shops import upsert_shop
from shared.local.demo import apply_settings
from shared.local.sample_store import generate_store
from shared.local.shopify_emulator import ShopifyEmulator
from shared.local.shopify_webhook_subscriptions_standin import WebhookSubscriptionsStandIn
from shared.shopify import webhook_topics as topics
from shared.shopify.admin_api import AdminApiClient, ShopifyGraphQLError
from shared.shopify.tokens import token_cipher
from shared.shopify.webhook_subscriptions import (
    CREATE_SUBSCRIPTION,
    WebhookSubscriptionError,
    create_webhook_subscriptions,
    register_webhook_subscriptions,
)

DOMAIN = "webhook-subscriber.myshopify.com"
TOKEN = "shpat_subscriptions_test_token_0001"
APP_URL = "https://advisor.example"


@pytest.fixture(scope="module")
def emulator(local_data_dir):
    saved = dict(os.environ)
    store = dataclasses.replace(generate_store(n_products=2), domain=DOMAIN)
    with ShopifyEmulator() as emulator:
        emulator.add_shop(store, TOKEN)
        emulator.subscriptions = WebhookSubscriptionsStandIn(emulator)
        apply_settings({"SHOPIFY_ADMIN_BASE_URL": emulator.admin_base_url_template, "APP_BASE_URL": APP_URL + "/"})
        yield emulator
    os.environ.clear()
    os.environ.update(saved)
    apply_settings({})


async def test_every_api_topic_is_subscribed_to_the_endpoint_and_a_second_call_changes_nothing(emulator):
    async with AdminApiClient(DOMAIN, TOKEN) as client:
        first = await create_webhook_subscriptions(client)
        again = await create_webhook_subscriptions(client)
    assert {r.topic for r in first} == topics.API_SUBSCRIBABLE_TOPICS
    assert {r.status for r in first} == {"created"} and all(r.subscription_id for r in first)
    assert {r.status for r in again} == {"exists"}
    made = emulator.subscriptions.of(DOMAIN)
    assert len(made) == len(topics.API_SUBSCRIBABLE_TOPICS)
    assert {s.topic for s in made} == {topics.graphql_topic(t) for t in topics.API_SUBSCRIBABLE_TOPICS}
    assert {(s.uri, s.format) for s in made} == {(f"{APP_URL}/api/webhooks/shopify", "JSON")}


async def test_compliance_topics_are_never_asked_of_the_api_and_the_api_would_refuse_them(emulator):
    async with AdminApiClient(DOMAIN, TOKEN) as client:
        with pytest.raises(ValueError, match="shopify.app.toml"):
            await create_webhook_subscriptions(client, [topics.SHOP_REDACT])
        with pytest.raises(ShopifyGraphQLError):
            await client.execute(CREATE_SUBSCRIPTION, {"topic": "CUSTOMERS_REDACT",
                                                       "subscription": {"uri": f"{APP_URL}/x"}})
    assert not any(s.topic == "CUSTOMERS_REDACT" for s in emulator.subscriptions.of(DOMAIN))


async def test_a_refusal_other_than_already_subscribed_is_an_error(emulator):
    async with AdminApiClient(DOMAIN, TOKEN) as client:
        with pytest.raises(WebhookSubscriptionError, match="Address is invalid") as raised:
            await create_webhook_subscriptions(client, [topics.ORDERS_CREATE], uri="/relative/path")
    assert raised.value.retryable is False


async def test_the_emulators_own_queries_still_work_beside_the_mutation(emulator):
    async with AdminApiClient(DOMAIN, TOKEN) as client:
        data = await client.execute("query Shop { shop { myshopifyDomain } }")
    assert data["shop"]["myshopifyDomain"] == DOMAIN


def test_registering_after_install_uses_the_stored_token(emulator):
    other = "webhook-subscriber-2.myshopify.com"
    store = dataclasses.replace(generate_store(n_products=2), domain=other)
    token = "shpat_subscriptions_test_token_0002"
    emulator.add_shop(store, token)
    cipher = token_cipher()
    with transaction() as conn:
        upsert_shop(conn, other, name="Second", currency="GBP", access_token_ciphertext=cipher.seal(token, other),
                    token_key_id=cipher.current_key_id, scopes="read_products")
    results = register_webhook_subscriptions(other)
    assert {r.status for r in results} == {"created"}
    assert len(emulator.subscriptions.of(other)) == len(topics.API_SUBSCRIBABLE_TOPICS)
