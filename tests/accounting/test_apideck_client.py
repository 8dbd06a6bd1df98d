"""The Apideck client against the loopback stand-in: headers, cursors, pacing, 429s and broken connections."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.accounting.apideck import (
    ApideckAuthError,
    ApideckClient,
    ApideckRateLimitedError,
    ApideckReconnectNeeded,
    ApideckRequestLimitError,
    parse_rate_limit,
)
from shared.local.apideck_standin import ApideckStandIn
from shared.local.shopify_emulator import ManualClock
from shared.telemetry import cost_ledger

KEY, APP = "apideck-test-key-123456", "advisor-test-app"


def items(n: int) -> list[dict]:
    return [{"id": str(i), "name": f"Item {i}", "code": f"SKU-{i}", "currency": "GBP",
             "purchase_details": {"unit_price": 1.25 + i, "unit_of_measure": "pc", "tax_inclusive": False}}
            for i in range(n)]


@pytest.fixture()
def standin():
    clock = ManualClock()
    with ApideckStandIn(api_key=KEY, app_id=APP, clock=clock) as apideck:
        apideck.test_clock = clock
        yield apideck


def client(standin: ApideckStandIn, *, consumer: str = "shop-1", service: str = "quickbooks", key: str = KEY,
           sleeps: list[float] | None = None, **kwargs) -> ApideckClient:
    def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)
        standin.test_clock.advance(seconds)

    return ApideckClient(key, APP, consumer_id=consumer, service_id=service, base_url=standin.base_url, sleep=sleep,
                         backoff_seconds=0.5, **kwargs)


def test_reads_every_page_with_limit_200_and_the_unify_headers(standin: ApideckStandIn) -> None:
    standin.add_consumer("shop-1", "quickbooks", items(450))
    standin.add_consumer("shop-1", "xero", items(3))  # another connection of the same consumer: the service id chooses
    with cost_ledger() as ledger, client(standin) as apideck:
        read = list(apideck.invoice_items())
    assert [i.id for i in read] == [str(i) for i in range(450)]
    assert read[7].unit_cost == Decimal("8.25") and read[7].code == "SKU-7"
    assert [r.query.get("limit") for r in standin.requests] == ["200", "200", "200"]
    assert [bool(r.query.get("cursor")) for r in standin.requests] == [False, True, True]
    assert {(r.consumer_id, r.service_id, r.status) for r in standin.requests} == {("shop-1", "quickbooks", 200)}
    # One span per request, each costing one Apideck request.
    assert ledger.calls == {"apideck": 3}
    assert ledger.as_rows() == [{"service": "apideck", "unit": "requests", "amount": 3.0}]


def test_a_burst_of_429s_is_waited_out_with_retry_after(standin: ApideckStandIn) -> None:
    standin.add_consumer("shop-1", "quickbooks", items(250))
    standin.throttle_next(2, retry_after=7)
    sleeps: list[float] = []
    with client(standin, sleeps=sleeps) as apideck:
        read = list(apideck.invoice_items())
    assert len(read) == 250
    assert [r.status for r in standin.requests] == [429, 429, 200, 200]
    assert sleeps == [7.0, 7.0] and apideck.throttled == 2


def test_429s_that_do_not_stop_give_a_retryable_error(standin: ApideckStandIn) -> None:
    standin.add_consumer("shop-1", "quickbooks", items(5))
    standin.throttle_next(10, retry_after=1)
    with client(standin, max_attempts=3) as apideck, pytest.raises(ApideckRateLimitedError) as caught:
        list(apideck.invoice_items())
    assert caught.value.retryable and "gave up after 3 attempts" in str(caught.value)
    assert len(standin.requests) == 3


def test_the_downstream_window_is_honoured_before_a_429(standin: ApideckStandIn) -> None:
    """Xero-like: 2 calls per 60 s window. The client waits for the reset instead of earning a 429."""
    standin.downstream_limit, standin.downstream_window_seconds = 2, 60.0
    standin.add_consumer("shop-1", "xero", items(10))
    sleeps: list[float] = []
    with client(standin, service="xero", page_size=2, sleeps=sleeps) as apideck:
        read = list(apideck.invoice_items())
    assert len(read) == 10
    assert all(r.status == 200 for r in standin.requests) and len(standin.requests) == 5
    assert sleeps == [60.0, 60.0]  # after pages 2 and 4 the window said remaining 0


def test_a_disconnected_consumer_asks_the_merchant_to_reconnect(standin: ApideckStandIn) -> None:
    standin.add_consumer("shop-1", "quickbooks", items(5)).state = "token_expired"
    with client(standin) as apideck, pytest.raises(ApideckReconnectNeeded) as caught:
        list(apideck.invoice_items())
    assert not caught.value.retryable and caught.value.status == 401
    assert str(caught.value).startswith("reconnect your accounting system (QuickBooks)")
    assert len(standin.requests) == 1  # not retried


@pytest.mark.parametrize("setup", ["unknown consumer", "invalid state"])
def test_no_usable_connection_also_asks_to_reconnect(standin: ApideckStandIn, setup: str) -> None:
    consumer = standin.add_consumer("shop-1", "quickbooks", items(1))
    if setup == "invalid state":
        consumer.state = "invalid_state"
    with client(standin, consumer="shop-1" if setup == "invalid state" else "shop-404") as apideck, \
            pytest.raises(ApideckReconnectNeeded) as caught:
        list(apideck.invoice_items())
    assert caught.value.status == (422 if setup == "invalid state" else 404)


def test_the_apps_own_bad_key_is_not_the_merchants_problem(standin: ApideckStandIn) -> None:
    standin.add_consumer("shop-1", "quickbooks", items(1))
    with client(standin, key="apideck-wrong-key-999999") as apideck, pytest.raises(ApideckAuthError) as caught:
        list(apideck.invoice_items())
    assert "apideck-wrong-key-999999" not in str(caught.value) and not caught.value.retryable


def test_the_apps_request_limit_is_reported_not_retried(standin: ApideckStandIn) -> None:
    standin.add_consumer("shop-1", "quickbooks", items(1))
    standin.request_limit_reached = True
    with client(standin) as apideck, pytest.raises(ApideckRequestLimitError):
        list(apideck.invoice_items())
    assert len(standin.requests) == 1


def test_rate_limit_reset_reads_seconds_or_a_unix_time() -> None:
    import httpx

    now = 1_800_000_000.0
    assert parse_rate_limit(httpx.Headers({"x-downstream-ratelimit-reset": "30"}), now).reset_seconds == 30
    assert parse_rate_limit(httpx.Headers({"x-downstream-ratelimit-reset": str(now + 12)}), now).reset_seconds == 12
    assert parse_rate_limit(httpx.Headers({"x-downstream-ratelimit-reset": str((now + 5) * 1000)}), now).reset_seconds == 5
    assert parse_rate_limit(httpx.Headers({"x-downstream-ratelimit-remaining": "0"}), now).remaining == 0
