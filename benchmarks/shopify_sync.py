"""The Shopify sync at the rate limit, and the bulk upsert against a bare COPY, measured in one run.

    .venv/bin/python -m shared.cli bench sync [--variants 20000] [--restore-rate 2000] [--upsert-rows 100000]
                                              [--only rate|upsert] [--repeats 5]

(a) A full paginated sync of a sample store of at least `--variants` variants from the Shopify
    emulator, whose shop restores `--restore-rate` points/s (bucket 20x that, full at the
    start, as a real shop's is). It reports the actual query points spent per second, and the
    same rate counting only restored points (spent - bucket at start + bucket at the end),
    which is what the pacing can influence; the target is >= 0.9 x R with zero THROTTLED answers.
(b) The bulk path's database write (COPY into staging tables + the set-based merge of
    `shared.db.catalogue_staging`) of `--upsert-rows` variants and their products, against a
    bare COPY of the same rows into empty tables without constraints or indexes, for a first
    load, a re-read with nothing changed, a typical day (5% of variants with a new price and
    stock) and a re-read where every variant changed; each upsert timed right after its baseline,
    `--repeats` times, and the median of the paired ratios reported with their range; with the
    paginated path's executemany upsert as a reference for the typical day. Target: <= 2x.
    One more first load runs under EXPLAIN ANALYZE to report what its per-row foreign-key checks
    alone take, set against the bare COPY.

Defaults take about three minutes on a two-core machine: generating the store (~20 s),
the sync (about 80 s of restore at R = 2000 after the initial bucket), the upserts (~60 s).
Uses the app's database (the embedded one under LOCAL_DATA_DIR unless DATABASE_URL is set)
and removes its rows afterwards.
"""

from __future__ import annotations

import asyncio
import math
import re
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from shared.db import catalogue
from shared.db import catalogue_staging as staging_sql
from shared.db.catalogue_staging import (
    PRODUCT_COLUMNS,
    STAGED_PRODUCTS,
    STAGED_VARIANTS,
    VARIANT_COLUMNS,
    CatalogueStaging,
    ProductRow,
    VariantRow,
    copy_rows,
)
from shared.db.pool import close_pool, transaction
from shared.local.sample_store import generate_store
from shared.local.shopify_emulator import ShopifyEmulator
from shared.shopify.admin_api import AdminApiClient
from shared.shopify.sync import sync_shop

BENCH_SYNC_SHOP = "bench-sync.myshopify.com"
BENCH_UPSERT_SHOP = "bench-upsert.myshopify.com"
TOKEN = "shpat_bench_sync_token"
VARIANTS_PER_PRODUCT = 2.5


def _shop_id(domain: str) -> int:
    with transaction() as conn:
        conn.execute("DELETE FROM shops WHERE domain = %s", (domain,))
        return conn.execute("INSERT INTO shops (domain, name, currency) VALUES (%s, 'Benchmark', 'GBP') RETURNING id",
                            (domain,)).fetchone()["id"]


def _drop_shop(domain: str) -> None:
    with transaction() as conn:
        conn.execute("DELETE FROM shops WHERE domain = %s", (domain,))


# --- (a) the paginated sync against the rate limit ---------------------------------------------


def bench_rate_limited_sync(variants: int, restore_rate: float, progress: Callable[[str], None]) -> dict:
    started = time.perf_counter()
    products = math.ceil(variants / 2.3)
    store = generate_store(n_products=products, annual_orders=2000)
    while len(store.variants) < variants:
        products = math.ceil(products * variants / len(store.variants)) + 10
        store = generate_store(n_products=products, annual_orders=2000)
    progress(f"  sample store: {len(store.products)} products, {len(store.variants)} variants, "
             f"{len(store.inventory_levels)} stock levels, {len(store.orders)} orders "
             f"({time.perf_counter() - started:.0f} s to generate)")
    shop_id = _shop_id(BENCH_SYNC_SHOP)
    with ShopifyEmulator() as emulator:
        shop = emulator.add_shop(store, TOKEN, domain=BENCH_SYNC_SHOP, plan="plus", restore_rate=restore_rate,
                                 maximum_available=20 * restore_rate)
        bucket_at_start = shop.bucket.available()

        async def run():
            async with AdminApiClient(BENCH_SYNC_SHOP, TOKEN, base_url_template=emulator.admin_base_url_template) as client:
                summary = await sync_shop(shop_id, BENCH_SYNC_SHOP, client, history_days=365, now=store.as_of)
                return summary, client.stats.snapshot()

        summary, stats = asyncio.run(run())
        bucket_at_end = shop.bucket.available()
        throttled = sum(1 for r in emulator.records(BENCH_SYNC_SHOP) if r.outcome == "throttled")
    _drop_shop(BENCH_SYNC_SHOP)
    restored = summary.query_points - bucket_at_start + bucket_at_end
    return {
        "variants": summary.variants, "products": summary.products, "levels": summary.inventory_levels,
        "order_lines": summary.order_lines, "seconds": summary.seconds, "points": summary.query_points,
        "requests": summary.requests, "rate": restore_rate,
        "points_per_second": summary.query_points / summary.seconds,
        "restored_per_second": restored / summary.seconds,
        "throttled": throttled, "client_throttled": stats.throttled_responses, "budget_waits": stats.budget_waits,
    }


