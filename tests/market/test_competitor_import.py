"""Competitor CSV import: checked whole, written all or nothing, over HTTP (function key) and the CLI."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from shared.db.pool import transaction
from shared.market.competitor_csv import CompetitorCsvError, parse_competitor_csv
from shared.market.competitor_import import http_import, import_competitor_csv

pytestmark = pytest.mark.usefixtures("db")

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def shop() -> str:
    """An installed shop with three variants: MUG-1, MUG-2, BOARD-1 (and two variants sharing TWIN)."""
    domain = f"comp-{uuid.uuid4().hex[:10]}.myshopify.com"
    with transaction() as conn:
        shop_id = conn.execute("INSERT INTO shops (domain, currency) VALUES (%s, 'EUR') RETURNING id",
                               (domain,)).fetchone()["id"]
        product = conn.execute("INSERT INTO products (shop_id, shopify_id, title) VALUES (%s, 'p1', 'Mug') RETURNING id",
                               (shop_id,)).fetchone()["id"]
        for n, sku in enumerate(["MUG-1", "MUG-2", "BOARD-1", "TWIN", "TWIN"]):
            conn.execute("INSERT INTO variants (shop_id, product_id, shopify_id, sku, price) VALUES (%s, %s, %s, %s, 10)",
                         (shop_id, product, f"v{n}", sku))
    return domain


def snapshot(domain: str) -> dict[str, list]:
    with transaction() as conn:
        shop_id = conn.execute("SELECT id FROM shops WHERE domain = %s", (domain,)).fetchone()["id"]
        return {
            "competitors": conn.execute(
                "SELECT name, domain, currency, fetch_tier, price_selector FROM competitors WHERE shop_id = %s ORDER BY name",
                (shop_id,)).fetchall(),
            "urls": conn.execute(
                """SELECT c.name, v.sku, cu.url, cu.match_status, cu.match_method FROM competitor_urls cu
                   JOIN competitors c ON c.id = cu.competitor_id JOIN variants v ON v.id = cu.variant_id
                   WHERE c.shop_id = %s ORDER BY c.name, v.sku""", (shop_id,)).fetchall(),
            "pages": conn.execute(
                """SELECT c.name, m.url, m.status FROM competitor_page_matches m JOIN competitors c ON c.id = m.competitor_id
                   WHERE c.shop_id = %s ORDER BY m.url""", (shop_id,)).fetchall(),
        }


GOOD = (
    "\ufeffsku,competitor,url,currency,fetch_tier,price_selector\n"
    "MUG-1,Acme,https://www.acme.example/p/mug-1,gbp,js,.price-now\n"
    "mug-2,Acme,https://shop.acme.example/p/mug-2,,,\n"
    "MUG-1,Bolt,https://bolt.example/mug,,,\n"
    ",Bolt,https://bolt.example/unknown-board,,,\n"
    "MUG-1,Bolt,https://bolt.example/mug,,,\n"  # the same line again
    ",,,,,\n"
).encode()


def test_a_good_file_creates_competitors_confirmed_links_and_pages_to_match(shop):
    result = import_competitor_csv(shop, GOOD)
    assert result.counts.model_dump() == {"competitors_created": 2, "competitors_updated": 0, "urls_linked": 3,
                                          "pages_to_match": 1, "duplicate_rows": 1}
    state = snapshot(shop)
    assert state["competitors"] == [
        {"name": "Acme", "domain": "acme.example", "currency": "GBP", "fetch_tier": "js", "price_selector": ".price-now"},
        {"name": "Bolt", "domain": "bolt.example", "currency": "EUR", "fetch_tier": "standard", "price_selector": None},
    ]
    assert [(r["name"], r["sku"], r["match_status"], r["match_method"]) for r in state["urls"]] == [
        ("Acme", "MUG-1", "confirmed", "csv"), ("Acme", "MUG-2", "confirmed", "csv"), ("Bolt", "MUG-1", "confirmed", "csv")]
    assert [(r["name"], r["url"], r["status"]) for r in state["pages"]] == [
        ("Bolt", "https://bolt.example/unknown-board", "pending")]


def test_reimporting_is_idempotent_and_empty_settings_keep_stored_ones(shop):
    import_competitor_csv(shop, GOOD)
    first = snapshot(shop)
    again = import_competitor_csv(shop, b"sku,competitor,url\nMUG-1,Acme,https://acme.example/p/mug-1-new\n")
    assert again.counts.competitors_updated == 1 and again.counts.competitors_created == 0
    state = snapshot(shop)
    assert state["competitors"] == first["competitors"]  # tier, currency and selector kept
    assert len(state["urls"]) == 3
    assert next(r["url"] for r in state["urls"] if (r["name"], r["sku"]) == ("Acme", "MUG-1")) == \
        "https://acme.example/p/mug-1-new"


def test_every_bad_row_is_named_and_nothing_is_written(shop):
    import_competitor_csv(shop, GOOD)
    before = snapshot(shop)
    bad = (
        "sku,competitor,url,currency,fetch_tier,price_selector\n"
        "MUG-1,Acme,ftp://acme.example/p,,,\n"                 # row 2: scheme
        "MUG-2,Acme,https://acme.example/p/2,EURO,turbo,\n"    # row 3: currency and tier
        "MUG-1,Cargo,https://cargo.example/p,,,.price\n"
        "MUG-2,Cargo,https://elsewhere.example/p,,,\n"         # row 5: another site than row 4's
        "MUG-1,Delta,https://delta.example/a,USD,,\n"
        "MUG-2,Delta,https://delta.example/b,GBP,,\n"          # row 7: currency differs from row 6
        "MUG-1,Delta,https://delta.example/c,,,\n"             # row 8: second URL for one SKU
        ",,https://x.example/a,,,\n"                           # row 9: no competitor
        "MUG-1,Echo,https://user:pw@echo.example/p,,,\n"       # row 10: credentials
        "a,b,c,d,e,f,g\n"                                      # row 11: too many cells
        "MUG-2,Foxtrot,https://fox.example/p,,,div >\n"        # row 12: selector
    ).encode()
    with pytest.raises(CompetitorCsvError) as caught:
        import_competitor_csv(shop, bad)
    found = {(p.row, p.column) for p in caught.value.problems}
    assert found == {(2, "url"), (3, "currency"), (3, "fetch_tier"), (5, "url"), (7, "currency"), (8, "url"),
                     (9, "competitor"), (10, "url"), (11, None), (12, "price_selector")}
    assert snapshot(shop) == before


def test_unknown_and_ambiguous_skus_are_row_problems_and_roll_everything_back(shop):
    before = snapshot(shop)
    data = b"sku,competitor,url\nMUG-1,Fresh,https://fresh.example/1\nNOPE,Fresh,https://fresh.example/2\nTWIN,Fresh,https://fresh.example/3\n"
    with pytest.raises(CompetitorCsvError) as caught:
        import_competitor_csv(shop, data)
    problems = {(p.row, p.column): p.reason for p in caught.value.problems}
    assert set(problems) == {(3, "sku"), (4, "sku")}
    assert "no variant with SKU 'NOPE'" in problems[(3, "sku")] and "2 variants share" in problems[(4, "sku")]
    assert snapshot(shop) == before  # not even the competitor "Fresh"


@pytest.mark.parametrize(("data", "row", "column"), [
    (b"", 1, None),
    (b"sku,url\nA,https://a.example/\n", 1, "competitor"),
    (b"sku,competitor,url,colour\nA,B,https://a.example/\n", 1, "colour"),
    (b"sku,competitor,url\n", 2, None),
    (b"sku,competitor,url\n\xff\xfe,B,https://a.example/\n", 0, None),
])
def test_file_level_problems(data, row, column):
    with pytest.raises(CompetitorCsvError) as caught:
        parse_competitor_csv(data, max_bytes=10_000)
    assert (caught.value.problems[0].row, caught.value.problems[0].column) == (row, column)


def test_http_answers_with_counts_or_every_problem(shop):
    ok = http_import(shop, b"sku,competitor,url\nMUG-1,Acme,https://acme.example/1\n")
    assert ok.status_code == 200 and json.loads(ok.get_body())["urls_linked"] == 1
    bad = http_import(shop, b"sku,competitor,url\nMUG-1,Acme,nonsense\nNOPE,Acme,https://acme.example/2\n")
    body = json.loads(bad.get_body())
    assert bad.status_code == 422 and "nothing was changed" in body["error"]
    assert [(p["row"], p["column"]) for p in body["problems"]] == [(2, "url")]
    assert http_import("nobody-here.myshopify.com", b"sku,competitor,url\nA,B,https://b.example/\n").status_code == 404
    assert http_import("evil.example.com", b"sku,competitor,url\nA,B,https://b.example/\n").status_code == 400
    big = b"sku,competitor,url\n" + b"A,B,https://b.example/\n" * 300_000
    assert http_import(shop, big).status_code == 413


def test_the_route_needs_the_function_key(shop):
    import function_app
    from shared.local.http_host import LocalFunctionsHost

    with LocalFunctionsHost(function_app.app, None, host_json=REPO_ROOT / "host.json", function_keys=["k-123"]) as host:
        url = f"{host.base_url}/api/shops/{shop}/competitors"
        body = b"sku,competitor,url\nMUG-2,Acme,https://acme.example/2\n"

        def post(headers):
            request = urllib.request.Request(url, data=body, method="POST", headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return response.status, json.loads(response.read())
            except urllib.error.HTTPError as error:
                return error.code, None

        assert post({})[0] == 401
        status, answer = post({"x-functions-key": "k-123", "Content-Type": "text/csv"})
    assert status == 200 and answer["urls_linked"] == 1


def test_the_command_line_imports_or_lists_every_problem(shop, tmp_path, capsys):
    from shared.cli import main

    good = tmp_path / "competitors.csv"
    good.write_bytes(GOOD)
    assert main(["import-competitors", str(good), "--shop", shop]) == 0
    assert "urls_linked=3" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"sku,competitor,url\nNOPE,Acme,https://acme.example/9\n")
    assert main(["import-competitors", str(bad), "--shop", shop]) == 1
    assert "row 2, column sku: the shop has no variant with SKU 'NOPE'" in capsys.readouterr().err
