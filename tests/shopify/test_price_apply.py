"""Approve -> apply -> revert against the Shopify emulator, through the real Admin API client over HTTP."""

from __future__ import annotations

import asyncio
import itertools
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from shared.db import price_changes, runs
from shared.db.pool import transaction
from shared.local.sample_store import generate_store
from shared.local.shopify_emulator import ShopifyEmulator
from shared.settings import get_settings
from shared.shopify import sync
from shared.shopify.admin_api import AdminApiClient
from shared.shopify.price_apply import PriceApplyDisabledError, apply_approved, revert_last
from shared.shopify.price_updates import live_prices, set_prices

TOKEN = "shpat_price_apply_test_token"
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def store():
    return generate_store(n_products=6, as_of=date(2026, 11, 28))


@pytest.fixture()
def shop(db, store, restore_environment, monkeypatch):
    """A synced shop with one run of recommendations: (emulator, domain, shop id, run id, variants by key)."""
    domain = f"apply-{next(_numbers)}.myshopify.com"
    with transaction() as conn:
        shop_id = conn.execute("INSERT INTO shops (domain, name, currency) VALUES (%s, 'Apply', 'GBP') RETURNING id",
                               (domain,)).fetchone()["id"]
    with ShopifyEmulator() as emulator:
        emulator.add_shop(store, TOKEN, domain=domain)

        async def first_sync():
            async with AdminApiClient(domain, TOKEN, base_url_template=emulator.admin_base_url_template) as client:
                await sync.sync_shop(shop_id, domain, client, now=store.as_of)

        asyncio.run(first_sync())
        run_id = f"daily-{domain}-{next(_numbers)}"
        with transaction() as conn:
            runs.start_run(conn, run_id, shop_id, "test", datetime.now(timezone.utc))
            variants = conn.execute(
                """SELECT v.id, v.shopify_id, v.sku, v.price, p.shopify_id AS product FROM variants v
                   JOIN products p ON p.id = v.product_id WHERE v.shop_id = %s ORDER BY p.shopify_id, v.id""",
                (shop_id,)).fetchall()
            by_product: dict[str, list[dict]] = {}
            for v in variants:
                by_product.setdefault(v["product"], []).append(v)
            two = next(vs for vs in by_product.values() if len(vs) >= 2)
            one = next(vs for vs in by_product.values() if vs is not two)
            chosen = {"a": two[0], "b": two[1], "c": one[0]}
            for v in variants:  # every variant gets a recommendation; three of them a change
                new = v["price"] + Decimal("1.00") if v in chosen.values() else v["price"]
                conn.execute(
                    """INSERT INTO recommendations (run_id, variant_id, current_price, recommended_price, explanation)
                       VALUES (%s, %s, %s, %s, 'test')""", (run_id, v["id"], v["price"], new))
        monkeypatch.setenv("PRICING_APPLY_APPROVED", "true")
        get_settings.cache_clear()
        yield emulator, domain, shop_id, run_id, chosen


def go(emulator: ShopifyEmulator, domain: str, work):
    async def run():
        async with AdminApiClient(domain, TOKEN, base_url_template=emulator.admin_base_url_template) as client:
            return await work(client)

    return asyncio.run(run())


def prices_in_shopify(emulator, domain, variants) -> dict[str, Decimal]:
    return go(emulator, domain, lambda client: live_prices(client, [v["shopify_id"] for v in variants]))


def mutations(emulator, domain) -> int:
    return sum(1 for r in emulator.records(domain) if r.operation_name == "SetVariantPrices")


def test_suggest_only_by_default_writes_nothing(shop, monkeypatch) -> None:
    emulator, domain, shop_id, run_id, chosen = shop
    monkeypatch.delenv("PRICING_APPLY_APPROVED")
    get_settings.cache_clear()
    with transaction() as conn:
        price_changes.decide(conn, shop_id, run_id, "approved", "test", everything=True)
    with pytest.raises(PriceApplyDisabledError, match="PRICING_APPLY_APPROVED"):
        go(emulator, domain, lambda c: apply_approved(domain, c, applied_by="test", how="test"))
    assert mutations(emulator, domain) == 0
    assert prices_in_shopify(emulator, domain, chosen.values()) == {v["shopify_id"]: v["price"] for v in chosen.values()}


