"""POST /api/webhooks/shopify: verify, deduplicate, store, answer; processing happens later.

In order, before anything is stored:
    413  the body is over 1 MiB (checked first: nothing larger is even hashed)
    401  X-Shopify-Hmac-Sha256 is missing or is not the body's signature under the client secret
         (or, during a rotation, SHOPIFY_CLIENT_SECRET_PREVIOUS)
    400  a required header is missing or malformed (topic, shop domain, webhook id), or the
         payload names another shop than the header (the signature covers the body only)
Then the delivery is stored once per X-Shopify-Webhook-Id (a redelivery changes nothing), only
the fields its topic's model declares are kept (no customer data), and the answer is 200.
Processing is handed to Durable (see `webhook_queue`). `app/uninstalled` is the exception that
acts before answering: the tokens are deleted in the storing transaction, and the shop's
running pipelines are terminated through the Durable client, which activities do not have.

A verified body that cannot be read (not a JSON object, an unknown topic) is still stored, as
failed with the reason, and answered 200: Shopify resending the same bytes would not help.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import azure.functions as func
import psycopg
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.db import webhook_events
from shared.db.pool import DatabaseUnavailableError, transaction
from shared.db.shop_lifecycle import mark_uninstalled
from shared.db.shops import check_shop_domain
from shared.db.webhook_events import WebhookEvent
from shared.http_api import json_response, problem
from shared.run_termination import terminate_shop_runs
from shared.secrets import get_optional_secret
from shared.shopify import webhook_payloads, webhook_queue
from shared.shopify import webhook_topics as topics
from shared.shopify.webhook_hmac import matching_secret
from shared.shopify.webhook_payloads import PayloadError
from shared.shopify.webhook_processing import MAX_ATTEMPTS

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
# A stored delivery still unprocessed this long after it arrived probably lost its start: a
# redelivery starts it again (sooner, the first start is most likely still on its way).
RESTART_AFTER = timedelta(seconds=30)
# Within Shopify's 5 s: past it, the answer is 503 and Shopify's redelivery tries the termination again.
TERMINATE_TIMEOUT_SECONDS = 3.0
_TOPIC = r"^[a-z][a-z_]*/[a-z][a-z_]*$"
_API_VERSION = r"^(\d{4}-\d{2}|unstable)$"
_EVENT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # Shopify's newer Events deliveries use the same headers without the X- prefix.
    value = headers.get(f"x-shopify-{name}") or headers.get(f"shopify-{name}")
    return value.strip() if value else None


class DeliveryHeaders(BaseModel):
    """The headers of a delivery, checked. Values that fail here are answered 400."""

    model_config = ConfigDict(frozen=True)

    topic: str = Field(pattern=_TOPIC, max_length=100)
    shop_domain: str = Field(max_length=255)
    webhook_id: str = Field(pattern=webhook_queue.WEBHOOK_ID.pattern)
    event_id: str | None = Field(None, pattern=_EVENT_ID)
    api_version: str | None = Field(None, pattern=_API_VERSION)
    triggered_at: AwareDatetime | None = None

    @field_validator("shop_domain")
    @classmethod
    def _shop_shape(cls, value: str) -> str:
        return check_shop_domain(value)

    @field_validator("triggered_at", mode="before")
    @classmethod
    def _lenient_time(cls, value: object) -> object:
        # Informational (ordering and staleness): an unreadable value is dropped, not refused.
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return None
            return moment if moment.tzinfo else None
        return value

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> DeliveryHeaders:
        return cls(
            topic=_header(headers, "topic") or "", shop_domain=_header(headers, "shop-domain") or "",
            webhook_id=_header(headers, "webhook-id") or "", event_id=_header(headers, "event-id"),
            api_version=_header(headers, "api-version"), triggered_at=_header(headers, "triggered-at"),
        )


@dataclass(frozen=True)
class _Stored:
    new: bool
    status: str | None  # of the stored delivery, for a redelivery
    received_at: datetime | None
    shop_status: str | None  # after an app/uninstalled


def signing_secrets() -> list[tuple[str, str]]:
    """(label, secret) pairs a delivery may be signed with: the client secret, then the one before a rotation."""
    pairs = []
    for label, name in (("current", "SHOPIFY_CLIENT_SECRET"), ("previous", "SHOPIFY_CLIENT_SECRET_PREVIOUS")):
        value = get_optional_secret(name)
        if value:
            pairs.append((label, value))
    return pairs


async def receive(req: func.HttpRequest, client) -> func.HttpResponse:
    body = req.get_body() or b""
    if len(body) > MAX_BODY_BYTES:
        return problem(413, f"webhook bodies are limited to {MAX_BODY_BYTES} bytes")
    secrets = signing_secrets()
    if not secrets:
        log.error("webhook refused: SHOPIFY_CLIENT_SECRET is not set, so no signature can be checked")
        return problem(503, "webhooks cannot be verified: the app has no client secret configured")
    verified_with = matching_secret(body, _header(req.headers, "hmac-sha256"), secrets)
    if verified_with is None:
        return problem(401, "invalid webhook signature")
    try:
        delivery = DeliveryHeaders.from_headers(req.headers)
    except (ValidationError, ValueError) as exc:
        return problem(400, "bad webhook headers: " + _fields_of(exc))

    failed_reason = None
    try:
        data = webhook_payloads.read_body(body)
    except PayloadError as exc:
        data, failed_reason = {}, str(exc)
    if delivery.topic not in topics.SUPPORTED_TOPICS:
        failed_reason = f"unsupported topic {delivery.topic}"
    named = webhook_payloads.payload_shop_domain(data)
    if named and named != delivery.shop_domain:
        return problem(400, "the payload names another shop than X-Shopify-Shop-Domain")
    event = WebhookEvent(
        webhook_id=delivery.webhook_id, event_id=delivery.event_id, shop_domain=delivery.shop_domain,
        topic=delivery.topic, api_version=delivery.api_version, triggered_at=delivery.triggered_at,
        payload=webhook_payloads.kept_fields(delivery.topic, data), verified_with=verified_with,
    )
    uninstall = delivery.topic == topics.APP_UNINSTALLED
    try:
        # psycopg is blocking: off the worker's event loop, which serves every other request.
        stored = await asyncio.to_thread(_store, event, failed_reason, uninstall)
    except (psycopg.Error, DatabaseUnavailableError) as exc:
        # Not stored, so not acknowledged: Shopify delivers it again (8 times over 4 hours).
        log.warning("webhook %s not stored: %s", delivery.webhook_id, type(exc).__name__)
        return problem(503, "the webhook could not be stored; deliver it again")

    if uninstall and stored.shop_status == "uninstalled":
        try:
            await asyncio.wait_for(terminate_shop_runs(client, delivery.shop_domain, "the app was uninstalled"),
                                   TERMINATE_TIMEOUT_SECONDS)
        except Exception as exc:  # noqa: BLE001 - answered 503: Shopify redelivers, and this runs again
            log.warning("could not stop the runs of %s after its uninstall: %s", delivery.shop_domain,
                        type(exc).__name__)
            return problem(503, "stored, but the shop's running pipelines could not be stopped yet")
    if failed_reason is None and _should_start(stored):
        await webhook_queue.start_processing(client, delivery.webhook_id)
    return json_response({"received": delivery.webhook_id, "duplicate": not stored.new})


def _store(event: WebhookEvent, failed_reason: str | None, uninstall: bool) -> _Stored:
    with transaction() as conn:
        new = webhook_events.insert_event(
            conn, event, failed_reason=failed_reason, attempts=MAX_ATTEMPTS if failed_reason else 0
        )
        state = None if new else webhook_events.delivery_state(conn, event.webhook_id)
        # Tokens go in the same transaction that keeps the event: at once, and never one without the other.
        shop_status = mark_uninstalled(conn, event.shop_domain, event.triggered_at) if uninstall else None
    return _Stored(new, state[0] if state else None, state[1] if state else None, shop_status)


def _should_start(stored: _Stored) -> bool:
    if stored.new:
        return True
    # A redelivery of an event still waiting: its first start may have been lost.
    return stored.status == "received" and stored.received_at is not None and \
        datetime.now(timezone.utc) - stored.received_at > RESTART_AFTER


def _fields_of(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        names = {"topic": "X-Shopify-Topic", "shop_domain": "X-Shopify-Shop-Domain", "webhook_id": "X-Shopify-Webhook-Id",
                 "event_id": "X-Shopify-Event-Id", "api_version": "X-Shopify-API-Version"}
        return ", ".join(sorted({names.get(str(e["loc"][0]), str(e["loc"][0])) for e in exc.errors() if e["loc"]}))
    return str(exc)[:200]