# --- (b) the bulk upsert against a bare COPY ----------------------------------------------------------


def _rows(n: int, version: int, changed_share: float) -> tuple[list[ProductRow], list[VariantRow]]:
    """n variants of n/2.5 products; `changed_share` of them with a price and stock of this `version`."""
    moment = datetime(2026, 11, 1, tzinfo=timezone.utc)
    products = [(f"gid://shopify/Product/{j}", f"Bench product {j}", f"bench-product-{j}", "Mugs", "Bench", "ACTIVE", moment)
                for j in range(math.ceil(n / VARIANTS_PER_PRODUCT))]
    every = round(1 / changed_share) if changed_share else 0
    variants = []
    for i in range(n):
        bump = version if every and i % every == 0 else 0
        variants.append((f"gid://shopify/ProductVariant/{i}", f"gid://shopify/Product/{int(i / VARIANTS_PER_PRODUCT)}",
                         f"BENCH-{i:06d}", f"Option {i % 3}", f"50{i:011d}", Decimal("12.99") + bump,
                         None, f"gid://shopify/InventoryItem/{i}", 10 + bump, Decimal("4.2000"), "GBP"))
    return products, variants


def _bare_copy(products: list[ProductRow], variants: list[VariantRow]) -> float:
    with transaction() as conn:
        conn.execute(f"DROP TABLE IF EXISTS bench_copy_products; DROP TABLE IF EXISTS bench_copy_variants;"
                     f"CREATE TABLE bench_copy_products {STAGED_PRODUCTS}; CREATE TABLE bench_copy_variants {STAGED_VARIANTS}")
    clock = time.perf_counter()
    with transaction() as conn:
        copy_rows(conn, "bench_copy_products", PRODUCT_COLUMNS, products)
        copy_rows(conn, "bench_copy_variants", VARIANT_COLUMNS, variants)
    seconds = time.perf_counter() - clock
    with transaction() as conn:
        conn.execute("DROP TABLE bench_copy_products; DROP TABLE bench_copy_variants")
    return seconds


def _staged_upsert(shop_id: int, products: list[ProductRow], variants: list[VariantRow]) -> tuple[float, int]:
    clock = time.perf_counter()
    with transaction() as conn:
        stage = CatalogueStaging(conn)
        stage.copy_products(products)
        stage.copy_variants(variants)
        counts = stage.merge(shop_id, remove_unseen_before=datetime.now(timezone.utc) - timedelta(minutes=5))
    return time.perf_counter() - clock, counts.variants_written


_ON_CONFLICT = {
    "products": """INSERT INTO products (shop_id, shopify_id, title, handle, product_type, vendor, status,
                                       shopify_updated_at, synced_at)
        SELECT %(shop)s, s.shopify_id, s.title, s.handle, s.product_type, s.vendor, s.status, s.shopify_updated_at, now()
        FROM staged_products s
        ON CONFLICT (shop_id, shopify_id) DO UPDATE SET title = EXCLUDED.title, handle = EXCLUDED.handle,
            product_type = EXCLUDED.product_type, vendor = EXCLUDED.vendor, status = EXCLUDED.status,
            shopify_updated_at = EXCLUDED.shopify_updated_at, synced_at = EXCLUDED.synced_at""",
    "variants": """INSERT INTO variants (shop_id, product_id, shopify_id, sku, title, barcode, price, compare_at_price,
                                       inventory_item_id, inventory_quantity, shopify_unit_cost,
                                       shopify_unit_cost_currency, synced_at)
        SELECT p.shop_id, p.id, s.shopify_id, s.sku, s.title, s.barcode, s.price, s.compare_at_price,
               s.inventory_item_id, s.inventory_quantity, s.shopify_unit_cost, s.shopify_unit_cost_currency, now()
        FROM staged_variants s JOIN products p ON p.shop_id = %(shop)s AND p.shopify_id = s.product_shopify_id
        ON CONFLICT (shop_id, shopify_id) DO UPDATE SET product_id = EXCLUDED.product_id, sku = EXCLUDED.sku,
            title = EXCLUDED.title, barcode = EXCLUDED.barcode, price = EXCLUDED.price,
            compare_at_price = EXCLUDED.compare_at_price, inventory_item_id = EXCLUDED.inventory_item_id,
            inventory_quantity = EXCLUDED.inventory_quantity, shopify_unit_cost = EXCLUDED.shopify_unit_cost,
            shopify_unit_cost_currency = EXCLUDED.shopify_unit_cost_currency, synced_at = EXCLUDED.synced_at""",
}


