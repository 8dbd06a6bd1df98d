"""The daily pipeline through the local host and runner, against the sample store's stand-ins.

The orchestrator, the activities, the database and the providers are the real ones; only the
cloud services are stand-ins that speak their protocols on loopback.
"""

from __future__ import annotations

import socket

import pytest

from conftest import columns_holding
from orchestrations.daily_pipeline import RETRY
from shared.db.pool import transaction
from shared.local.demo import apply_settings, install_sample_shop, local_functions, run_and_wait, sample_store_stand_ins


@pytest.fixture(scope="module")
def stand_ins(local_data_dir, logs):
    import os

    saved = dict(os.environ)
    with sample_store_stand_ins(n_products=12) as stand_ins:
        install_sample_shop(stand_ins, progress=lambda line: None)
        yield stand_ins
    os.environ.clear()
    os.environ.update(saved)
    apply_settings({})


@pytest.fixture(scope="module")
def functions(stand_ins):
    lines: list[str] = []
    with local_functions(lines.append) as (runner, host, key):
        yield runner, host, key, lines


def steps_of(run_id: str) -> dict[str, dict]:
    with transaction() as conn:
        rows = conn.execute("SELECT * FROM pipeline_steps WHERE run_id = %s", (run_id,)).fetchall()
    return {r["step"]: r for r in rows}


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there once the probe is closed


def test_happy_path_every_step_ok_and_prices_respect_cost(stand_ins, functions):
    runner, host, key, _ = functions
    outcome = run_and_wait(runner, host, key, stand_ins.store.domain, lambda line: None)
    assert outcome.ok and outcome.status == "completed", outcome
    steps = steps_of(outcome.run_id)
    assert {s: r["status"] for s, r in steps.items()} == {s: "ok" for s in steps}
    assert len(steps) == 10
    with transaction() as conn:
        run = conn.execute("SELECT status FROM pipeline_runs WHERE id = %s", (outcome.run_id,)).fetchone()
        below_cost = conn.execute(
            "SELECT count(*) AS n FROM recommendations WHERE run_id = %s AND recommended_price < cost",
            (outcome.run_id,),
        ).fetchone()["n"]
        briefing = conn.execute("SELECT * FROM briefings WHERE run_id = %s", (outcome.run_id,)).fetchone()
    assert run["status"] == "completed"
    assert below_cost == 0
    # The engine's fuller output: floors kept, an elasticity per product group, and the prices recorded.
    with transaction() as conn:
        recs = conn.execute("SELECT * FROM recommendations WHERE run_id = %s", (outcome.run_id,)).fetchall()
        groups = conn.execute("SELECT * FROM elasticity_estimates WHERE run_id = %s", (outcome.run_id,)).fetchall()
        recorded = conn.execute(
            "SELECT count(*) AS n, count(DISTINCT variant_id) AS variants FROM variant_price_history"
        ).fetchone()
    priced = [r for r in recs if r["recommended_price"] is not None]
    assert priced and all(r["recommended_price"] >= r["floor_price"] for r in priced)
    assert all(r["elasticity"] is not None and -4 <= r["elasticity"] <= -0.2 for r in recs)
    assert {g["product_group"] for g in groups} == {p.product_type.lower() for p in stand_ins.store.products}
    assert recorded["variants"] == len(stand_ins.store.variants)
    assert briefing["page_uri"] and briefing["video_uri"] and briefing["audio_seconds"] > 20
    # Durable keeps every input and output in its history: they must stay small summaries.
    history = runner.get_history(outcome.run_id)
    payloads = [e.get("Result") or e.get("Input") or "" for e in history if e.get("EventType") in (0, 4, 5)]
    assert payloads and max(len(p.encode()) for p in payloads) < 16 * 1024
    # The shop was read in full at install, so the daily sync asks only for what changed since.
    assert steps["sync_shopify"]["counts"]["mode"] == "incremental"
    with transaction() as conn:
        variants = conn.execute(
            "SELECT count(*) AS n FROM variants v JOIN shops s ON s.id = v.shop_id WHERE s.domain = %s",
            (stand_ins.store.domain,),
        ).fetchone()["n"]
    assert variants == len(stand_ins.store.variants)


def test_one_market_signal_failing_degrades_the_run_and_the_rest_goes_on(stand_ins, functions, restore_environment):
    runner, host, key, _ = functions
    apply_settings({"TRENDS_BASE_URL": closed_port_url()})  # Google Trends unreachable
    with transaction() as conn:
        # An earlier run today left its trends in the day's cache, which a rerun reads instead
        # of asking Google; empty it so that this run has to ask.
        conn.execute("DELETE FROM trend_keyword_days")
    outcome = run_and_wait(runner, host, key, stand_ins.store.domain, lambda line: None)
    assert outcome.ok, outcome
    assert outcome.status == "degraded"
    assert "fetch_trends" in outcome.reason
    steps = steps_of(outcome.run_id)
    assert steps["fetch_trends"]["status"] == "failed"
    assert steps["fetch_trends"]["attempts"] == RETRY["fetch_trends"].max_number_of_attempts
    for step in ("scrape_competitors", "social_signals", "compute_recommendations", "render_video", "publish_briefing"):
        assert steps[step]["status"] == "ok", step
    with transaction() as conn:
        run = conn.execute("SELECT status, error FROM pipeline_runs WHERE id = %s", (outcome.run_id,)).fetchone()
    assert run["status"] == "degraded" and "fetch_trends" in run["error"]


