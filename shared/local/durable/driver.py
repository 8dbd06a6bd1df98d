"""The episode loop for one instance: run an episode, execute its new actions, wait for ONE completion, repeat.

Retries, timers, sub-orchestration bookkeeping, continue-as-new, termination and the
per-episode non-determinism check all happen here; the runner supplies the activity pool,
child instances, persistence and progress listeners.
"""

from __future__ import annotations

import functools
import json
import logging
import queue
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from azure.durable_functions.models.actions.ActionType import ActionType

from shared.local.durable.clock import OrchestrationClock
from shared.local.durable.determinism import first_divergence, non_determinism_message
from shared.local.durable.errors import format_exception, shorten
from shared.local.durable.history import Events, format_timestamp, parse_timestamp
from shared.local.durable.models import (
    ACTIVE_STATUSES,
    NON_DETERMINISM,
    FailureInfo,
    ProgressEvent,
    ProgressKind,
    RuntimeStatus,
)
from shared.local.durable.store import InstanceRecord, PendingTask, RetryGroup, TaskKind
from shared.local.durable.worker import run_orchestrator
from shared.local.function_index import OrchestratorEntry, UnknownFunctionError

if TYPE_CHECKING:
    from shared.local.durable.runner import LocalDurableRunner

log = logging.getLogger(__name__)

_SUPPORTED_ACTIONS = frozenset(
    {
        ActionType.CALL_ACTIVITY,
        ActionType.CALL_ACTIVITY_WITH_RETRY,
        ActionType.CALL_SUB_ORCHESTRATOR,
        ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY,
        ActionType.CREATE_TIMER,
        ActionType.CONTINUE_AS_NEW,
    }
)


@dataclass(frozen=True)
class TaskResult:
    """An activity or sub-orchestration finished."""

    execution_id: str
    task_id: int
    ok: bool
    result_json: str | None = None
    reason: str = ""
    details: str = ""
    clock_at_finish: datetime | None = None  # a child's orchestration clock; parents catch up


@dataclass(frozen=True)
class TimerDue:
    task_id: int


@dataclass(frozen=True)
class Terminate:
    reason: str


@dataclass(frozen=True)
class Stop:
    """The runner is closing: stop driving, leave the instance resumable."""


Message = TaskResult | TimerDue | Terminate | Stop


def child_result(execution_id: str, task_id: int, child: InstanceRecord) -> TaskResult:
    """The message that tells a parent how its finished sub-orchestration ended."""
    clock_at_finish = child.last_updated_time + child.clock_offset
    if child.runtime_status is RuntimeStatus.Completed:
        return TaskResult(
            execution_id, task_id, ok=True, result_json=json.dumps(child.output), clock_at_finish=clock_at_finish
        )
    if child.runtime_status is RuntimeStatus.Failed and child.failure is not None:
        reason = f"Orchestrator function '{child.name}' failed: {child.failure.message}"
        return TaskResult(
            execution_id,
            task_id,
            ok=False,
            reason=reason,
            details=child.failure.details,
            clock_at_finish=clock_at_finish,
        )
    reason = f"Orchestrator function '{child.name}' was {child.runtime_status.value.lower()}: {child.output}"
    return TaskResult(execution_id, task_id, ok=False, reason=reason, clock_at_finish=clock_at_finish)


class _ExternallyTerminated(Exception):
    """Another process terminated the instance this driver was running."""


class _Stalled(Exception):
    """The orchestrator waits but nothing that could complete is outstanding."""