def _on_conflict_upsert(shop_id: int, products: list[ProductRow], variants: list[VariantRow]) -> float:
    """The same staging, merged with one INSERT ... ON CONFLICT DO UPDATE per table (rewrites every row)."""
    clock = time.perf_counter()
    with transaction() as conn:
        stage = CatalogueStaging(conn)
        stage.copy_products(products)
        stage.copy_variants(variants)
        conn.execute("SET LOCAL enable_nestloop = off")
        conn.execute(_ON_CONFLICT["products"], {"shop": shop_id})
        conn.execute(_ON_CONFLICT["variants"], {"shop": shop_id})
    return time.perf_counter() - clock


def _executemany_upsert(shop_id: int, products: list[ProductRow], variants: list[VariantRow]) -> float:
    """The paginated path's writer (INSERT ... ON CONFLICT through executemany, pipelined by psycopg)."""
    product_records = [catalogue.ProductRecord(shopify_id=p[0], title=p[1], handle=p[2], product_type=p[3], vendor=p[4],
                                               status=p[5], shopify_updated_at=p[6]) for p in products]
    variant_records = [catalogue.VariantRecord(
        shopify_id=v[0], product_shopify_id=v[1], sku=v[2], title=v[3], barcode=v[4], price=v[5], compare_at_price=v[6],
        inventory_item_id=v[7], inventory_quantity=v[8], shopify_unit_cost=v[9], shopify_unit_cost_currency=v[10],
    ) for v in variants]
    clock = time.perf_counter()
    with transaction() as conn:
        catalogue.upsert_products(conn, shop_id, product_records)
        catalogue.upsert_variants(conn, shop_id, variant_records)
    return time.perf_counter() - clock


_TRIGGER_LINE = re.compile(r"^Trigger for constraint (\S+): time=([\d.]+) calls=(\d+)")


def _first_load_checks(shop_id: int, products: list[ProductRow], variants: list[VariantRow]) -> dict:
    """A first load's merges under EXPLAIN ANALYZE, for the time its per-row foreign-key checks take:
    work that no way of writing the rows avoids while the constraints stand."""
    checks: dict[str, tuple[float, int]] = {}
    with transaction() as conn:
        stage = CatalogueStaging(conn)
        stage.copy_products(products)
        stage.copy_variants(variants)
        conn.execute(staging_sql._NO_NESTED_LOOPS)
        conn.execute(staging_sql._HASH_MEMORY)
        for statement in (staging_sql._MERGE_PRODUCTS, staging_sql._MERGE_VARIANTS):
            for row in conn.execute("EXPLAIN (ANALYZE) " + statement, {"shop": shop_id}).fetchall():
                line = row["QUERY PLAN"]
                if match := _TRIGGER_LINE.match(line):
                    checks[match[1]] = (float(match[2]) / 1000, int(match[3]))
    return {"checks": checks, "seconds": sum(s for s, _ in checks.values()),
            "calls": sum(c for _, c in checks.values())}


def bench_upsert(n: int, progress: Callable[[str], None], repeats: int = 5) -> tuple[list[dict], dict]:
    scenarios = {"first load (insert)": [], "re-read, nothing changed": [], "typical day (5% changed)": [],
                 "re-read, every variant changed": []}
    written: dict[str, int] = {}
    for repeat in range(repeats):
        shop_id = _shop_id(BENCH_UPSERT_SHOP)
        plan = [("first load (insert)", _rows(n, 0, 0)), ("re-read, nothing changed", _rows(n, 0, 0)),
                ("typical day (5% changed)", _rows(n, 1 + repeat, 0.05)),
                ("re-read, every variant changed", _rows(n, 10 + repeat, 1.0))]
        for name, (products, variants) in plan:
            baseline = _bare_copy(products, variants)
            seconds, count = _staged_upsert(shop_id, products, variants)
            scenarios[name].append((seconds, baseline))
            written[name] = count
        progress(f"  upsert run {repeat + 1} of {repeats} done")
    references = []
    for name, upsert, version in (("typical day, one INSERT ... ON CONFLICT", _on_conflict_upsert, 98),
                                  ("typical day, executemany ON CONFLICT", _executemany_upsert, 99)):
        products, variants = _rows(n, version, 0.05)
        baseline = _bare_copy(products, variants)
        references.append({"scenario": name, "upsert": upsert(shop_id, products, variants), "copy": baseline})
    # Set against the median bare COPY of the first loads' pairs: one COPY alone is too noisy here.
    checks = {**_first_load_checks(_shop_id(BENCH_UPSERT_SHOP), *_rows(n, 0, 0)),
              "copy": statistics.median(b for _, b in scenarios["first load (insert)"])}
    _drop_shop(BENCH_UPSERT_SHOP)
    results = []
    for name, runs in scenarios.items():
        # Each upsert is timed right after its own baseline: the median of those paired ratios is
        # steadier on a shared machine than a ratio of medians taken at different moments.
        ratios = sorted(s / b for s, b in runs)
        results.append({"scenario": name, "upsert": statistics.median(s for s, _ in runs),
                        "copy": statistics.median(b for _, b in runs), "ratio": statistics.median(ratios),
                        "spread": (ratios[0], ratios[-1]), "variants_written": written[name]})
    for reference in references:  # one run each: for comparison, not the target
        results.append({**reference, "ratio": reference["upsert"] / reference["copy"], "variants_written": None})
    return results, checks


