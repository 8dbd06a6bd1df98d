"""The CSV fallback: Shopify's export and the minimal format, BOM, every problem by row and column,
all or nothing, the size limit, and the HTTP and command-line doors."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
from decimal import Decimal

import pytest

from shared.db.pool import transaction
from shared.settings import get_settings
from shared.shopify.catalog_csv import CatalogCsvError, CatalogTooLargeError, parse_catalog_csv
from shared.shopify.catalog_import import http_import, import_catalog_csv

SHOPIFY_HEADER = [
    "Handle", "Title", "Body (HTML)", "Vendor", "Product Category", "Type", "Tags", "Published",
    "Option1 Name", "Option1 Value", "Option1 Linked To", "Option2 Name", "Option2 Value", "Option2 Linked To",
    "Option3 Name", "Option3 Value", "Option3 Linked To", "Variant SKU", "Variant Grams", "Variant Inventory Tracker",
    "Variant Inventory Qty", "Variant Inventory Policy", "Variant Fulfillment Service", "Variant Price",
    "Variant Compare At Price", "Variant Requires Shipping", "Variant Taxable", "Variant Barcode", "Image Src",
    "Image Position", "Image Alt Text", "Gift Card", "SEO Title", "SEO Description", "Variant Image",
    "Variant Weight Unit", "Variant Tax Code", "Cost per item", "Status",
]
_domains = itertools.count(1)


def shopify_csv(rows: list[dict[str, str]], bom: bool = True) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=SHOPIFY_HEADER, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return (codecs.BOM_UTF8 if bom else b"") + out.getvalue().encode("utf-8")


EXPORT = [
    {"Handle": "fig-cassis-candle", "Title": "Fig & Cassis Candle",
     "Body (HTML)": "<p>Hand-poured, soy wax.</p>\n<p>Burns for 40 hours, \"slowly\".</p>", "Vendor": "Wick & Ember",
     "Type": "Candles", "Status": "active", "Option1 Name": "Size", "Option1 Value": "Small 120g",
     "Variant SKU": "CAN-FIG-S", "Variant Inventory Qty": "12", "Variant Price": "12.99", "Cost per item": "3.9000",
     "Image Src": "https://cdn.example/fig.jpg"},
    {"Handle": "fig-cassis-candle", "Option1 Value": "Medium 220g", "Variant SKU": "CAN-FIG-M",
     "Variant Inventory Qty": "-2", "Variant Price": "18.50", "Variant Compare At Price": "21.00", "Cost per item": "5.2"},
    {"Handle": "fig-cassis-candle", "Image Src": "https://cdn.example/fig-2.jpg", "Image Position": "2"},  # image only
    {"Handle": "fig-cassis-candle", "Option1 Value": "Large 400g", "Variant SKU": "CAN-FIG-L", "Variant Price": "26.00"},
    {"Handle": "linen-throw", "Title": "Linen Throw, Oat", "Vendor": "Loom & Lark", "Type": "Throws", "Status": "draft",
     "Option1 Name": "Title", "Option1 Value": "Default Title", "Variant Price": "64.00", "Cost per item": "27.50"},
]


@pytest.fixture()
def shop(db) -> str:
    domain = f"csv-import-{next(_domains)}.myshopify.com"
    with transaction() as conn:
        conn.execute("INSERT INTO shops (domain, name, currency) VALUES (%s, 'CSV test', 'GBP')", (domain,))
    return domain


def catalogue_of(domain: str) -> dict:
    with transaction() as conn:
        return {
            "products": sorted(tuple(r.values()) for r in conn.execute(
                """SELECT p.shopify_id, p.title, p.handle, p.product_type, p.vendor, p.status FROM products p
                   JOIN shops s ON s.id = p.shop_id WHERE s.domain = %s""", (domain,))),
            "variants": sorted((tuple(r.values()) for r in conn.execute(
                """SELECT v.shopify_id, v.sku, v.title, v.price, v.compare_at_price, v.inventory_quantity FROM variants v
                   JOIN shops s ON s.id = v.shop_id WHERE s.domain = %s""", (domain,))), key=repr),
            "costs": sorted((tuple(r.values()) for r in conn.execute(
                """SELECT v.sku, u.source, u.cost, u.currency FROM unit_costs u JOIN variants v ON v.id = u.variant_id
                   JOIN shops s ON s.id = u.shop_id WHERE s.domain = %s""", (domain,))), key=repr),
        }


def problems_of(data: bytes, max_bytes: int = 1_000_000) -> set[tuple[int, str | None, str]]:
    with pytest.raises(CatalogCsvError) as caught:
        parse_catalog_csv(data, max_bytes=max_bytes)
    return {(p.row, p.column, p.reason) for p in caught.value.problems}


def has(problems: set, row: int, column: str | None, fragment: str) -> bool:
    return any(r == row and c == column and fragment in reason for r, c, reason in problems)


# --- the two formats ------------------------------------------------------------------------------------


def test_shopify_export_with_continuation_rows_bom_and_a_multiline_description(shop) -> None:
    result = import_catalog_csv(shop, shopify_csv(EXPORT))
    assert result.format.value == "shopify" and result.skipped_rows == 1
    counts = result.counts
    assert (counts.rows, counts.products_created, counts.variants_created, counts.unit_costs) == (4, 2, 4, 3)
    stored = catalogue_of(shop)
    assert stored["products"] == [
        ("csv:fig-cassis-candle", "Fig & Cassis Candle", "fig-cassis-candle", "Candles", "Wick & Ember", "ACTIVE"),
        ("csv:linen-throw", "Linen Throw, Oat", "linen-throw", "Throws", "Loom & Lark", "DRAFT"),
    ]
    assert stored["variants"] == [
        ("csv:linen-throw:Default Title//", None, "Default Title", Decimal("64.00"), None, None),
        ("csv:sku:CAN-FIG-L", "CAN-FIG-L", "Large 400g", Decimal("26.00"), None, None),
        ("csv:sku:CAN-FIG-M", "CAN-FIG-M", "Medium 220g", Decimal("18.50"), Decimal("21.00"), -2),
        ("csv:sku:CAN-FIG-S", "CAN-FIG-S", "Small 120g", Decimal("12.99"), None, 12),
    ]
    assert stored["costs"] == [("CAN-FIG-M", "csv", Decimal("5.2000"), "GBP"), ("CAN-FIG-S", "csv", Decimal("3.9000"), "GBP"),
                               (None, "csv", Decimal("27.5000"), "GBP")]
    again = import_catalog_csv(shop, shopify_csv(EXPORT, bom=False)).counts  # idempotent on the natural keys
    assert (again.products_created, again.products_updated, again.variants_created, again.variants_updated) == (0, 2, 0, 4)
    assert catalogue_of(shop) == stored


@pytest.mark.parametrize("bom", [True, False])
def test_minimal_format_in_any_column_order_with_or_without_bom(shop, bom) -> None:
    body = "title,sku,price,inventory,cost\r\nSpeckled Mug,MUG-001,12.00,7,4.1\nOak Board,KIT-002,30,,\n"
    data = (codecs.BOM_UTF8 if bom else b"") + body.encode()
    result = import_catalog_csv(shop, data)
    assert result.format.value == "minimal" and result.counts.variants_created == 2
    stored = catalogue_of(shop)
    assert [(v[1], v[3], v[5]) for v in stored["variants"]] == [("KIT-002", Decimal("30.00"), None),
                                                                ("MUG-001", Decimal("12.00"), 7)]
    assert stored["costs"] == [("MUG-001", "csv", Decimal("4.1000"), "GBP")]
    assert [p[1] for p in stored["products"]] == ["Oak Board", "Speckled Mug"]


def test_a_sku_the_shop_already_has_updates_that_variant_instead_of_adding_one(shop) -> None:
    with transaction() as conn:
        shop_id = conn.execute("SELECT id FROM shops WHERE domain = %s", (shop,)).fetchone()["id"]
        product = conn.execute("INSERT INTO products (shop_id, shopify_id, title) VALUES (%s, 'gid://shopify/Product/1', "
                               "'Synced mug') RETURNING id", (shop_id,)).fetchone()["id"]
        conn.execute("INSERT INTO variants (shop_id, product_id, shopify_id, sku, price) "
                     "VALUES (%s, %s, 'gid://shopify/ProductVariant/1', 'MUG-001', 10.00)", (shop_id, product))
    counts = import_catalog_csv(shop, b"sku,title,price,cost\nMUG-001,Speckled Mug,11.50,3.25\n").counts
    assert (counts.variants_matched_by_sku, counts.variants_created, counts.products_created) == (1, 0, 0)
    stored = catalogue_of(shop)
    assert stored["variants"] == [("gid://shopify/ProductVariant/1", "MUG-001", None, Decimal("11.50"), None, None)]
    assert stored["costs"] == [("MUG-001", "csv", Decimal("3.2500"), "GBP")]


# --- every problem, by row and column -----------------------------------------------------------------


def test_every_bad_row_of_a_minimal_file_is_listed_with_its_row_column_and_reason() -> None:
    body = "\n".join([
        "sku,title,price,cost,inventory",
        ",Mug without SKU,12.00,,",              # 2: sku empty
        "MUG-3,Pound sign,£12.00,,",             # 3: not a number
        "MUG-4,Negative,-1.00,,",                # 4: negative
        "MUG-5,Too precise,1.234,,",             # 5: decimal places
        "MUG-6,Cost words,5.00,cheap,",          # 6: cost not a number
        "MUG-7,Half a mug,5.00,1,3.5",           # 7: inventory not whole
        "MUG-3,Duplicate,5.00,,",                # 8: duplicate sku (of row 3)
        "MUG-9,Extra,5.00,1,2,surplus",          # 9: too many fields
        "MUG-10,,5.00,,",                        # 10: title empty
        "MUG-11,Fine,5.00,1.5,4",                # 11: fine
    ]).encode()
    problems = problems_of(body)
    assert has(problems, 2, "sku", "required value is empty")
    assert has(problems, 3, "price", "not a number")
    assert has(problems, 4, "price", "negative")
    assert has(problems, 5, "price", "more than 2 decimal places")
    assert has(problems, 6, "cost", "not a number")
    assert has(problems, 7, "inventory", "not a whole number")
    assert has(problems, 8, "sku", "duplicate of row 3")
    assert has(problems, 9, None, "6 fields but the header has 5 columns")
    assert has(problems, 10, "title", "required value is empty")
    assert len(problems) == 9 and not any(p[0] == 11 for p in problems)


def test_every_bad_row_of_a_shopify_export_is_listed() -> None:
    rows = [
        {**EXPORT[0]},
        {"Handle": "fig-cassis-candle", "Option1 Value": "Medium", "Variant SKU": "CAN-FIG-S", "Variant Price": "3"},  # 3
        {"Handle": "orphan-handle", "Option1 Value": "Blue", "Variant Price": "5.00"},                                  # 4
        {"Handle": "new-product", "Title": "New", "Status": "live", "Variant Price": "5.00"},                           # 5
        {"Handle": "new-product", "Option1 Value": "Red", "Variant SKU": "NEW-R"},                                     # 6
        {"Handle": "other", "Title": "Other", "Option1 Value": "One", "Variant Price": "1.00"},                         # 7
        {"Handle": "other", "Option1 Value": "One", "Variant Price": "2.00"},                                          # 8
        {"Handle": "other", "Option1 Value": "Two", "Variant Price": "2.00", "Cost per item": "1.23456"},               # 9
    ]
    problems = problems_of(shopify_csv(rows))
    assert has(problems, 3, "Variant SKU", "duplicate of row 2")
    assert has(problems, 4, "Title", "first row of handle 'orphan-handle'")
    assert has(problems, 5, "Status", "active, draft or archived")
    assert has(problems, 6, "Variant Price", "required value is empty")
    assert has(problems, 8, "Option1 Value", "the same options as row 7")
    assert has(problems, 9, "Cost per item", "more than 4 decimal places")
    assert len(problems) == 6


@pytest.mark.parametrize(("data", "row", "column", "fragment"), [
    (b"sku,title\nA,B\n", 1, "price", "required column is missing"),
    (b"sku,title,price,price\nA,B,1,1\n", 1, "price", "appears more than once"),
    (b"sku,title,price,colour\nA,B,1,red\n", 1, "colour", "unknown column"),
    (b"name;cost\nA;1\n", 1, None, "unrecognised header"),
    (b"Handle,Title,Vendor\nx,X,V\n", 1, "Variant Price", "required column is missing"),
    ("sku,title,price\nA,Caf\u00e9 mug,1\n".encode("latin-1"), 2, None, "not UTF-8"),
    (b'sku,title,price\nA,"unterminated,1\n', 2, None, "not valid CSV"),
    (b"", 1, None, "empty"),
    (b"\xef\xbb\xbfsku,title,price\r\n", 2, None, "no product rows"),
])
def test_file_level_problems_name_their_row_and_column(data, row, column, fragment) -> None:
    assert has(problems_of(data), row, column, fragment), problems_of(data)


# --- all or nothing, size, doors --------------------------------------------------------------------------


def test_a_bad_row_leaves_the_database_unchanged(shop) -> None:
    import_catalog_csv(shop, b"sku,title,price,cost\nMUG-1,Mug,10.00,4\n")
    before = catalogue_of(shop)
    with pytest.raises(CatalogCsvError):
        import_catalog_csv(shop, b"sku,title,price,cost\nMUG-1,Mug renamed,11.00,5\nMUG-2,New mug,9.00,3\nMUG-3,Bad,ten,\n")
    assert catalogue_of(shop) == before


def test_a_problem_found_while_writing_rolls_back_the_rows_already_written(shop) -> None:
    with transaction() as conn:
        shop_id = conn.execute("SELECT id FROM shops WHERE domain = %s", (shop,)).fetchone()["id"]
        product = conn.execute("INSERT INTO products (shop_id, shopify_id, title) VALUES (%s, 'gid://shopify/Product/9', "
                               "'Twin') RETURNING id", (shop_id,)).fetchone()["id"]
        for n in (1, 2):  # Shopify allows two variants with one SKU: a CSV row cannot say which it means
            conn.execute("INSERT INTO variants (shop_id, product_id, shopify_id, sku, price) "
                         "VALUES (%s, %s, %s, 'TWIN', 1.00)", (shop_id, product, f"gid://shopify/ProductVariant/9{n}"))
    before = catalogue_of(shop)
    with pytest.raises(CatalogCsvError) as caught:
        import_catalog_csv(shop, b"sku,title,price,cost\nNEW-1,New,5.00,2\nTWIN,Twin,6.00,2\n")
    assert [(p.row, p.column) for p in caught.value.problems] == [(3, "sku")]
    assert "matches 2 variants" in caught.value.problems[0].reason
    assert catalogue_of(shop) == before  # NEW-1 was written first, and rolled back


def test_files_over_the_size_limit_are_refused_before_reading(shop, monkeypatch) -> None:
    monkeypatch.setenv("CATALOG_CSV_MAX_BYTES", "1000")
    get_settings.cache_clear()
    try:
        big = b"sku,title,price\n" + b"".join(f"SKU-{i},Mug {i},1.00\n".encode() for i in range(100))
        with pytest.raises(CatalogTooLargeError) as caught:
            import_catalog_csv(shop, big)
        assert "limit is 1,000 bytes" in caught.value.problems[0].reason
        response = http_import(shop, big)
        assert response.status_code == 413
        assert catalogue_of(shop)["variants"] == []
    finally:
        get_settings.cache_clear()


def test_http_answers_with_counts_or_every_problem(shop) -> None:
    ok = http_import(shop, b"sku,title,price\nMUG-1,Mug,10.00\n")
    assert ok.status_code == 200
    answer = json.loads(ok.get_body())
    assert (answer["shop"], answer["format"], answer["rows"], answer["variants_created"]) == (shop, "minimal", 1, 1)
    bad = http_import(shop, b"sku,title,price\nMUG-1,Mug,ten\n,Mug,1\n")
    body = json.loads(bad.get_body())
    assert bad.status_code == 422 and "nothing was changed" in body["error"]
    assert [(p["row"], p["column"]) for p in body["problems"]] == [(2, "price"), (3, "sku")]
    assert http_import("nobody-here.myshopify.com", b"sku,title,price\nA,B,1\n").status_code == 404
    assert http_import("evil.example.com", b"sku,title,price\nA,B,1\n").status_code == 400


def test_the_command_line_imports_or_lists_every_problem(shop, tmp_path, capsys) -> None:
    from shared.cli import main

    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_bytes(shopify_csv(EXPORT))
    bad.write_bytes(b"sku,title,price\nA,Mug,1\nB,Mug,x\n")
    assert main(["import-catalog", str(good), "--shop", shop]) == 0
    assert "imported as shopify CSV" in capsys.readouterr().out
    assert main(["import-catalog", str(bad), "--shop", shop]) == 1
    err = capsys.readouterr().err
    assert "nothing was changed" in err and "row 3, column price:" in err