def test_approve_apply_revert_round_trip_with_an_audit_log(shop) -> None:
    emulator, domain, shop_id, run_id, chosen = shop
    before = {v["shopify_id"]: v["price"] for v in chosen.values()}
    with transaction() as conn:
        result = price_changes.decide(conn, shop_id, run_id, "approved", "ana@shop", everything=True)
    assert result.decided == 3 and result.not_found == []

    report = go(emulator, domain, lambda c: apply_approved(domain, c, applied_by="ana@shop", how="cli"))

    assert (report.status, report.applied, report.failed, report.skipped) == ("done", 3, 0, 0)
    after = prices_in_shopify(emulator, domain, chosen.values())
    assert after == {gid: price + Decimal("1.00") for gid, price in before.items()}
    assert mutations(emulator, domain) == 2  # grouped per product: two products
    with transaction() as conn:
        log = price_changes.audit_log(conn, shop_id)
        ours = conn.execute("SELECT shopify_id, price FROM variants WHERE shop_id = %s AND shopify_id = ANY(%s)",
                            (shop_id, list(before))).fetchall()
    assert {(r["variant_shopify_id"], r["old_price"], r["new_price"], r["result"], r["run_id"], r["applied_by"], r["how"])
            for r in log} == {(gid, old, old + 1, "applied", run_id, "ana@shop", "cli") for gid, old in before.items()}
    assert {r["shopify_id"]: r["price"] for r in ours} == after  # our copy follows

    # Applying again does not apply twice.
    again = go(emulator, domain, lambda c: apply_approved(domain, c, applied_by="ana@shop", how="cli"))
    assert (again.status, again.already_applied) == ("nothing_to_do", 3)
    assert mutations(emulator, domain) == 2

    # One step back.
    undo = go(emulator, domain, lambda c: revert_last(domain, c, applied_by="ana@shop", how="cli"))
    assert (undo.status, undo.applied) == ("done", 3)
    assert prices_in_shopify(emulator, domain, chosen.values()) == before
    with transaction() as conn:
        log = price_changes.audit_log(conn, shop_id)
    reverts = [r for r in log if r["action"] == "revert"]
    assert {(r["variant_shopify_id"], r["old_price"], r["new_price"], r["result"]) for r in reverts} == {
        (gid, old + 1, old, "applied") for gid, old in before.items()}
    assert {r["reverts_batch_id"] for r in reverts} == {report.batch_id}
    nothing = go(emulator, domain, lambda c: revert_last(domain, c, applied_by="ana@shop", how="cli"))
    assert nothing.status == "nothing_to_do"
    # And the reverted run's approvals are not applied a second time.
    assert go(emulator, domain, lambda c: apply_approved(domain, c, applied_by="x", how="cli")).status == "nothing_to_do"


def test_only_approved_are_applied_and_a_merchants_own_change_wins(shop) -> None:
    emulator, domain, shop_id, run_id, chosen = shop
    with transaction() as conn:
        price_changes.decide(conn, shop_id, run_id, "approved", "ana", skus=[chosen["a"]["sku"], chosen["c"]["sku"]])
        price_changes.decide(conn, shop_id, run_id, "rejected", "ana", skus=[chosen["b"]["sku"]])
        unknown = price_changes.decide(conn, shop_id, run_id, "approved", "ana", skus=["NO-SUCH-SKU"])
    assert unknown.not_found == ["NO-SUCH-SKU"] and unknown.decided == 0
    # The merchant sets c by hand after the recommendation was made.
    c = chosen["c"]
    go(emulator, domain, lambda client: set_prices(client, c["product"], [(c["shopify_id"], Decimal("77.70"))]))

    report = go(emulator, domain, lambda client: apply_approved(domain, client, applied_by="ana", how="http"))

    assert (report.applied, report.skipped) == (1, 1)
    skipped = next(ch for ch in report.changes if ch["result"] == "skipped")
    assert skipped["variant"] == c["shopify_id"] and "changed in Shopify since the recommendation" in skipped["detail"]
    now = prices_in_shopify(emulator, domain, chosen.values())
    assert now[chosen["a"]["shopify_id"]] == chosen["a"]["price"] + 1
    assert now[chosen["b"]["shopify_id"]] == chosen["b"]["price"]  # rejected: untouched
    assert now[c["shopify_id"]] == Decimal("77.70")


def test_shopify_user_errors_are_recorded_and_nothing_of_that_product_is_half_written(shop) -> None:
    emulator, domain, shop_id, run_id, chosen = shop
    a, b = chosen["a"], chosen["b"]
    with transaction() as conn:
        conn.execute("UPDATE recommendations SET recommended_price = -1.00 WHERE run_id = %s AND variant_id = %s",
                     (run_id, a["id"]))
        price_changes.decide(conn, shop_id, run_id, "approved", "ana", variant_ids=[a["id"], b["id"]])

    report = go(emulator, domain, lambda client: apply_approved(domain, client, applied_by="ana", how="cli"))

    assert (report.status, report.failed, report.applied) == ("failed", 2, 0)
    details = {ch["variant"]: ch["detail"] for ch in report.changes}
    assert details[a["shopify_id"]].startswith("GREATER_THAN_OR_EQUAL_TO")
    assert "all or nothing" in details[b["shopify_id"]]
    assert prices_in_shopify(emulator, domain, [a, b]) == {a["shopify_id"]: a["price"], b["shopify_id"]: b["price"]}
    with transaction() as conn:
        assert price_changes.last_revertible_batch(conn, shop_id, None) is None  # nothing applied, nothing to revert