def run_benchmark(variants: int = 20_000, restore_rate: float = 2000.0, upsert_rows: int = 100_000,
                  progress: Callable[[str], None] = print, parts: str | None = None, repeats: int = 5) -> int:
    """Both parts, or only `parts` ("rate" or "upsert")."""
    wall = time.perf_counter()
    sync = upserts = checks = None
    try:
        if parts in (None, "rate"):
            progress(f"(a) full paginated sync of >= {variants:,} variants at R = {restore_rate:g} points/s")
            sync = bench_rate_limited_sync(variants, restore_rate, progress)
        if parts in (None, "upsert"):
            progress(f"(b) bulk upsert of {upsert_rows:,} variants "
                     f"({math.ceil(upsert_rows / VARIANTS_PER_PRODUCT):,} products) vs a bare COPY of the same rows")
            upserts, checks = bench_upsert(upsert_rows, progress, repeats=repeats)
    finally:
        close_pool()
    if sync is not None:
        _print_sync(sync, progress)
    if upserts is not None:
        _print_upserts(upserts, checks, repeats, progress)
    progress(f"\nwall time {time.perf_counter() - wall:.0f} s")
    return 0


def _print_sync(sync: dict, progress: Callable[[str], None]) -> None:
    ratio = sync["restored_per_second"] / sync["rate"]
    raw_ratio = sync["points_per_second"] / sync["rate"]
    progress("")
    progress("(a) paginated full sync against the rate limit")
    progress(f"    {sync['variants']:,} variants, {sync['products']:,} products, {sync['levels']:,} stock levels, "
             f"{sync['order_lines']:,} order lines in {sync['seconds']:.1f} s, {sync['requests']} requests")
    progress(f"    points spent {sync['points']:,}   restore rate R {sync['rate']:g}/s")
    progress(f"    points/s {sync['points_per_second']:.0f} ({raw_ratio:.2f} x R, counting the initial bucket)")
    progress(f"    restored points/s {sync['restored_per_second']:.0f} ({ratio:.2f} x R)   target >= 0.90 x R: "
             f"{'met' if ratio >= 0.9 else 'NOT met'}")
    progress(f"    THROTTLED answers {sync['throttled']} (client saw {sync['client_throttled']}; "
             f"{sync['budget_waits']} waits before sending)   target 0: {'met' if sync['throttled'] == 0 else 'NOT met'}")


def _print_upserts(upserts: list[dict], checks: dict, repeats: int, progress: Callable[[str], None]) -> None:
    progress("")
    progress(f"(b) Postgres upsert (COPY to staging + merge) vs bare COPY of the same rows: medians of {repeats} paired runs")
    progress(f"    {'scenario':<40}{'upsert s':>10}{'COPY s':>9}{'ratio':>8}{'range':>12}{'written':>10}  target <= 2x")
    for row in upserts:
        written = f"{row['variants_written']:,}" if row["variants_written"] is not None else "-"
        spread = f"{row['spread'][0]:.1f}-{row['spread'][1]:.1f}" if "spread" in row else "-"
        progress(f"    {row['scenario']:<40}{row['upsert']:>10.2f}{row['copy']:>9.2f}{row['ratio']:>8.2f}{spread:>12}"
                 f"{written:>10}  {'met' if row['ratio'] <= 2 else 'not met'}")
    progress(f"    first load, its foreign-key checks alone (EXPLAIN ANALYZE, one run): {checks['calls']:,} checks in "
             f"{checks['seconds']:.2f} s = {checks['seconds'] / checks['copy']:.1f} x the median bare COPY ({checks['copy']:.2f} s)")
    for name, (seconds, calls) in checks["checks"].items():
        progress(f"        {name:<36}{calls:>9,} calls {seconds:>7.2f} s")
