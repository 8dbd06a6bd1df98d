"""The demo, end to end, as a new user runs it: the files it writes, and a rerun after a kill."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from shared.briefing.media_probe import probe
from shared.db.pool import transaction
from shared.local.demo import run_demo
from shared.local.sample_store import generate_store
from shared.settings import get_settings
from shared.shopify.tokens import token_cipher

REPO = Path(__file__).resolve().parents[1]
SMALL_STORE = 12


_RUNS_BEFORE: set[str] = set()


def _sample_shop_runs() -> set[str]:
    domain = generate_store(n_products=SMALL_STORE).domain
    with transaction() as conn:
        return {r["id"] for r in conn.execute(
            "SELECT r.id FROM pipeline_runs r JOIN shops s ON s.id = r.shop_id WHERE s.domain = %s", (domain,))}


@pytest.fixture(scope="module")
def demo_output(local_data_dir, tmp_path_factory):
    import os as _os

    saved = dict(_os.environ)
    out = tmp_path_factory.mktemp("demo-out")
    lines: list[str] = []
    # Other tests in the session run pipelines on the same sample shop: the demo's are the new ones.
    _RUNS_BEFORE.update(_sample_shop_runs())
    outcome = run_demo(out, products=SMALL_STORE, progress=lines.append)
    _os.environ.clear()
    _os.environ.update(saved)
    return outcome, out, lines


def test_the_demo_writes_its_four_files(demo_output):
    outcome, out, lines = demo_output
    assert outcome.ok, (outcome, lines[-5:])
    for name in ("briefing.mp4", "briefing.html", "recommendations.csv", "run.json"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name


def test_the_video_has_one_video_and_one_audio_stream_and_plays_30_to_90_seconds(demo_output):
    _, out, _ = demo_output
    info = probe(out / "briefing.mp4")
    assert [(s.kind, s.codec) for s in info.streams] == [("video", "h264"), ("audio", "aac")]
    assert (info.of_kind("video")[0].width, info.of_kind("video")[0].height) == (1280, 720)
    assert 30 <= info.duration_seconds <= 90


def test_recommendations_csv_has_a_row_per_variant_and_nothing_below_cost(demo_output):
    _, out, _ = demo_output
    store = generate_store(n_products=SMALL_STORE)
    with (out / "recommendations.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["sku"] for r in rows) == sorted(v.sku for v in store.variants)
    priced = [r for r in rows if r["recommended_price"]]
    assert priced, "no recommendation at all"
    for row in priced:
        assert row["cost"], row
        assert Decimal(row["recommended_price"]) >= Decimal(row["cost"]), row
    # Variants without a cost get no price, and the reason says so.
    for row in rows:
        if not row["cost"]:
            assert not row["recommended_price"] and "NO_COST" in row["reasons"]


def test_run_json_lists_every_step_with_status_and_timing(demo_output):
    _, out, _ = demo_output
    report = json.loads((out / "run.json").read_text())
    assert report["status"] in ("completed", "degraded")
    steps = {s["step"]: s for s in report["steps"]}
    assert set(steps) == {
        "sync_shopify", "update_costs", "scrape_competitors", "fetch_trends", "social_signals",
        "compute_recommendations", "write_script", "synthesize_speech", "render_video", "publish_briefing",
    }
    assert all(s["seconds"] is not None and s["attempts"] >= 1 for s in steps.values())


def test_the_page_links_the_video_and_shows_the_table(demo_output):
    _, out, _ = demo_output
    page = (out / "briefing.html").read_text(encoding="utf-8")
    assert 'src="briefing.mp4"' in page
    assert "<table" in page and "<svg" in page
    assert "mock" in page.lower()  # the social signals are labelled as mocked


def test_the_demo_installs_the_shop_through_oauth_and_runs_one_pipeline(demo_output):
    outcome, _, lines = demo_output
    store = generate_store(n_products=SMALL_STORE)
    # One authorization code exchanged, as the callback does it; nothing refreshed or migrated.
    assert [(r.grant, r.status) for r in outcome.token_requests] == [("authorization_code", 200)]
    assert all(r.shop == store.domain for r in outcome.token_requests)
    with transaction() as conn:
        shop = conn.execute("SELECT * FROM shops WHERE domain = %s", (store.domain,)).fetchone()
    run_ids = sorted(_sample_shop_runs() - _RUNS_BEFORE)
    stored = token_cipher().open(shop["access_token_ciphertext"], store.domain)
    assert hashlib.sha256(stored.encode()).hexdigest() == outcome.token_requests[0].issued_token_sha256
    assert shop["refresh_token_ciphertext"] is not None and shop["access_token_expires_at"] is not None  # expiring=1
    assert "read_all_orders" in shop["scopes"]
    assert run_ids == [outcome.run_id] and outcome.run_id.startswith(f"manual-{store.domain}-")
    assert any("merchant approved: 302 to" in line and "/api/auth/shopify/callback" in line for line in lines)
    assert any(line.startswith("pipeline started by the install") for line in lines)


def _count(conn, sql: str) -> int:
    return conn.execute(sql).fetchone()[0]


def test_killing_the_demo_mid_run_and_running_it_again_leaves_no_duplicates(tmp_path):
    env = {**os.environ, "LOCAL_DATA_DIR": str(tmp_path / "local"), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "shared.cli", "demo", "--products", str(SMALL_STORE), "--out", str(tmp_path / "out")]
    first = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    try:
        for line in first.stdout:
            seen.append(line)
            if "-> compute_recommendations" in line:  # the market signals are written: kill it here
                first.send_signal(signal.SIGKILL)
                break
    finally:
        first.wait(timeout=60)
    assert first.returncode == -signal.SIGKILL, "".join(seen[-30:])
    assert not (tmp_path / "out" / "run.json").exists()

    second = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    assert "resuming the interrupted run" in second.stdout

    import pgserver

    from shared.db.pool import stop_embedded_database

    store = generate_store(n_products=SMALL_STORE)
    try:
        uri = pgserver.get_server(tmp_path / "local" / "pgdata", cleanup_mode=None).get_uri()
        with psycopg.connect(uri) as conn:
            assert _count(conn, "SELECT count(*) FROM shops") == 1
            assert _count(conn, "SELECT count(*) FROM products") == len(store.products)
            assert _count(conn, "SELECT count(*) FROM variants") == len(store.variants)
            window_start = datetime.now(timezone.utc) - timedelta(days=get_settings().shopify_order_history_days)
            lines_in_window = sum(len(o.line_items) for o in store.orders if o.created_at >= window_start)
            oldest = conn.execute("SELECT min(order_created_at) FROM order_lines").fetchone()[0]
            assert _count(conn, "SELECT count(*) FROM order_lines") == lines_in_window, (window_start, oldest)
            assert _count(conn, "SELECT count(*) FROM competitors") == 3
            assert _count(conn, "SELECT count(*) FROM pipeline_runs") == 1  # resumed, not run twice
            assert _count(conn, "SELECT count(*) FROM recommendations") == len(store.variants)
            assert _count(conn, "SELECT count(*) FROM briefings") == 1
            assert _count(conn, "SELECT count(*) FROM pipeline_runs WHERE status = 'running'") == 0
    finally:
        stop_embedded_database(tmp_path / "local")