class InstanceDriver:
    """Drives one instance: episode, execute new actions, wait for ONE completion, repeat."""

    def __init__(self, runner: LocalDurableRunner, record: InstanceRecord) -> None:
        self._runner = runner
        self._rec = record
        self._inbox: queue.Queue[Message] = queue.Queue()
        self._clock = OrchestrationClock(record.clock_offset)
        self._entry: OrchestratorEntry | None = None
        self._needs_new_execution = record.runtime_status is RuntimeStatus.Pending
        self.finished = threading.Event()

    @property
    def instance_id(self) -> str:
        return self._rec.instance_id

    @property
    def orchestration_name(self) -> str:
        return self._rec.name

    @property
    def clock(self) -> OrchestrationClock:
        return self._clock

    @property
    def execution_id(self) -> str:
        return self._rec.execution_id

    def post(self, message: Message) -> None:
        self._inbox.put(message)

    def drive(self) -> None:
        rec = self._rec
        try:
            self._entry = self._runner.index.orchestrator(rec.name)
            if not self._needs_new_execution:
                self._redispatch_pending()
            while rec.runtime_status in ACTIVE_STATUSES:
                if self._needs_new_execution:
                    self._needs_new_execution = False
                    self._start_execution()
                    continue
                message = self._next_message()
                if isinstance(message, Stop):
                    rec.owner = None
                    self._persist()
                    return
                if isinstance(message, Terminate):
                    self._terminate(message.reason)
                else:
                    self._deliver(message)
        except _ExternallyTerminated:
            log.info("instance %s was terminated by another process", rec.instance_id)
        except _Stalled:
            self._fail(
                FailureInfo(
                    "The orchestrator is waiting, but nothing it could be waiting for is scheduled "
                    "(external events, entities and durable HTTP are not supported by the local runner).",
                    error_type="LocalRunnerError",
                )
            )
        except UnknownFunctionError as exc:
            self._fail(FailureInfo(str(exc), error_type="UnknownFunctionError"))
        except Exception as exc:  # a runner bug must fail the instance, never hang it
            log.exception("local durable runner error in instance %s", rec.instance_id)
            self._fail(FailureInfo(f"Local durable runner error: {exc}", format_exception(exc), "LocalRunnerError"))
        finally:
            # Deregister before signalling, so whoever waited can reuse the ID at once.
            try:
                self._runner._driver_finished(self, rec)
            finally:
                self.finished.set()

    # -- episodes ---------------------------------------------------------------------

    def _start_execution(self) -> None:
        rec = self._rec
        rec.runtime_status = RuntimeStatus.Running
        now = self._clock.now()
        self._emit(ProgressKind.INSTANCE_STARTED)
        self._episode(now, [Events.execution_started(now, rec)], [], [])

    def _episode(
        self,
        now: datetime,
        new_events: list[dict[str, Any]],
        host_events: list[dict[str, Any]],
        dispatches: list[Callable[[], None]],
    ) -> None:
        """Deliver `new_events`, run the orchestrator once, then act on what it scheduled.

        `host_events` are what the host decided while processing the delivered event (a retry
        timer or a retry's TaskScheduled); their IDs were taken before the orchestrator ran,
        which is also when the SDK numbers them.
        """
        rec = self._rec
        assert self._entry is not None
        for event in rec.history:
            event["IsPlayed"] = True
        rec.history.append(Events.orchestrator_started(now))
        rec.history.extend(new_events)
        outcome = run_orchestrator(self._entry, rec, rec.history)

        actions = outcome.actions
        if actions is not None:
            divergence = first_divergence(rec.actions, actions)
            if divergence is not None:
                self._fail(FailureInfo(non_determinism_message(rec, divergence), "", NON_DETERMINISM), now)
                return
        rec.history.extend(host_events)
        if outcome.failure is not None:
            self._fail(outcome.failure, now)
            return
        assert outcome.state is not None and actions is not None

        custom_status = outcome.state.get("customStatus")
        if custom_status != rec.custom_status:
            rec.custom_status = custom_status
            self._emit(ProgressKind.CUSTOM_STATUS, detail=custom_status)

        new_actions = actions[len(rec.actions) :]
        unsupported = [a for a in new_actions if a.get("actionType") not in _SUPPORTED_ACTIONS]
        if unsupported:
            kinds = sorted({ActionType(a["actionType"]).name for a in unsupported})
            self._fail(
                FailureInfo(f"The local durable runner does not support {', '.join(kinds)}.", "", "LocalRunnerError"),
                now,
            )
            return
        for action in new_actions:
            dispatches.extend(self._schedule(action, now))
        rec.actions = actions
        self._apply_cancellations(actions)

        if outcome.is_done:
            continue_as_new = next((a for a in new_actions if a["actionType"] == ActionType.CONTINUE_AS_NEW), None)
            if continue_as_new is not None:
                self._continue_as_new(continue_as_new.get("input"), now)
            else:
                self._complete(outcome.state.get("output"), now)
            return
        rec.history.append(Events.orchestrator_completed(now))
        self._persist()
        # Dispatch only after the history that mentions the work is on disk (resume re-runs it).
        for dispatch in dispatches:
            dispatch()

    def _schedule(self, action: Mapping[str, Any], now: datetime) -> list[Callable[[], None]]:
        """Record one new action in history and pending work; return what to start."""
        rec = self._rec
        kind = ActionType(action["actionType"])
        if kind is ActionType.CONTINUE_AS_NEW:
            rec.action_task_ids.append(None)
            return []
        task_id = self._allocate_id()
        rec.action_task_ids.append(task_id)
        retry_options = action.get("retryOptions")
        group_key: int | None = None

        if kind is ActionType.CREATE_TIMER:
            fire_at = parse_timestamp(action["fireAt"])
            rec.history.append(Events.timer_created(now, task_id, fire_at))
            rec.pending[task_id] = PendingTask(
                task_id, TaskKind.TIMER, fire_at=action["fireAt"], cancelled=bool(action.get("isCanceled"))
            )
            self._emit(ProgressKind.TIMER_CREATED, task_id=task_id, detail=f"fires at {action['fireAt']}")
            return []

        name = action["functionName"]
        input_json = action.get("input")
        if kind in (ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY):
            task_kind = TaskKind.ACTIVITY
            rec.history.append(Events.task_scheduled(now, task_id, name, input_json))
            child_id = None
        else:
            task_kind = TaskKind.SUB_ORCHESTRATION
            child_id = action.get("instanceId") or self._child_instance_id(task_id)
            rec.history.append(Events.sub_orchestration_created(now, task_id, name, child_id, input_json))
        if retry_options:
            group_key = task_id
            rec.retry_groups[task_id] = RetryGroup(
                key=task_id,
                kind=task_kind,
                name=name,
                input=input_json,
                first_retry_interval_ms=int(retry_options["firstRetryIntervalInMilliseconds"]),
                max_attempts=int(retry_options["maxNumberOfAttempts"]),
                explicit_instance_id=action.get("instanceId"),
                version=action.get("version"),
            )
        task = PendingTask(
            task_id, task_kind, name=name, input=input_json, retry_group=group_key, child_instance_id=child_id
        )
        rec.pending[task_id] = task
        return [functools.partial(self._dispatch, task, action.get("version"))]

    def _deliver(self, message: TaskResult | TimerDue) -> None:
        """Turn one completion into history events and run one episode with it."""
        rec = self._rec
        if isinstance(message, TimerDue):
            timer = rec.pending.pop(message.task_id)
            now = self._clock.now()
            self._emit(ProgressKind.TIMER_FIRED, task_id=timer.task_id)
            host_events, dispatches = self._after_retry_timer(timer, now)
            self._episode(now, [Events.timer_fired(now, timer.task_id, timer.fire_time)], host_events, dispatches)
            return

        task = rec.pending.get(message.task_id)
        if message.execution_id != rec.execution_id or task is None or task.kind is TaskKind.TIMER:
            return  # a straggler from before continue-as-new or a resume: the host drops it too
        del rec.pending[message.task_id]
        if message.clock_at_finish is not None:
            self._clock.advance_to(message.clock_at_finish)
        now = self._clock.now()
        event = self._completion_event(task, message, now)
        retry_events: list[dict[str, Any]] = []
        group = rec.retry_groups.get(task.retry_group) if task.retry_group is not None else None
        if group is not None:
            if message.ok:
                del rec.retry_groups[group.key]
            else:
                # DTFx's retry interceptor: after EVERY failed attempt, the last one included,
                # a timer at now + interval (1.7.0 has no backoff coefficient, so it is constant).
                timer_id = self._allocate_id()
                fire_at = now + timedelta(milliseconds=group.first_retry_interval_ms)
                retry_events.append(Events.timer_created(now, timer_id, fire_at))
                rec.pending[timer_id] = PendingTask(
                    timer_id, TaskKind.TIMER, fire_at=format_timestamp(fire_at), retry_group=group.key
                )
                self._emit(
                    ProgressKind.TIMER_CREATED,
                    task_id=timer_id,
                    detail=f"retry of {group.name} at {format_timestamp(fire_at)}",
                )
        self._episode(now, [event], retry_events, [])

    def _completion_event(self, task: PendingTask, message: TaskResult, now: datetime) -> dict[str, Any]:
        if task.kind is TaskKind.ACTIVITY:
            if message.ok:
                return Events.task_completed(now, task.task_id, message.result_json or "null")
            return Events.task_failed(now, task.task_id, message.reason, message.details)
        progress = ProgressKind.SUB_ORCHESTRATION_COMPLETED if message.ok else ProgressKind.SUB_ORCHESTRATION_FAILED
        self._emit(progress, function_name=task.name, task_id=task.task_id, detail=task.child_instance_id)
        if message.ok:
            return Events.sub_orchestration_completed(now, task.task_id, message.result_json or "null")
        return Events.sub_orchestration_failed(now, task.task_id, message.reason, message.details)

    def _after_retry_timer(
        self, timer: PendingTask, now: datetime
    ) -> tuple[list[dict[str, Any]], list[Callable[[], None]]]:
        """A retry timer fired: reschedule the attempt, or (after the last one) let the SDK fail it."""
        rec = self._rec
        if timer.retry_group is None or timer.retry_group not in rec.retry_groups:
            return [], []
        group = rec.retry_groups[timer.retry_group]
        if group.attempts >= group.max_attempts:
            del rec.retry_groups[group.key]  # the "extra" timer has fired; the SDK throws now
            return [], []
        task_id = self._allocate_id()
        group.attempts += 1
        if group.kind is TaskKind.ACTIVITY:
            child_id = None
            event = Events.task_scheduled(now, task_id, group.name, group.input)
        else:
            child_id = group.explicit_instance_id or self._child_instance_id(task_id)
            event = Events.sub_orchestration_created(now, task_id, group.name, child_id, group.input)
        task = PendingTask(
            task_id,
            group.kind,
            name=group.name,
            input=group.input,
            retry_group=group.key,
            attempt=group.attempts,
            child_instance_id=child_id,
        )
        rec.pending[task_id] = task
        return [event], [functools.partial(self._dispatch, task, group.version)]

    def _apply_cancellations(self, actions: Sequence[Mapping[str, Any]]) -> None:
        for action, task_id in zip(actions, self._rec.action_task_ids, strict=True):
            if action.get("actionType") == ActionType.CREATE_TIMER and action.get("isCanceled"):
                timer = self._rec.pending.get(task_id) if task_id is not None else None
                if timer is not None:
                    timer.cancelled = True

    # -- waiting ----------------------------------------------------------------------

    def _next_message(self) -> Message:
        """The next completion to deliver, in the order the orchestration clock allows.

        Outstanding activities and sub-orchestrations are let finish before a virtual timer
        fires: a timer never fires before its FireAt in orchestration time, and a timeout
        raced against real work (task_any([work, timer])) is not lost to an instant timer.
        """
        rec = self._rec
        while True:
            try:
                return self._inbox.get_nowait()
            except queue.Empty:
                pass
            timers = [t for t in rec.pending.values() if t.kind is TaskKind.TIMER and not t.cancelled]
            timer = min(timers, key=lambda t: (t.fire_time, t.task_id), default=None)
            now = self._clock.now()
            if timer is not None and timer.fire_time <= now:
                return TimerDue(timer.task_id)
            busy = any(t.kind is not TaskKind.TIMER for t in rec.pending.values())
            real_wait = None
            if timer is not None and self._runner.real_timers:
                real_wait = max(0.0, (timer.fire_time - now).total_seconds())
            if busy or real_wait is not None:
                try:
                    return self._inbox.get(timeout=real_wait)
                except queue.Empty:
                    continue
            if timer is not None:
                self._clock.advance_to(timer.fire_time)
                return TimerDue(timer.task_id)
            # Nothing can complete; only a terminate or stop could still arrive.
            try:
                return self._inbox.get(timeout=0.05)
            except queue.Empty:
                raise _Stalled() from None

    # -- endings ----------------------------------------------------------------------

    def _complete(self, output: Any, now: datetime) -> None:
        rec = self._rec
        rec.runtime_status = RuntimeStatus.Completed
        rec.output = output
        rec.pending.clear()
        rec.history.append(Events.execution_completed(now, RuntimeStatus.Completed, json.dumps(output)))
        rec.history.append(Events.orchestrator_completed(now))
        self._persist()
        self._emit(ProgressKind.INSTANCE_COMPLETED, detail=shorten(json.dumps(output), 300))

    def _fail(self, failure: FailureInfo, now: datetime | None = None) -> None:
        rec = self._rec
        now = now or self._clock.now()
        rec.runtime_status = RuntimeStatus.Failed
        rec.failure = failure
        # The status API reports a failed instance's output as the extension words it.
        rec.output = f"Orchestrator function '{rec.name}' failed: {failure.message}"
        rec.pending.clear()
        rec.history.append(Events.execution_completed(now, RuntimeStatus.Failed, json.dumps(rec.output), failure))
        rec.history.append(Events.orchestrator_completed(now))
        try:
            self._persist()
        except _ExternallyTerminated:
            return
        self._emit(ProgressKind.INSTANCE_FAILED, detail=failure.message)

    def _terminate(self, reason: str) -> None:
        rec = self._rec
        now = self._clock.now()
        rec.runtime_status = RuntimeStatus.Terminated
        rec.output = reason
        rec.pending.clear()
        rec.history.append(Events.orchestrator_started(now))
        rec.history.append(Events.execution_terminated(now, reason))
        rec.history.append(Events.execution_completed(now, RuntimeStatus.Terminated, json.dumps(reason)))
        rec.history.append(Events.orchestrator_completed(now))
        self._persist()
        self._emit(ProgressKind.INSTANCE_TERMINATED, detail=reason)

    def _continue_as_new(self, input_json: str | None, now: datetime) -> None:
        rec = self._rec
        rec.input = input_json
        rec.execution_id = uuid.uuid4().hex
        rec.history, rec.actions, rec.action_task_ids = [], [], []
        rec.pending, rec.retry_groups = {}, {}
        rec.next_event_id = 0
        self._needs_new_execution = True
        self._persist()

    # -- helpers ----------------------------------------------------------------------

    def _allocate_id(self) -> int:
        task_id = self._rec.next_event_id
        self._rec.next_event_id += 1
        return task_id

    def _child_instance_id(self, task_id: int) -> str:
        # Deterministic: the same parent always names the same child the same way.
        return f"{self._rec.instance_id}:{task_id}"

    def _dispatch(self, task: PendingTask, version: str | None, resume: bool = False) -> None:
        if task.kind is TaskKind.ACTIVITY:
            self._runner._submit_activity(self, self._rec.execution_id, task)
        else:
            self._runner._start_child(self, self._rec.execution_id, task, version, resume)

    def _redispatch_pending(self) -> None:
        """Resume after a crash: re-run unfinished activities and re-attach children."""
        self._rec.owner = self._runner._owner_tag()
        self._persist()
        for task in list(self._rec.pending.values()):
            if task.kind is not TaskKind.TIMER:
                self._dispatch(task, None, resume=True)

    def _persist(self) -> None:
        rec = self._rec
        rec.clock_offset = self._clock.offset
        on_disk = self._runner._store.load(rec.instance_id)
        if (
            on_disk is not None
            and on_disk.runtime_status is RuntimeStatus.Terminated
            and rec.runtime_status is not RuntimeStatus.Terminated
        ):
            raise _ExternallyTerminated()
        self._runner._store.save(rec)

    def _emit(self, kind: ProgressKind, **fields: Any) -> None:
        self._runner._emit(ProgressEvent(kind, self._rec.instance_id, self._rec.name, **fields))
