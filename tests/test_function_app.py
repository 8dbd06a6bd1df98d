"""The app's function index: what Azure sees when it loads function_app.py.

A missing package or a broken decorator shows up in Azure only as "0 functions found";
this test catches it before a deployment.
"""

from __future__ import annotations

import json

import pytest

EXPECTED_HTTP = {
    # name: (route, methods, auth level)
    "start_pipeline": ("shops/{shop}/pipeline", ["POST"], "FUNCTION"),
    "latest_run": ("shops/{shop}/runs/latest", ["GET"], "FUNCTION"),
    "latest_briefing": ("shops/{shop}/briefings/latest", ["GET"], "ANONYMOUS"),  # signed link instead
    "briefing_of_run": ("shops/{shop}/briefings/{run_id}", ["GET"], "ANONYMOUS"),  # signed link
    "briefing_media": ("shops/{shop}/briefings/{run_id}/media/{name}", ["GET"], "ANONYMOUS"),  # signed link
    "briefing_link": ("shops/{shop}/briefings/link", ["GET"], "FUNCTION"),
    "health": ("health", ["GET"], "ANONYMOUS"),
    "shopify_install": ("auth/shopify/install", ["GET"], "ANONYMOUS"),
    "shopify_callback": ("auth/shopify/callback", ["GET"], "ANONYMOUS"),
    "shopify_webhook": ("webhooks/shopify", ["POST"], "ANONYMOUS"),
    "import_catalog": ("shops/{shop}/catalog", ["POST"], "FUNCTION"),
    "import_competitors": ("shops/{shop}/competitors", ["POST"], "FUNCTION"),
    "competitor_matches": ("shops/{shop}/competitor-matches", ["GET"], "FUNCTION"),
    "decide_competitor_match": ("shops/{shop}/competitor-matches/{match_id}", ["POST"], "FUNCTION"),
    "approve_recommendations": ("shops/{shop}/recommendations/approve", ["POST"], "FUNCTION"),
    "apply_recommendations": ("shops/{shop}/recommendations/apply", ["POST"], "FUNCTION"),
    "revert_prices": ("shops/{shop}/prices/revert", ["POST"], "FUNCTION"),
    "price_change_log": ("shops/{shop}/prices/changes", ["GET"], "FUNCTION"),
}
EXPECTED_ACTIVITIES = {
    "begin_run", "finish_run", "sync_shopify", "update_costs", "scrape_competitors", "fetch_trends",
    "social_signals", "compute_recommendations", "write_script", "synthesize_speech", "render_video",
    "publish_briefing", "apply_webhook_events",
    "plan_sync", "start_bulk_sync", "check_bulk_sync", "ingest_bulk_sync", "finish_bulk_sync",
    "plan_video", "submit_video_job", "check_video_job", "fetch_video_job",
}
EXPECTED_ORCHESTRATORS = {"daily_pipeline", "market_signal", "process_webhook_events", "sync_catalogue",
                          "render_video_cloud"}
EXPECTED_TIMERS = {"daily_timer", "webhook_sweep"}


@pytest.fixture(scope="module")
def functions():
    import function_app

    # get_functions() remembers the names it has indexed and refuses a second call in one process.
    function_app.app.functions_bindings = None
    return {f.get_function_name(): json.loads(f.get_function_json()) for f in function_app.app.get_functions()}


def trigger_of(function_json: dict) -> dict:
    return next(b for b in function_json["bindings"] if b["type"].endswith("Trigger"))


def test_every_function_is_indexed_and_nothing_else(functions):
    expected = set(EXPECTED_HTTP) | EXPECTED_ACTIVITIES | EXPECTED_ORCHESTRATORS | EXPECTED_TIMERS
    assert set(functions) == expected


@pytest.mark.parametrize("name", sorted(EXPECTED_HTTP))
def test_http_triggers_have_their_route_methods_and_auth_level(functions, name):
    route, methods, auth = EXPECTED_HTTP[name]
    trigger = trigger_of(functions[name])
    assert trigger["type"] == "httpTrigger"
    assert trigger["route"] == route
    assert sorted(m.upper() for m in trigger["methods"]) == methods
    assert trigger["authLevel"].upper() == auth


def test_the_daily_timer_reads_its_schedule_from_a_setting_and_has_a_durable_client(functions):
    bindings = functions["daily_timer"]["bindings"]
    timer = trigger_of(functions["daily_timer"])
    assert timer["type"] == "timerTrigger"
    assert timer["schedule"] == "%DAILY_SCHEDULE%"
    assert timer["runOnStartup"] is False
    assert any(b["type"] == "durableClient" for b in bindings)


def test_the_pipeline_starter_has_a_durable_client(functions):
    assert any(b["type"] == "durableClient" for b in functions["start_pipeline"]["bindings"])


def test_the_oauth_callback_has_a_durable_client_to_start_the_first_run(functions):
    assert any(b["type"] == "durableClient" for b in functions["shopify_callback"]["bindings"])


@pytest.mark.parametrize("name", sorted(EXPECTED_ACTIVITIES))
def test_activities(functions, name):
    assert trigger_of(functions[name])["type"] == "activityTrigger"


@pytest.mark.parametrize("name", sorted(EXPECTED_ORCHESTRATORS))
def test_orchestrators(functions, name):
    assert trigger_of(functions[name])["type"] == "orchestrationTrigger"


def test_the_webhook_endpoint_and_sweep_have_a_durable_client_and_the_sweep_reads_its_schedule(functions):
    assert any(b["type"] == "durableClient" for b in functions["shopify_webhook"]["bindings"])
    sweep = trigger_of(functions["webhook_sweep"])
    assert sweep["type"] == "timerTrigger"
    assert sweep["schedule"] == "%WEBHOOK_SWEEP_SCHEDULE%"
    assert sweep["runOnStartup"] is False
    assert any(b["type"] == "durableClient" for b in functions["webhook_sweep"]["bindings"])
