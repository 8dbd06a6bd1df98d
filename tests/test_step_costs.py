"""Each activity runs inside a cost ledger: what its external calls spent is added to run_costs,
failed executions included, and the run's report sums it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from activities.step import StepSummary, run_step, run_step_async
from shared.db import runs
from shared.db.pool import transaction
from shared.db.run_costs import run_cost_summary
from shared.db.shops import upsert_shop
from shared.telemetry import external_call

SHOP = "step-costs.myshopify.com"


class Blip(RuntimeError):
    retryable = True


class Refused(RuntimeError):
    retryable = False


@pytest.fixture
def run_id(db, request):
    run_id = f"costs-{request.node.name}"
    with transaction() as conn:
        shop = upsert_shop(conn, SHOP, name=None, currency="GBP", access_token_ciphertext=None, token_key_id=None,
                           scopes=None)
        runs.start_run(conn, run_id, shop.id, "test", datetime.now(timezone.utc))
    return run_id


def spend(service: str, unit: str, amount: float) -> None:
    with external_call(service, "call") as call:
        call.add_cost(unit, amount)


def costs(run_id: str) -> dict:
    with transaction() as conn:
        summary = run_cost_summary(conn, run_id)
    return {(r["step"], r["service"], r["unit"]): r["amount"] for r in summary["by_step"]}


def test_a_steps_calls_and_costs_are_stored_and_a_retried_execution_adds_its_own(run_id):
    payload = {"shop": SHOP, "run_id": run_id}

    def failing(params):
        spend("zenrows", "request_cost", 3)
        raise Blip("the provider hiccupped")

    def working(params):
        spend("zenrows", "request_cost", 5)
        spend("zenrows", "request_cost", 5)
        return StepSummary(status="ok")

    with pytest.raises(Blip):
        run_step("scrape_competitors", payload, failing)  # Durable will retry it
    assert costs(run_id) == {("scrape_competitors", "zenrows", "request_cost"): 3.0,
                             ("scrape_competitors", "zenrows", "calls"): 1.0}
    assert run_step("scrape_competitors", payload, working)["status"] == "ok"
    assert costs(run_id) == {("scrape_competitors", "zenrows", "request_cost"): 13.0,
                             ("scrape_competitors", "zenrows", "calls"): 3.0}


def test_a_permanent_failure_keeps_its_costs_and_a_step_without_calls_adds_nothing(run_id):
    payload = {"shop": SHOP, "run_id": run_id}

    def refused(params):
        spend("openai", "prompt_tokens", 1200)
        raise Refused("content filter")

    assert run_step("write_script", payload, refused)["status"] == "failed"
    assert run_step("compute_recommendations", payload, lambda params: StepSummary(status="ok"))["status"] == "ok"
    assert costs(run_id) == {("write_script", "openai", "prompt_tokens"): 1200.0,
                             ("write_script", "openai", "calls"): 1.0}


def test_concurrent_calls_of_an_async_step_all_reach_its_ledger_and_the_report(run_id):
    payload = {"shop": SHOP, "run_id": run_id}

    async def call(n: int) -> None:
        with external_call("shopify", "graphql") as span:
            await asyncio.sleep(0.001 * n)
            span.add_cost("query_points", n)

    async def work(params):
        await asyncio.gather(*(call(n) for n in range(1, 6)))
        spend("elevenlabs", "characters", 840)
        return StepSummary(status="ok")

    assert asyncio.run(run_step_async("sync_shopify", payload, work))["status"] == "ok"
    with transaction() as conn:
        report = runs.run_report(conn, run_id)
    assert {(c["service"], c["unit"]): c["amount"] for c in report["costs"]["total"]} == {
        ("elevenlabs", "calls"): 1.0, ("elevenlabs", "characters"): 840.0,
        ("shopify", "calls"): 5.0, ("shopify", "query_points"): 15.0}
