"""The bulk sync as Durable runs it: the orchestrator waits with durable timers, activities never sleep.

The emulator's bulk operations run on a ManualClock here: an operation stays RUNNING until the
test moves the clock, so the orchestrator must poll, and the test sees each poll arrive.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from shared.db import runs
from shared.db.pool import transaction
from shared.local.demo import apply_settings, install_sample_shop, local_functions, run_and_wait, sample_store_stand_ins
from shared.local.durable import ProgressKind, parse_timestamp
from shared.local.shopify_emulator import ManualClock

TIMER_CREATED, TIMER_FIRED, TASK_SCHEDULED, SUB_ORCHESTRATION_CREATED = 10, 11, 4, 7


@pytest.fixture(scope="module")
def stand_ins(local_data_dir):
    saved = dict(os.environ)
    with sample_store_stand_ins(n_products=12) as stand_ins:
        install_sample_shop(stand_ins, progress=lambda line: None)
        apply_settings({"SHOPIFY_BULK_SYNC_MIN_VARIANTS": "1"})
        yield stand_ins
    os.environ.clear()
    os.environ.update(saved)
    apply_settings({})


@pytest.fixture(scope="module")
def functions(stand_ins):
    with local_functions(lambda line: None) as (runner, host, key):
        yield runner, host, key


@pytest.fixture()
def bulk(stand_ins):
    """The shop's bulk operations on a clock the test moves; put back afterwards."""
    operations = stand_ins.emulator.shop(stand_ins.store.domain).bulk_operations
    saved = (operations.clock, list(operations.settings.fail_next))
    operations.clock = ManualClock()
    yield operations
    operations.clock, operations.settings.fail_next = saved[0], saved[1]


def new_run(domain: str) -> str:
    run_id = f"bulk-test-{uuid.uuid4().hex[:10]}"
    with transaction() as conn:
        shop_id = conn.execute("SELECT id FROM shops WHERE domain = %s", (domain,)).fetchone()["id"]
        runs.start_run(conn, run_id, shop_id, "test", datetime.now(timezone.utc))
    return run_id


def start_sync(runner, domain: str, run_id: str) -> str:
    orders_from = (datetime.now(timezone.utc) - timedelta(days=60)).replace(hour=0, minute=0, second=0, microsecond=0)
    instance_id = runner.start_new("sync_catalogue", f"{run_id}:sync_catalogue",
                                   {"shop": domain, "run_id": run_id, "plan": {"orders_from": orders_from.isoformat()}})
    runner.start_in_background(instance_id)
    return instance_id


def wait_until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.005)


def let_it_poll_then_complete(bulk, before: int, operations: int, polls_before_completion: int = 3) -> None:
    """For each new operation (`before` existed already): wait until it has been checked a few times
    while RUNNING, then let it finish."""
    for number in range(before + 1, before + operations + 1):
        wait_until(lambda: len(bulk.operations) >= number)
        checks = bulk.status_checks
        wait_until(lambda: bulk.status_checks >= checks + polls_before_completion)
        bulk.clock.advance(60)


def step_row(run_id: str) -> dict:
    with transaction() as conn:
        return conn.execute("SELECT * FROM pipeline_steps WHERE run_id = %s AND step = 'sync_shopify'", (run_id,)).fetchone()


def test_the_orchestrator_polls_with_durable_timers_and_no_activity_sleeps(stand_ins, functions, bulk, monkeypatch):
    runner, _, _ = functions
    domain = stand_ins.store.domain
    activity_sleeps: list[float] = []
    real_sleep = time.sleep

    def watched_sleep(seconds: float) -> None:
        if threading.current_thread().name.startswith("durable-activity"):
            activity_sleeps.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", watched_sleep)
    events = []
    runner.add_progress_listener(events.append)
    run_id = new_run(domain)
    wall_started = time.monotonic()
    try:
        before = len(bulk.operations)
        instance_id = start_sync(runner, domain, run_id)
        let_it_poll_then_complete(bulk, before, operations=2)
        status = runner.wait_for_completion(instance_id, timeout=120)
    finally:
        runner.remove_progress_listener(events.append)
    wall_seconds = time.monotonic() - wall_started

    assert status.output["status"] == "ok", status.output
    counts = status.output["counts"]
    assert counts["method"] == "bulk" and counts["operations"] == 2 and counts["polls"] >= 6
    assert counts["variants"] == len(stand_ins.store.variants)

    history = runner.get_history(instance_id)
    timers = [e for e in history if e["EventType"] == TIMER_CREATED]
    fired = [e for e in history if e["EventType"] == TIMER_FIRED]
    checks = [e for e in history if e["EventType"] == TASK_SCHEDULED and e["Name"] == "check_bulk_sync"]
    assert len(timers) == len(fired) == len(checks) == counts["polls"] >= 6
    # Every status check is scheduled in the episode that a timer's firing started.
    for check in checks:
        before = history[:history.index(check)]
        last_completion = next(e for e in reversed(before) if e["EventType"] in (TIMER_FIRED, 5, 6))
        assert last_completion["EventType"] == TIMER_FIRED
    # The wait happened in orchestration time (timers), not in wall time.
    started = parse_timestamp(history[0]["Timestamp"])
    waited = max(parse_timestamp(e["FireAt"]) for e in timers) - started
    assert waited >= timedelta(seconds=2 * (5 + 10 + 20))
    assert waited.total_seconds() > wall_seconds
    # No activity slept, and none took long: each one only asked and returned.
    assert activity_sleeps == []
    started_at = {}
    for event in events:
        if event.kind is ProgressKind.ACTIVITY_STARTED:
            started_at[(event.instance_id, event.task_id)] = event.at
        elif event.kind is ProgressKind.ACTIVITY_COMPLETED and event.instance_id == instance_id:
            assert (event.at - started_at[(event.instance_id, event.task_id)]).total_seconds() < 5, event.function_name

    row = step_row(run_id)
    assert (row["status"], row["attempts"]) == ("ok", 1)
    assert row["counts"]["method"] == "bulk" and row["counts"]["products"] == len(stand_ins.store.products)


