"""Reading a shop's item costs from its books and storing them as the 'accounting' cost source.

    outcome = refresh_accounting_costs(shop)

A shop without an accounting connection is left alone. One that has one is read whole through
Apideck, matched to the variants (`shared.accounting.matching`) and stored in one transaction.
When the merchant's connection is broken the shop's status says "reconnect your accounting
system", the costs of the last good read stand, and the step is degraded rather than failed:
the Shopify and CSV costs still count. Retryable trouble (429s that do not stop, 5xx) is raised
for Durable to retry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pydantic import BaseModel

from shared.accounting.apideck import (
    ApideckAuthError,
    ApideckClient,
    ApideckError,
    ApideckReconnectNeeded,
    ApideckRequestLimitError,
    ServiceId,
)
from shared.accounting.matching import match_items
from shared.db.accounting import (
    AccountingConnection,
    get_accounting_connection,
    record_accounting_status,
    store_accounting_matches,
    variant_keys,
)
from shared.db.pool import transaction
from shared.db.shops import Shop
from shared.secrets import get_optional_secret
from shared.settings import get_settings

log = logging.getLogger(__name__)

ClientFactory = Callable[[AccountingConnection], ApideckClient]


class AccountingOutcome(BaseModel):
    """What the step reports: a status word for the shop and the match counts (no item data)."""

    state: str  # not_connected | read | reconnect_needed | unavailable
    problem: str | None = None
    counts: dict[str, int] = {}


def apideck_client_for(connection: AccountingConnection) -> ApideckClient:
    settings = get_settings()
    api_key = get_optional_secret("APIDECK_API_KEY")
    if not api_key or not settings.apideck_app_id:
        raise ApideckAuthError("Apideck is not configured on this app (APIDECK_API_KEY and APIDECK_APP_ID)")
    service: ServiceId = connection.service_id  # type: ignore[assignment] - the table's CHECK allows only these
    return ApideckClient(
        api_key, settings.apideck_app_id, consumer_id=connection.consumer_id, service_id=service,
        base_url=settings.apideck_base_url, page_size=settings.apideck_page_size,
        max_attempts=settings.apideck_max_attempts, timeout_seconds=settings.apideck_timeout_seconds,
    )


def refresh_accounting_costs(shop: Shop, *, client_factory: ClientFactory = apideck_client_for) -> AccountingOutcome:
    with transaction() as conn:
        connection = get_accounting_connection(conn, shop.id)
    if connection is None:
        return AccountingOutcome(state="not_connected")
    try:
        with client_factory(connection) as client:
            items = list(client.invoice_items())
            requests, throttled = client.requests, client.throttled
    except ApideckReconnectNeeded as exc:
        return _broken(shop, "reconnect_needed", str(exc))
    except (ApideckAuthError, ApideckRequestLimitError) as exc:
        return _broken(shop, "unavailable", str(exc))
    except ApideckError as exc:
        if not exc.retryable:
            return _broken(shop, "unavailable", str(exc))
        raise
    with transaction() as conn:
        matches = match_items(items, variant_keys(conn, shop.id), shop.currency, connection.books_currency)
        counts = store_accounting_matches(conn, shop.id, matches)
    log.info("%s: %d accounting items read; %s", shop.domain, len(items), counts)
    return AccountingOutcome(state="read", counts={**counts, "apideck_requests": requests, "apideck_throttled": throttled})


def _broken(shop: Shop, status: str, detail: str) -> AccountingOutcome:
    log.warning("%s: accounting costs not read (%s): %s", shop.domain, status, detail)
    with transaction() as conn:
        record_accounting_status(conn, shop.id, status, detail)
    return AccountingOutcome(state=status, problem=detail)
