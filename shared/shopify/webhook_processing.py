"""Processing stored webhook events: one event by id, or every event waiting (the sweep).

Each event is processed in one transaction that holds its row lock: the topic's effect and the
event's new status commit together. A handler that fails is rolled back to a savepoint and the
event is marked failed with the reason and a retry time (exponential, capped), so it is kept
and tried again by a later sweep; after MAX_ATTEMPTS it stays failed for an operator
(`shared.db.webhook_events.failed_events`). Only a database that cannot be reached at all
makes these functions raise, for Durable to retry the activity.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import psycopg
from pydantic import BaseModel, ConfigDict, ValidationError

from shared.db import webhook_events
from shared.db.pool import transaction
from shared.db.webhook_events import StoredEvent
from shared.shopify import compliance, webhook_handlers
from shared.shopify import webhook_topics as topics
from shared.shopify.webhook_handlers import Outcome

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(minutes=5)
LONGEST_RETRY = timedelta(hours=6)
DEFAULT_SWEEP_LIMIT = 500
# A processed delivery's row is needed only to recognise its redeliveries (Shopify retries for 4
# hours) and a deleted product (its later updates); a month is ample, and keeps the table small.
PROCESSED_RETENTION = timedelta(days=30)

Handler = Callable[[psycopg.Connection, StoredEvent, datetime], Outcome]

HANDLERS: dict[str, Handler] = {
    topics.PRODUCTS_CREATE: webhook_handlers.product_changed,
    topics.PRODUCTS_UPDATE: webhook_handlers.product_changed,
    topics.PRODUCTS_DELETE: webhook_handlers.product_deleted,
    topics.INVENTORY_LEVELS_UPDATE: webhook_handlers.inventory_level_changed,
    topics.ORDERS_CREATE: webhook_handlers.order_changed,
    topics.ORDERS_UPDATED: webhook_handlers.order_changed,
    topics.APP_UNINSTALLED: webhook_handlers.app_uninstalled,
    topics.APP_SCOPES_UPDATE: webhook_handlers.scopes_updated,
    topics.BULK_OPERATIONS_FINISH: webhook_handlers.bulk_operation_finished,
    topics.CUSTOMERS_DATA_REQUEST: compliance.data_request,
    topics.CUSTOMERS_REDACT: compliance.customers_redact,
    topics.SHOP_REDACT: compliance.shop_redact,
}


class UnsupportedTopicError(ValueError):
    retryable = False


class ProcessingResult(BaseModel):
    """One event's processing, small enough for Durable's history (no payload)."""

    model_config = ConfigDict(frozen=True)

    webhook_id: str
    topic: str | None = None
    status: str  # processed | failed | already_processed | missing
    outcome: str | None = None


class SweepSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    processed: int = 0
    failed: int = 0
    failed_ids: list[str] = []
    pruned: int = 0


def describe_error(exc: Exception) -> str:
    """The error in a line; for a payload that does not validate, the fields and why, never their values."""
    if isinstance(exc, ValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(payload)'}: {e['msg']}"
                             for e in exc.errors(include_input=False, include_url=False))
        return f"invalid payload: {problems}"
    return f"{type(exc).__name__}: {exc}"


def retry_delay(attempts: int) -> timedelta:
    """How long to wait before the next try, after `attempts` tries: 5 min, 10 min, 20 min, ... at most 6 h."""
    return min(LONGEST_RETRY, FIRST_RETRY * 2 ** max(0, attempts - 1))


def process_event(webhook_id: str, *, now: datetime | None = None) -> ProcessingResult:
    """Process one stored event (waits if another worker holds it; does nothing if it is processed)."""
    now = now or datetime.now(timezone.utc)
    with transaction() as conn:
        event = webhook_events.lock_event(conn, webhook_id)
        if event is None:
            return ProcessingResult(webhook_id=webhook_id, status="missing")
        if event.status == "processed":
            return ProcessingResult(webhook_id=webhook_id, topic=event.topic, status="already_processed",
                                    outcome=event.outcome)
        return _process_locked(conn, event, now)


def process_waiting_events(
    *, shop_domain: str | None = None, limit: int = DEFAULT_SWEEP_LIMIT, now: datetime | None = None
) -> SweepSummary:
    """Process up to `limit` waiting events, oldest first: never processed, or failed and due again."""
    now = now or datetime.now(timezone.utc)
    processed, failed = 0, []
    for _ in range(limit):
        with transaction() as conn:
            event = webhook_events.lock_next_waiting(conn, now=now, max_attempts=MAX_ATTEMPTS, shop_domain=shop_domain)
            if event is None:
                break
            result = _process_locked(conn, event, now)
        if result.status == "failed":
            failed.append(result.webhook_id)
        else:
            processed += 1
    return SweepSummary(processed=processed, failed=len(failed), failed_ids=failed[:20])


def prune_processed_events(*, now: datetime | None = None) -> int:
    """Delete the rows of events processed longer ago than PROCESSED_RETENTION."""
    now = now or datetime.now(timezone.utc)
    with transaction() as conn:
        return webhook_events.prune_processed(conn, now - PROCESSED_RETENTION)


def _process_locked(conn: psycopg.Connection, event: StoredEvent, now: datetime) -> ProcessingResult:
    twin = webhook_events.processed_twin(conn, event)
    if twin:
        # Shopify sends one delivery per subscription of the topic: the event itself was applied already.
        outcome = f"duplicate of delivery {twin}"
        webhook_events.mark_processed(conn, event.webhook_id, outcome, now)
        return ProcessingResult(webhook_id=event.webhook_id, topic=event.topic, status="processed", outcome=outcome)
    try:
        handler = HANDLERS.get(event.topic)
        if handler is None:
            raise UnsupportedTopicError(f"no handler for topic {event.topic!r}")
        with conn.transaction():  # a savepoint: a failing handler leaves nothing half-written
            outcome = handler(conn, event, now)
    except Exception as exc:  # noqa: BLE001 - every failure is kept on the event, to retry
        if conn.broken or conn.closed:
            raise  # nothing can be recorded on a lost connection: Durable retries the activity
        error = describe_error(exc)
        retry_at = now + retry_delay(event.attempts + 1)
        webhook_events.mark_failed(conn, event.webhook_id, error, retry_at)
        # The error names the field, never the payload: payloads stay out of logs.
        log.warning("webhook %s (%s, %s) failed, attempt %d of %d: %s", event.webhook_id, event.topic,
                    event.shop_domain, event.attempts + 1, MAX_ATTEMPTS, error[:300])
        return ProcessingResult(webhook_id=event.webhook_id, topic=event.topic, status="failed", outcome=error[:300])
    if not outcome.event_deleted:
        webhook_events.mark_processed(conn, event.webhook_id, outcome.text, now)
    log.info("webhook %s (%s, %s): %s", event.webhook_id, event.topic, event.shop_domain, outcome.text)
    return ProcessingResult(webhook_id=event.webhook_id, topic=event.topic, status="processed", outcome=outcome.text)