def test_revert_leaves_a_price_changed_after_the_apply(shop) -> None:
    emulator, domain, shop_id, run_id, chosen = shop
    with transaction() as conn:
        price_changes.decide(conn, shop_id, run_id, "approved", "ana", everything=True)
    go(emulator, domain, lambda client: apply_approved(domain, client, applied_by="ana", how="cli"))
    a = chosen["a"]
    go(emulator, domain, lambda client: set_prices(client, a["product"], [(a["shopify_id"], Decimal("55.55"))]))

    undo = go(emulator, domain, lambda client: revert_last(domain, client, run_id=run_id, applied_by="ana", how="cli"))

    assert (undo.applied, undo.skipped) == (2, 1)
    now = prices_in_shopify(emulator, domain, chosen.values())
    assert now[a["shopify_id"]] == Decimal("55.55")
    assert now[chosen["c"]["shopify_id"]] == chosen["c"]["price"]


# --- the HTTP routes and the command line ------------------------------------------------------------


def install_token(domain: str) -> None:
    from shared.db.shop_tokens import install_tokens
    from shared.shopify.token_endpoint import TokenGrant
    from shared.shopify.tokens import seal_grant, token_cipher

    now = datetime.now(timezone.utc)
    grant = TokenGrant(access_token=TOKEN, scope="read_products,write_products")
    with transaction() as conn:
        install_tokens(conn, domain, seal_grant(token_cipher(), domain, grant, now), now=now)


def request(domain: str, path: str, body: dict | bytes | None = None):
    import json

    import azure.functions as func

    raw = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
    return func.HttpRequest(method="POST", url=f"http://127.0.0.1/api/shops/{domain}/{path}", body=raw,
                            route_params={"shop": domain})


def test_the_http_routes_approve_apply_and_revert(shop, monkeypatch) -> None:
    import json

    from shared.shopify import price_endpoints

    emulator, domain, shop_id, run_id, chosen = shop
    install_token(domain)
    monkeypatch.setenv("SHOPIFY_ADMIN_BASE_URL", emulator.admin_base_url_template)
    get_settings.cache_clear()

    bad = price_endpoints.approve(request(domain, "recommendations/approve", {"skus": "A-1", "colour": "red"}), domain)
    assert bad.status_code == 422
    assert {p["field"] for p in json.loads(bad.get_body())["problems"]} == {"skus", "colour"}
    unknown = price_endpoints.approve(request(domain, "recommendations/approve", {"skus": ["NOPE"]}), domain)
    assert unknown.status_code == 422 and json.loads(unknown.get_body())["not_found"] == ["NOPE"]
    ok = price_endpoints.approve(request(domain, "recommendations/approve", {"all": True, "by": "ana"}), domain)
    assert ok.status_code == 200 and json.loads(ok.get_body())["decided"] == 3

    monkeypatch.setenv("PRICING_APPLY_APPROVED", "false")
    get_settings.cache_clear()
    refused = asyncio.run(price_endpoints.apply(request(domain, "recommendations/apply"), domain))
    assert refused.status_code == 409 and mutations(emulator, domain) == 0

    monkeypatch.setenv("PRICING_APPLY_APPROVED", "true")
    get_settings.cache_clear()
    applied = asyncio.run(price_endpoints.apply(request(domain, "recommendations/apply", {"by": "ana"}), domain))
    assert applied.status_code == 200 and json.loads(applied.get_body())["applied"] == 3
    log = json.loads(price_endpoints.changes(domain).get_body())["changes"]
    assert {(c["result"], c["how"], c["applied_by"]) for c in log} == {("applied", "http", "ana")}

    reverted = asyncio.run(price_endpoints.revert(request(domain, "prices/revert"), domain))
    assert reverted.status_code == 200 and json.loads(reverted.get_body())["applied"] == 3
    assert prices_in_shopify(emulator, domain, chosen.values()) == {v["shopify_id"]: v["price"] for v in chosen.values()}


