"""Costs from the books end to end: stand-in -> client -> matching -> unit_costs, and the shop's status."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from activities.update_costs import update_costs
from shared import http_api
from shared.accounting.costs import refresh_accounting_costs
from shared.db import runs
from shared.db.accounting import accounting_report, connect_accounting
from shared.db.costs import effective_costs
from shared.db.pool import transaction
from shared.db.shops import get_shop
from shared.local.apideck_standin import ApideckStandIn
from shared.local.shopify_emulator import ManualClock

KEY, APP = "apideck-costs-key-123456", "advisor-costs-app"
_numbers = itertools.count(1)


def item(id_: str, name: str | None, code: str | None, cost: float | None, currency: str | None = None) -> dict:
    return {"id": id_, "name": name, "code": code, "type": "inventory", "currency": currency,
            "purchase_details": {"unit_price": cost} if cost is not None else None}


BOOKS = [
    item("1", "Mug - Blue", " mug-1 ", 4.10),  # code matches SKU MUG-1 (case and spaces ignored)
    item("2", "poster", None, 7.00),  # no code: matched by exact name to the single-variant product
    item("3", "Tee - Large", "TEE-1", 5.00, "USD"),  # matched, but in dollars: not used
    item("4", "Duplicate", "DUP", 1.00),  # SKU DUP is on two variants
    item("5", "Cap", "CAP-1", 2.00), item("6", "Cap again", "CAP-1", 2.20),  # two items claim one variant
    item("7", "Nothing like it", "NOPE", 9.99),
    item("8", "Mug - Green", "MUG-3", None),  # no purchase price
]


def new_shop() -> tuple[int, str, dict[str, int]]:
    """A GBP shop with products and variants as a sync leaves them; returns (shop id, domain, variant ids by key)."""
    domain = f"books-{next(_numbers)}.myshopify.com"
    ids: dict[str, int] = {}
    with transaction() as conn:
        shop_id = conn.execute("INSERT INTO shops (domain, name, currency) VALUES (%s, 'Books', 'GBP') RETURNING id",
                               (domain,)).fetchone()["id"]
        variants = [  # (key, product, variant title, sku, shopify unit cost)
            ("mug1", "Mug", "Blue", "MUG-1", Decimal("3.00")), ("mug2", "Mug", "Red", "MUG-2", Decimal("3.50")),
            ("mug3", "Mug", "Green", "MUG-3", None), ("tee", "Tee", "Large", "TEE-1", None),
            ("poster", "Poster", "Default Title", None, None), ("dup1", "Bag", "S", "DUP", None),
            ("dup2", "Bag", "M", "DUP", None), ("cap", "Cap", "Default Title", "CAP-1", None),
        ]
        products: dict[str, int] = {}
        for n, (key, product, title, sku, cost) in enumerate(variants):
            if product not in products:
                products[product] = conn.execute(
                    "INSERT INTO products (shop_id, shopify_id, title) VALUES (%s, %s, %s) RETURNING id",
                    (shop_id, f"gid://shopify/Product/{len(products) + 1}", product)).fetchone()["id"]
            ids[key] = conn.execute(
                """INSERT INTO variants (shop_id, product_id, shopify_id, sku, title, price, shopify_unit_cost,
                                         shopify_unit_cost_currency)
                   VALUES (%s, %s, %s, %s, %s, 10, %s, CASE WHEN %s::numeric IS NULL THEN NULL ELSE 'GBP' END)
                   RETURNING id""",
                (shop_id, products[product], f"gid://shopify/ProductVariant/{n + 1}", sku, title, cost, cost),
            ).fetchone()["id"]
        for key, cost in (("mug1", "2.50"), ("tee", "6.00")):  # what an uploaded CSV stores
            conn.execute("INSERT INTO unit_costs (shop_id, variant_id, source, cost, currency) VALUES (%s, %s, 'csv', %s, 'GBP')",
                         (shop_id, ids[key], cost))
    return shop_id, domain, ids


@pytest.fixture()
def standin(db, restore_environment, monkeypatch):
    from shared.secrets import reset_secret_store
    from shared.settings import get_settings

    clock = ManualClock()
    with ApideckStandIn(api_key=KEY, app_id=APP, clock=clock) as apideck:
        monkeypatch.setenv("APIDECK_BASE_URL", apideck.base_url)
        monkeypatch.setenv("APIDECK_APP_ID", APP)
        monkeypatch.setenv("APIDECK_API_KEY", KEY)
        get_settings.cache_clear()
        reset_secret_store()
        yield apideck


def shop_of(domain: str):
    with transaction() as conn:
        return get_shop(conn, domain)


def run_update_costs(domain: str, shop_id: int) -> dict:
    run_id = f"costs-{next(_numbers)}"
    with transaction() as conn:
        runs.start_run(conn, run_id, shop_id, "test", datetime.now(timezone.utc))
    return update_costs({"shop": domain, "run_id": run_id}) | {"run_id": run_id}


def test_books_win_over_shopify_and_csv_and_the_match_report_is_stored(standin: ApideckStandIn) -> None:
    shop_id, domain, ids = new_shop()
    standin.add_consumer("consumer-a", "quickbooks", BOOKS)
    with transaction() as conn:
        connect_accounting(conn, shop_id, "quickbooks", "consumer-a", books_currency="GBP")

    summary = run_update_costs(domain, shop_id)

    assert summary["status"] == "ok", summary
    counts = summary["counts"]
    assert counts["accounting"] == "read"
    assert {k: counts[f"accounting_{k}"] for k in ("items", "matched", "unmatched", "ambiguous", "currency_mismatch",
                                                   "no_cost", "matched_by_sku", "matched_by_name")} == {
        "items": 8, "matched": 2, "unmatched": 1, "ambiguous": 3, "currency_mismatch": 1, "no_cost": 1,
        "matched_by_sku": 1, "matched_by_name": 1}
    with transaction() as conn:
        costs = effective_costs(conn, shop_id)
        report = accounting_report(conn, shop_id)
    assert costs[ids["mug1"]] == (Decimal("4.1000"), "accounting")  # over Shopify 3.00 and CSV 2.50
    assert costs[ids["poster"]] == (Decimal("7.0000"), "accounting")  # by name
    assert costs[ids["mug2"]] == (Decimal("3.5000"), "shopify")
    assert costs[ids["tee"]] == (Decimal("6.0000"), "csv")  # the dollar cost was not used
    assert ids["dup1"] not in costs and ids["cap"] not in costs and ids["mug3"] not in costs
    assert (counts["cost_from_accounting"], counts["cost_from_shopify"], counts["cost_from_csv"]) == (2, 1, 1)
    assert report["status"] == "connected" and report["service"] == "quickbooks"
    assert [e["code"] for e in report["examples"]["unmatched"]] == ["NOPE"]
    assert sorted(e["item_id"] for e in report["examples"]["ambiguous"]) == ["4", "5", "6"]
    assert report["examples"]["currency_mismatch"][0]["currency"] == "USD"


def test_a_cost_gone_from_the_books_gives_way_to_shopify(standin: ApideckStandIn) -> None:
    shop_id, domain, ids = new_shop()
    consumer = standin.add_consumer("consumer-b", "xero", BOOKS)
    with transaction() as conn:
        connect_accounting(conn, shop_id, "xero", "consumer-b", books_currency="GBP")
    assert refresh_accounting_costs(shop_of(domain)).counts["matched"] == 2
    consumer.items = [i for i in BOOKS if i["id"] != "1"]
    again = run_update_costs(domain, shop_id)["counts"]
    assert again["accounting_costs_removed"] == 1 and again["accounting_matched"] == 1
    with transaction() as conn:
        assert effective_costs(conn, shop_id)[ids["mug1"]] == (Decimal("3.0000"), "shopify")


def test_a_broken_connection_degrades_the_step_keeps_the_last_costs_and_tells_the_merchant(standin: ApideckStandIn) -> None:
    shop_id, domain, ids = new_shop()
    consumer = standin.add_consumer("consumer-c", "quickbooks", BOOKS)
    with transaction() as conn:
        connect_accounting(conn, shop_id, "quickbooks", "consumer-c", books_currency="GBP")
    assert run_update_costs(domain, shop_id)["status"] == "ok"

    consumer.state = "token_expired"
    summary = run_update_costs(domain, shop_id)

    assert summary["status"] == "degraded"
    assert summary["error"].startswith("reconnect your accounting system (QuickBooks)")
    assert summary["counts"]["accounting"] == "reconnect_needed"
    with transaction() as conn:
        assert effective_costs(conn, shop_id)[ids["mug1"]] == (Decimal("4.1000"), "accounting")
    # runs/latest shows the step's error and the shop's accounting status.
    response = http_api.latest_run(domain)
    body = json.loads(response.get_body())
    step = next(s for s in body["steps"] if s["step"] == "update_costs")
    assert step["status"] == "degraded" and "reconnect your accounting system" in step["error"]
    assert body["accounting"]["status"] == "reconnect_needed"
    assert body["accounting"]["match_counts"]["matched"] == 2  # the last good read's report


def test_a_shop_without_books_is_costed_as_before(standin: ApideckStandIn) -> None:
    shop_id, domain, ids = new_shop()
    summary = run_update_costs(domain, shop_id)
    assert summary["status"] == "ok" and summary["counts"]["accounting"] == "not_connected"
    assert standin.requests == []
    with transaction() as conn:
        assert effective_costs(conn, shop_id)[ids["mug1"]] == (Decimal("3.0000"), "shopify")


def test_connecting_checks_what_it_is_given(db) -> None:
    shop_id, _, _ = new_shop()
    with transaction() as conn:
        with pytest.raises(ValueError, match="service must be one of quickbooks, xero"):
            connect_accounting(conn, shop_id, "sage", "c-1", books_currency="GBP")
        with pytest.raises(ValueError, match="consumer id"):
            connect_accounting(conn, shop_id, "xero", "bad id with spaces", books_currency="GBP")
        with pytest.raises(ValueError, match="three-letter"):
            connect_accounting(conn, shop_id, "xero", "c-1", books_currency="pounds")


def test_the_api_key_never_reaches_the_database_or_the_logs(standin: ApideckStandIn, logs) -> None:
    from tests.conftest import columns_holding

    shop_id, domain, _ = new_shop()
    standin.add_consumer("consumer-d", "quickbooks", BOOKS).state = "token_expired"
    with transaction() as conn:
        connect_accounting(conn, shop_id, "quickbooks", "consumer-d", books_currency="GBP")
    run_update_costs(domain, shop_id)
    assert columns_holding([KEY]) == []
    assert not [line for line in logs if KEY in line]


def test_the_briefing_names_what_the_books_could_not_give(standin: ApideckStandIn) -> None:
    from shared.briefing.page_data import page_view

    shop_id, domain, _ = new_shop()
    consumer = standin.add_consumer("consumer-e", "xero", BOOKS)
    with transaction() as conn:
        connect_accounting(conn, shop_id, "xero", "consumer-e", books_currency="GBP")
    run_id = run_update_costs(domain, shop_id)["run_id"]
    with transaction() as conn:
        note = next(n for n in page_view(conn, domain, run_id, video_url=None).degraded if n.source == "accounting costs")
    assert note.detail == ("of 8 Xero items 2 gave a cost; 1 matched no variant, 3 were ambiguous (several variants "
                           "or items), 1 were in another currency, 1 had no purchase price")
    consumer.state = "token_expired"
    run_id = run_update_costs(domain, shop_id)["run_id"]
    with transaction() as conn:
        notes = page_view(conn, domain, run_id, video_url=None).degraded
    assert any(n.source == "accounting costs" and n.detail.startswith("reconnect your accounting system (Xero)")
               for n in notes)


def test_books_that_stay_busy_leave_fresh_shopify_costs_and_a_retryable_failure(standin: ApideckStandIn, monkeypatch) -> None:
    from shared.accounting.apideck import ApideckRateLimitedError
    from shared.settings import get_settings

    shop_id, domain, ids = new_shop()
    standin.add_consumer("consumer-f", "quickbooks", BOOKS)
    standin.throttle_next(50, retry_after=0)
    monkeypatch.setenv("APIDECK_MAX_ATTEMPTS", "2")
    get_settings.cache_clear()
    with transaction() as conn:
        connect_accounting(conn, shop_id, "quickbooks", "consumer-f", books_currency="GBP")
        conn.execute("UPDATE variants SET shopify_unit_cost = 3.33 WHERE id = %s", (ids["mug1"],))
    with pytest.raises(ApideckRateLimitedError):  # raised again for Durable to retry the step
        run_update_costs(domain, shop_id)
    with transaction() as conn:
        shopify = conn.execute("SELECT cost FROM unit_costs WHERE variant_id = %s AND source = 'shopify'",
                               (ids["mug1"],)).fetchone()
    assert shopify["cost"] == Decimal("3.3300")
