"""`bench sync --only upsert` runs end to end on a small scale (the timings are the benchmark's to print)."""

from __future__ import annotations

from benchmarks.shopify_sync import BENCH_UPSERT_SHOP, bench_upsert
from shared.db.pool import transaction


def test_the_upsert_benchmark_writes_what_each_scenario_changed_and_counts_the_first_loads_key_checks(db):
    results, checks = bench_upsert(500, progress=lambda line: None, repeats=1)
    written = {row["scenario"]: row["variants_written"] for row in results}
    assert written["first load (insert)"] == 500
    assert written["re-read, nothing changed"] == 0
    assert written["typical day (5% changed)"] == 25
    assert written["re-read, every variant changed"] == 500
    # One check per product (its shop) and one per variant (its product, of the same shop).
    assert {name: calls for name, (_, calls) in checks["checks"].items()} == {
        "products_shop_id_fkey": 200, "variants_shop_product_fkey": 500}
    assert checks["calls"] == 700 and checks["seconds"] > 0 and checks["copy"] > 0
    with transaction() as conn:  # the benchmark leaves nothing behind
        assert conn.execute("SELECT count(*) AS n FROM shops WHERE domain = %s",
                            (BENCH_UPSERT_SHOP,)).fetchone()["n"] == 0
        assert conn.execute("SELECT count(*) AS n FROM pg_tables WHERE tablename LIKE 'bench_copy_%%'").fetchone()["n"] == 0