def test_sync_failing_past_its_retries_fails_the_run_with_the_activitys_message(stand_ins, functions):
    runner, host, key, _ = functions
    # Shopify answers 503 (with Retry-After: 0, so the test does not wait) to every request.
    stand_ins.emulator.faults.inject(503, count=10_000, retry_after=0)
    try:
        outcome = run_and_wait(runner, host, key, stand_ins.store.domain, lambda line: None)
    finally:
        stand_ins.emulator.faults.clear()
    attempts = RETRY["sync_shopify"].max_number_of_attempts
    assert not outcome.ok and outcome.status == "Failed"
    assert "sync_shopify failed" in outcome.reason and "503" in outcome.reason
    assert f"after {attempts} attempts" in outcome.reason
    steps = steps_of(outcome.run_id)
    assert steps["sync_shopify"]["attempts"] == attempts
    assert steps["sync_shopify"]["status"] == "failed"
    assert steps["publish_briefing"]["status"] == "skipped"
    history = runner.get_history(outcome.run_id)
    scheduled = [e for e in history if e.get("EventType") == 4 and e.get("Name") == "sync_shopify"]
    assert len(scheduled) == attempts


def test_the_timer_starts_todays_run_once_and_a_second_firing_starts_nothing(stand_ins, functions):
    from datetime import datetime, timezone

    from shared.scheduling import daily_instance_id

    runner, host, key, _ = functions
    instance_id = daily_instance_id(stand_ins.store.domain, datetime.now(timezone.utc))
    runner.purge(instance_id)
    host.invoke_timer("daily_timer")
    first = runner.get_status(instance_id)
    assert first is not None and first.input["trigger"] == "timer"
    host.invoke_timer("daily_timer")  # fires again while the run is going, or after it ended
    status = runner.wait_for_completion(instance_id, timeout=600)
    assert status.created_time == first.created_time  # the same instance: not replaced, not restarted
    pipelines = [s for s in runner.list_instances(instance_id_prefix=instance_id) if s.name == "daily_pipeline"]
    assert len(pipelines) == 1
    host.invoke_timer("daily_timer")  # and once it has completed
    assert runner.get_status(instance_id).created_time == first.created_time


def test_http_answers(stand_ins, functions, restore_environment):
    import httpx

    from shared.settings import get_settings

    apply_settings({"SHOPIFY_CLIENT_SECRET": "test-client-secret"})

    runner, host, key, _ = functions
    shop = stand_ins.store.domain
    api = f"{host.base_url}/api"
    assert httpx.get(f"{api}/health").json() == {"status": "ok", "database": "ok"}
    assert httpx.get(f"{api}/shops/{shop}/runs/latest").status_code == 401  # function key required
    latest = httpx.get(f"{api}/shops/{shop}/runs/latest", headers={"x-functions-key": key})
    assert latest.status_code == 200
    report = latest.json()
    assert report["shop"] == shop and {s["step"] for s in report["steps"]} >= {"sync_shopify", "publish_briefing"}
    bad = httpx.post(f"{api}/shops/evil.example.com/pipeline", headers={"x-functions-key": key})
    assert bad.status_code == 400 and "myshopify.com" in bad.json()["error"]
    unknown = httpx.post(f"{api}/shops/nobody-here.myshopify.com/pipeline", headers={"x-functions-key": key})
    assert unknown.status_code == 404
    # The page takes a signed, expiring link, which an operator gets with the function key.
    assert httpx.get(f"{api}/shops/{shop}/briefings/latest", headers={"x-functions-key": key}).status_code == 403
    link = httpx.get(f"{api}/shops/{shop}/briefings/link", headers={"x-functions-key": key}).json()["url"]
    page = httpx.get(link.replace(get_settings().app_base_url, host.base_url))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<table" in page.text
    # With the local folder store the app serves the video itself, on a link signed like the page's.
    import re
    from urllib.parse import urljoin

    from shared.media_store import media_store

    [src] = re.findall(r'<video[^>]* src="([^"]+)"', page.text)
    assert src.startswith("./") and "/media/briefing.mp4?expires=" in src
    video = httpx.get(urljoin(str(page.url), src.replace("&amp;", "&")))
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    with transaction() as conn:
        uri = conn.execute("SELECT video_uri FROM briefings WHERE run_id = %s", (report["id"],)).fetchone()["video_uri"]
    assert video.content == media_store().read_bytes(uri)


def test_no_secret_reaches_a_log_the_durable_history_or_the_database(stand_ins, functions, logs, local_data_dir):
    runner, host, key, _ = functions
    outcome = run_and_wait(runner, host, key, stand_ins.store.domain, lambda line: None)
    assert outcome.ok
    token_key = (local_data_dir / "token-encryption-key").read_text().split(":", 1)[1]
    secrets = [stand_ins.access_token, token_key]
    assert logs, "no log line was captured"
    for line in logs:
        assert not any(secret in line for secret in secrets), line
    histories = list((local_data_dir / "durable").rglob("*.json"))
    assert histories
    for path in histories:
        text = path.read_text()
        assert not any(secret in text for secret in secrets), path.name
    assert columns_holding(secrets) == []
    with transaction() as conn:
        sealed = conn.execute("SELECT access_token_ciphertext FROM shops WHERE domain = %s",
                              (stand_ins.store.domain,)).fetchone()["access_token_ciphertext"]
    assert stand_ins.access_token.encode() not in bytes(sealed)
