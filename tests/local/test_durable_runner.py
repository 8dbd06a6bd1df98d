"""LocalDurableRunner against small toy apps: the SDK's replay engine, driven like the host drives it."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func
import pytest

from shared.local.durable import (
    InstanceAlreadyExistsError,
    LocalDurableRunner,
    NonDeterminismError,
    ProgressKind,
    RuntimeStatus,
    parse_timestamp,
)

# History event codes (azure.durable_functions HistoryEventType).
EXECUTION_STARTED, EXECUTION_COMPLETED = 0, 1
TASK_SCHEDULED, TASK_COMPLETED, TASK_FAILED = 4, 5, 6
SUB_CREATED, SUB_COMPLETED = 7, 8
TIMER_CREATED, TIMER_FIRED = 10, 11
ORCHESTRATOR_STARTED, ORCHESTRATOR_COMPLETED = 12, 13

HOUR_MS = 3_600_000

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
counters: dict[str, int] = {}
fan_out_barrier = threading.Barrier(3, timeout=30)  # only passes if 3 activities run at once


def _count(key: str) -> int:
    counters[key] = counters.get(key, 0) + 1
    return counters[key]


@pytest.fixture(autouse=True)
def _reset_counters():
    counters.clear()
    fan_out_barrier.reset()


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    items = context.get_input()
    context.set_custom_status({"stage": "squaring", "count": len(items)})
    squares = yield context.task_all([context.call_activity("square_together", n) for n in items])
    total = yield context.call_activity("add", squares)
    context.set_custom_status({"stage": "done"})
    return {"squares": squares, "total": total}


@app.activity_trigger(input_name="n")
def square_together(n: int) -> int:
    fan_out_barrier.wait()
    return n * n


@app.activity_trigger(input_name="numbers")
async def add(numbers: list) -> int:  # an async activity, run with asyncio in the worker thread
    return sum(numbers)


@app.orchestration_trigger(context_name="context")
def retrying(context: df.DurableOrchestrationContext):
    before = context.current_utc_datetime
    value = yield context.call_activity_with_retry("flaky", df.RetryOptions(HOUR_MS, 5), "payload")
    after = context.current_utc_datetime
    return {"value": value, "orchestration_seconds": (after - before).total_seconds()}


@app.activity_trigger(input_name="text")
def flaky(text: str) -> str:
    if _count("flaky") <= 2:
        raise ConnectionError(f"transient failure #{counters['flaky']}")
    return text.upper()


@app.orchestration_trigger(context_name="context")
def hopeless(context: df.DurableOrchestrationContext):
    yield context.call_activity_with_retry("always_broken", df.RetryOptions(1000, 3), {"sku": "A-1"})
    return "unreachable"


@app.activity_trigger(input_name="item")
def always_broken(item: dict) -> None:
    _count("always_broken")
    raise ValueError(f"supplier API rejected {item['sku']}")


@app.orchestration_trigger(context_name="context")
def per_branch(context: df.DurableOrchestrationContext):
    branches = [context.call_sub_orchestrator("branch", name) for name in context.get_input()]
    return (yield context.task_all(branches))


@app.orchestration_trigger(context_name="context")
def branch(context: df.DurableOrchestrationContext):
    name = context.get_input()
    try:
        value = yield context.call_activity("maybe_fail", name)
        return {"branch": name, "value": value}
    except Exception as error:  # the branch contains its own failure
        return {"branch": name, "error": str(error).split(" \n ")[0]}


@app.activity_trigger(input_name="name")
def maybe_fail(name: str) -> str:
    if name == "bad":
        raise RuntimeError("branch bad exploded")
    return f"ok:{name}"


@app.orchestration_trigger(context_name="context")
def fickle(context: df.DurableOrchestrationContext):
    # Module-level state in an orchestrator: the classic non-determinism bug.
    first = "add" if _count("fickle") == 1 else "square_together"
    yield context.call_activity(first, [1])
    yield context.call_activity("add", [2])
    return "never"


@app.orchestration_trigger(context_name="context")
def raising(context: df.DurableOrchestrationContext):
    yield context.call_activity("add", [1, 2])
    raise LookupError("no shop configured for this run")


@app.orchestration_trigger(context_name="context")
def sleepy(context: df.DurableOrchestrationContext):
    start = context.current_utc_datetime
    yield context.create_timer(start + timedelta(days=1))
    return (context.current_utc_datetime - start).total_seconds()


@app.orchestration_trigger(context_name="context")
def looping(context: df.DurableOrchestrationContext):
    round_number = context.get_input()
    yield context.call_activity("add", [round_number])
    if round_number < 3:
        context.continue_as_new(round_number + 1)
        return None
    return f"finished after round {round_number}"


release_blocked = threading.Event()
blocked_started = threading.Event()


@app.orchestration_trigger(context_name="context")
def waits_on_activity(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("blocking", 7))


@app.activity_trigger(input_name="n")
def blocking(n: int) -> int:
    if _count("blocking") == 1:
        blocked_started.set()
        release_blocked.wait(timeout=30)
    return n + 1


@pytest.fixture
def runner(tmp_path):
    with LocalDurableRunner(app, tmp_path / "durable") as instance:
        yield instance


def _events(history, event_type, **fields):
    return [e for e in history if e["EventType"] == event_type and all(e.get(k) == v for k, v in fields.items())]


def test_fan_out_runs_activities_concurrently_and_writes_host_like_history(runner):
    status = runner.run_new("fan_out", "fan-1", [2, 3, 4])

    assert status.runtime_status is RuntimeStatus.Completed, status.failure
    assert status.output == {"squares": [4, 9, 16], "total": 29}
    assert status.custom_status == {"stage": "done"}
    history = runner.get_history("fan-1")
    assert [e["EventType"] for e in history[:2]] == [ORCHESTRATOR_STARTED, EXECUTION_STARTED]
    assert history[1]["Name"] == "fan_out" and history[1]["Version"] == ""
    scheduled = _events(history, TASK_SCHEDULED)
    assert [(e["EventId"], e["Name"], e["Input"]) for e in scheduled] == [
        (0, "square_together", "2"),
        (1, "square_together", "3"),
        (2, "square_together", "4"),
        (3, "add", "[4, 9, 16]"),
    ]
    assert sorted(e["TaskScheduledId"] for e in _events(history, TASK_COMPLETED)) == [0, 1, 2, 3]
    # One completion per episode: every TaskCompleted opens its own episode.
    for event in _events(history, TASK_COMPLETED):
        assert history[history.index(event) - 1]["EventType"] == ORCHESTRATOR_STARTED
    assert len(_events(history, ORCHESTRATOR_STARTED)) == len(_events(history, ORCHESTRATOR_COMPLETED)) == 5
    assert history[-2]["EventType"] == EXECUTION_COMPLETED and history[-2]["OrchestrationStatus"] == "Completed"
    assert json.loads(history[-2]["Result"]) == status.output
    assert all(parse_timestamp(e["Timestamp"]).tzinfo is not None for e in history)


def test_retry_fails_twice_then_succeeds_on_the_virtual_clock(runner):
    wall_start = time.monotonic()
    status = runner.run_new("retrying", "retry-1")
    wall_seconds = time.monotonic() - wall_start

    assert status.runtime_status is RuntimeStatus.Completed, status.failure
    assert status.output["value"] == "PAYLOAD"
    assert counters["flaky"] == 3
    history = runner.get_history("retry-1")
    assert len(_events(history, TASK_SCHEDULED, Name="flaky")) == 3
    failures = _events(history, TASK_FAILED)
    assert [f["Reason"] for f in failures] == ["transient failure #1", "transient failure #2"]
    assert "ConnectionError" in failures[0]["Details"]
    # Host retry protocol: TaskFailed + TimerCreated(now + interval), TimerFired, new TaskScheduled.
    timers = _events(history, TIMER_CREATED)
    assert len(timers) == 2 and len(_events(history, TIMER_FIRED)) == 2
    for failure, timer in zip(failures, timers, strict=True):
        episode_start = max(
            (e for e in history[: history.index(failure)] if e["EventType"] == ORCHESTRATOR_STARTED),
            key=history.index,
        )
        assert parse_timestamp(timer["FireAt"]) - parse_timestamp(episode_start["Timestamp"]) == timedelta(hours=1)
    assert [e["EventId"] for e in _events(history, TASK_SCHEDULED)] == [0, 2, 4]
    assert [e["EventId"] for e in timers] == [1, 3]
    # The orchestration saw two hours pass; the test did not wait for them.
    assert status.output["orchestration_seconds"] >= 2 * 3600
    assert wall_seconds < 600


def test_activity_failing_past_max_attempts_fails_the_instance(runner):
    status = runner.run_new("hopeless", "hopeless-1")

    assert status.runtime_status is RuntimeStatus.Failed
    assert status.failure.message.startswith("supplier API rejected A-1")
    assert "$OutOfProcData$" not in status.failure.message
    assert counters["always_broken"] == 3
    history = runner.get_history("hopeless-1")
    assert len(_events(history, TASK_SCHEDULED, Name="always_broken")) == 3
    # The "extra" timer: one after every failed attempt, the last one included.
    assert len(_events(history, TIMER_CREATED)) == len(_events(history, TIMER_FIRED)) == 3
    assert history[-2]["OrchestrationStatus"] == "Failed"


def test_sub_orchestration_per_branch_contains_its_own_failure(runner):
    status = runner.run_new("per_branch", "parent", ["a", "bad", "c"])

    assert status.runtime_status is RuntimeStatus.Completed, status.failure
    assert status.output == [
        {"branch": "a", "value": "ok:a"},
        {"branch": "bad", "error": "branch bad exploded"},
        {"branch": "c", "value": "ok:c"},
    ]
    history = runner.get_history("parent")
    children = [e["InstanceId"] for e in _events(history, SUB_CREATED)]
    assert children == ["parent:0", "parent:1", "parent:2"]  # deterministic child IDs
    assert len(_events(history, SUB_COMPLETED)) == 3
    child = runner.get_status("parent:1", include_history=True)
    assert child.parent_instance_id == "parent"
    assert _events(child.history, TASK_FAILED)[0]["Reason"] == "branch bad exploded"


def test_non_deterministic_orchestrator_is_caught(runner):
    status = runner.run_new("fickle", "fickle-1")

    assert status.runtime_status is RuntimeStatus.Failed
    with pytest.raises(NonDeterminismError) as caught:
        status.raise_for_status()
    message = str(caught.value)
    assert "action #0" in message
    assert "CallActivity('add', input=[1])" in message
    assert "CallActivity('square_together', input=[1])" in message


def test_orchestrator_exception_fails_with_its_own_message(runner):
    status = runner.run_new("raising", "raising-1")

    assert status.runtime_status is RuntimeStatus.Failed
    assert status.failure.message == "no shop configured for this run"
    assert status.failure.error_type == "LookupError"
    assert status.output == "Orchestrator function 'raising' failed: no shop configured for this run"


def test_timer_fires_at_once_but_moves_the_orchestration_clock(runner):
    status = runner.run_new("sleepy", "sleepy-1")

    assert status.runtime_status is RuntimeStatus.Completed
    assert status.output >= 86400


def test_continue_as_new_restarts_with_fresh_history(runner):
    status = runner.run_new("looping", "loop-1", 1)

    assert status.output == "finished after round 3"
    history = runner.get_history("loop-1")
    assert len(_events(history, EXECUTION_STARTED)) == 1
    assert history[1]["Input"] == "3"


def test_history_is_persisted_for_a_second_runner_and_replays(tmp_path):
    state = tmp_path / "durable"
    with LocalDurableRunner(app, state) as first:
        first.run_new("per_branch", "shared-run", ["a", "bad"])

    with LocalDurableRunner(app, state) as second:
        status = second.get_status("shared-run")
        assert status.runtime_status is RuntimeStatus.Completed
        assert {s.instance_id for s in second.list_instances()} == {"shared-run", "shared-run:0", "shared-run:1"}
        report = second.replay("shared-run")
        assert report.episodes == 3 and report.actions == 2
        assert second.replay("shared-run:1").runtime_status is RuntimeStatus.Completed
    assert not list(state.glob(".tmp-*"))  # atomic writes leave no temp files behind


def test_replay_detects_changed_orchestrator_code(tmp_path):
    state = tmp_path / "durable"
    with LocalDurableRunner(app, state) as original:
        original.run_new("fan_out", "to-change", [1, 2, 3])

    changed_app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @changed_app.orchestration_trigger(context_name="context", orchestration="fan_out")
    def fan_out_v2(context):
        items = context.get_input()
        squares = yield context.task_all([context.call_activity("square_together", n) for n in reversed(items)])
        return squares

    with LocalDurableRunner(changed_app, state) as replayer, pytest.raises(NonDeterminismError, match="action #0"):
        replayer.replay("to-change")


def test_start_new_refuses_a_running_id_and_replaces_a_finished_one(runner):
    runner.start_new("sleepy", "singleton")
    with pytest.raises(InstanceAlreadyExistsError):
        runner.start_new("sleepy", "singleton")
    runner.run("singleton")
    runner.start_new("fan_out", "singleton", [])
    assert runner.get_status("singleton").runtime_status is RuntimeStatus.Pending
    assert runner.get_status("singleton").name == "fan_out"


def test_terminate_and_purge(runner):
    runner.start_new("sleepy", "doomed")
    assert runner.terminate("doomed", "no longer needed") is True
    status = runner.get_status("doomed")
    assert status.runtime_status is RuntimeStatus.Terminated and status.output == "no longer needed"
    assert runner.terminate("doomed") is False
    assert runner.purge("doomed") is True
    assert runner.get_status("doomed") is None


def test_progress_hook_reports_activities_and_custom_status(tmp_path):
    seen = []
    with LocalDurableRunner(app, tmp_path / "durable", on_progress=seen.append) as runner:
        runner.run_new("fan_out", "watched", [1, 2, 3])
    kinds = [e.kind for e in seen]
    assert kinds.count(ProgressKind.ACTIVITY_STARTED) == kinds.count(ProgressKind.ACTIVITY_COMPLETED) == 4
    assert [e.detail for e in seen if e.kind is ProgressKind.CUSTOM_STATUS] == [
        {"stage": "squaring", "count": 3},
        {"stage": "done"},
    ]
    assert kinds[0] is ProgressKind.INSTANCE_STARTED and kinds[-1] is ProgressKind.INSTANCE_COMPLETED
    assert "square_together" in next(e for e in seen if e.kind is ProgressKind.ACTIVITY_STARTED).describe()


def test_an_instance_left_running_resumes_in_another_runner(tmp_path):
    state = tmp_path / "durable"
    release_blocked.clear()
    blocked_started.clear()
    first = LocalDurableRunner(app, state)
    first.start_new("waits_on_activity", "crashy")
    first.start_in_background("crashy")
    assert blocked_started.wait(timeout=30)
    first.close()  # the process "dies" while the activity is in flight
    release_blocked.set()
    assert first.get_status("crashy").runtime_status is RuntimeStatus.Running

    with LocalDurableRunner(app, state) as second:
        status = second.run("crashy")
    assert status.runtime_status is RuntimeStatus.Completed and status.output == 8
    assert counters["blocking"] == 2  # at-least-once: the lost attempt ran again