def test_a_bulk_operation_denied_a_scope_fails_the_step_with_a_missing_scope_error(stand_ins, functions, bulk):
    runner, _, _ = functions
    bulk.settings.fail_next.append("ACCESS_DENIED")
    run_id = new_run(stand_ins.store.domain)
    before = len(bulk.operations)
    instance_id = start_sync(runner, stand_ins.store.domain, run_id)
    let_it_poll_then_complete(bulk, before, operations=1, polls_before_completion=1)
    status = runner.wait_for_completion(instance_id, timeout=120)
    assert status.output["status"] == "failed" and "scope" in status.output["error"]
    # A missing scope is permanent: the check was not retried, and no second operation was started.
    history = runner.get_history(instance_id)
    assert sum(1 for e in history if e["EventType"] == TASK_SCHEDULED and e["Name"] == "start_bulk_sync") == 1
    row = step_row(run_id)
    assert row["status"] == "failed" and "scope" in row["error"]


def test_an_operation_shopify_fails_on_its_side_is_started_once_more(stand_ins, functions, bulk):
    runner, _, _ = functions
    bulk.settings.fail_next.append("INTERNAL_SERVER_ERROR")
    run_id = new_run(stand_ins.store.domain)
    before = len(bulk.operations)
    instance_id = start_sync(runner, stand_ins.store.domain, run_id)
    let_it_poll_then_complete(bulk, before, operations=3, polls_before_completion=1)  # failed, again, then orders
    status = runner.wait_for_completion(instance_id, timeout=120)
    assert status.output["status"] == "ok", status.output
    assert status.output["counts"]["operations"] == 3
    statuses = [op.status for op in bulk.operations.values()][-3:]
    assert statuses == ["FAILED", "COMPLETED", "COMPLETED"]
    row = step_row(run_id)
    assert (row["status"], row["attempts"]) == ("ok", 2)  # each start of the catalogue read is an attempt


def test_polls_are_bounded_and_an_operation_still_running_is_cancelled(stand_ins, functions, bulk, monkeypatch):
    from orchestrations import sync_catalogue

    runner, _, _ = functions
    monkeypatch.setattr(sync_catalogue, "MAX_POLLS", 4)
    run_id = new_run(stand_ins.store.domain)
    instance_id = start_sync(runner, stand_ins.store.domain, run_id)
    status = runner.wait_for_completion(instance_id, timeout=120)  # the clock never moves: it never completes
    assert status.output["status"] == "failed"
    assert "did not finish after 4 status checks" in status.output["error"]
    assert status.output["counts"]["polls"] == 4
    assert [op.status for op in bulk.operations.values()][-1] == "CANCELED"
    assert step_row(run_id)["status"] == "failed"


def test_the_daily_pipeline_takes_the_bulk_path_for_a_large_full_sync(stand_ins, functions):
    runner, host, key = functions
    operations = stand_ins.emulator.shop(stand_ins.store.domain).bulk_operations
    saved, operations.settings.duration_seconds = operations.settings.duration_seconds, 0.05
    with transaction() as conn:
        conn.execute("UPDATE shops SET last_full_sync_at = NULL WHERE domain = %s", (stand_ins.store.domain,))
    try:
        outcome = run_and_wait(runner, host, key, stand_ins.store.domain, lambda line: None)
    finally:
        operations.settings.duration_seconds = saved
    assert outcome.ok and outcome.status == "completed", outcome
    history = runner.get_history(outcome.run_id)
    children = [e["Name"] for e in history if e["EventType"] == SUB_ORCHESTRATION_CREATED]
    assert "sync_catalogue" in children
    assert not any(e["EventType"] == TASK_SCHEDULED and e["Name"] == "sync_shopify" for e in history)
    row = step_row(outcome.run_id)
    assert (row["status"], row["attempts"], row["counts"]["method"]) == ("ok", 1, "bulk")
    with transaction() as conn:
        shop = conn.execute("SELECT last_full_sync_at FROM shops WHERE domain = %s", (stand_ins.store.domain,)).fetchone()
    assert shop["last_full_sync_at"] is not None  # the next run is incremental again