def test_the_command_line_approves_applies_and_reverts(shop, monkeypatch, capsys) -> None:
    from shared.cli import main

    emulator, domain, shop_id, run_id, chosen = shop
    install_token(domain)
    monkeypatch.setenv("SHOPIFY_ADMIN_BASE_URL", emulator.admin_base_url_template)
    get_settings.cache_clear()
    a = chosen["a"]

    assert main(["approve", "--shop", domain, "--sku", a["sku"], "--by", "ana"]) == 0
    assert f"1 recommendation(s) of run {run_id} approved" in capsys.readouterr().out
    assert main(["apply-prices", "--shop", domain, "--by", "ana"]) == 0
    assert "applied 1, failed 0" in capsys.readouterr().out
    assert prices_in_shopify(emulator, domain, [a])[a["shopify_id"]] == a["price"] + 1
    assert main(["revert-prices", "--shop", domain, "--run", run_id]) == 0
    assert "revert batch" in capsys.readouterr().out
    assert prices_in_shopify(emulator, domain, [a])[a["shopify_id"]] == a["price"]
    assert main(["revert-prices", "--shop", domain]) == 0
    assert "nothing_to_do" in capsys.readouterr().out


def test_without_write_products_the_batch_fails_cleanly_and_can_be_retried(shop, monkeypatch) -> None:
    import json

    from shared.shopify import price_endpoints

    emulator, domain, shop_id, run_id, chosen = shop
    install_token(domain)
    monkeypatch.setenv("SHOPIFY_ADMIN_BASE_URL", emulator.admin_base_url_template)
    get_settings.cache_clear()
    with transaction() as conn:
        price_changes.decide(conn, shop_id, run_id, "approved", "ana", everything=True)
    emulator.shop(domain).data.granted_scopes = frozenset({"read_products"})

    refused = asyncio.run(price_endpoints.apply(request(domain, "recommendations/apply"), domain))

    assert refused.status_code == 409 and "write_products" in json.loads(refused.get_body())["error"]
    with transaction() as conn:
        batches = conn.execute("SELECT action, status FROM price_change_batches WHERE shop_id = %s", (shop_id,)).fetchall()
    assert [(b["action"], b["status"]) for b in batches] == [("apply", "failed")]
    emulator.shop(domain).data.granted_scopes = None
    applied = asyncio.run(price_endpoints.apply(request(domain, "recommendations/apply"), domain))
    assert applied.status_code == 200 and json.loads(applied.get_body())["applied"] == 3


def test_a_batch_cut_short_keeps_what_it_wrote_in_the_log_and_can_be_reverted(shop) -> None:
    from shared.shopify.admin_api import ShopifyUnavailableError

    emulator, domain, shop_id, run_id, chosen = shop
    with transaction() as conn:
        price_changes.decide(conn, shop_id, run_id, "approved", "ana", everything=True)

    class DiesAfterFirstProduct(AdminApiClient):
        calls = 0

        async def execute(self, *args, **kwargs):
            DiesAfterFirstProduct.calls += 1
            if DiesAfterFirstProduct.calls == 3:  # live prices, product 1, then Shopify goes down
                emulator.faults.inject(503, count=10, shop=domain)
            return await super().execute(*args, **kwargs)

    async def apply_then_die():
        async def no_wait(seconds: float) -> None:
            return None

        async with DiesAfterFirstProduct(domain, TOKEN, base_url_template=emulator.admin_base_url_template,
                                         max_attempts=2, sleep=no_wait) as client:
            return await apply_approved(domain, client, applied_by="ana", how="cli")

    with pytest.raises(ShopifyUnavailableError):
        asyncio.run(apply_then_die())
    emulator.faults.clear()
    with transaction() as conn:
        batch = conn.execute("SELECT id, status FROM price_change_batches WHERE shop_id = %s", (shop_id,)).fetchone()
        logged = price_changes.audit_log(conn, shop_id)
    assert batch["status"] == "partial"
    first_product = min(v["product"] for v in chosen.values())  # products are written in id order
    first = {v["shopify_id"] for v in chosen.values() if v["product"] == first_product}
    rest = [v for v in chosen.values() if v["product"] != first_product]
    written = {r["variant_shopify_id"] for r in logged if r["result"] == "applied"}
    assert written == first
    assert prices_in_shopify(emulator, domain, rest) == {v["shopify_id"]: v["price"] for v in rest}

    # Applying again finishes the job without touching what is done; revert then undoes batch by batch.
    again = go(emulator, domain, lambda client: apply_approved(domain, client, applied_by="ana", how="cli"))
    assert (again.applied, again.already_applied) == (len(rest), len(first))
    assert go(emulator, domain, lambda client: revert_last(domain, client, applied_by="ana", how="cli")).applied == len(rest)
    assert go(emulator, domain, lambda client: revert_last(domain, client, applied_by="ana", how="cli")).applied == len(first)
    assert prices_in_shopify(emulator, domain, chosen.values()) == {v["shopify_id"]: v["price"] for v in chosen.values()}
