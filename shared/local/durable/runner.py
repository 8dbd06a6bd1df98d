"""The public `LocalDurableRunner`: instance lifecycle, the activity thread pool, child instances, progress events."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from azure.durable_functions.models.utils.df_serialization import df_dumps
from azure.functions.decorators.function_app import FunctionRegister

from shared.local.durable.clock import utcnow
from shared.local.durable.determinism import replay_record
from shared.local.durable.driver import InstanceDriver, Stop, TaskResult, Terminate, child_result
from shared.local.durable.errors import (
    DurableRunnerError,
    InstanceAlreadyExistsError,
    InstanceNotFoundError,
    InvalidInstanceStateError,
    format_user_exception,
)
from shared.local.durable.history import Events
from shared.local.durable.models import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    InstanceStatus,
    ProgressEvent,
    ProgressKind,
    ProgressListener,
    ReplayReport,
    RuntimeStatus,
)
from shared.local.durable.store import InstanceRecord, InstanceStore, PendingTask
from shared.local.durable.worker import invoke_activity
from shared.local.function_index import FunctionIndex, UnknownFunctionError

log = logging.getLogger(__name__)


class LocalDurableRunner:
    """Runs an app's orchestrations in-process, persisting every instance under `state_dir`.

    Timers use a virtual clock by default (they fire as soon as nothing else is outstanding,
    and the orchestration clock jumps to their FireAt); `real_timers=True` really waits.
    """

    def __init__(
        self,
        app: FunctionRegister | FunctionIndex,
        state_dir: str | os.PathLike[str],
        *,
        max_activity_workers: int = 8,
        real_timers: bool = False,
        on_progress: ProgressListener | None = None,
    ) -> None:
        self.index = app if isinstance(app, FunctionIndex) else FunctionIndex.of(app)
        self.real_timers = real_timers
        self._store = InstanceStore(Path(state_dir))
        self._pool = ThreadPoolExecutor(max_workers=max_activity_workers, thread_name_prefix="durable-activity")
        self._lock = threading.RLock()
        self._drivers: dict[str, InstanceDriver] = {}
        self._watchers: dict[str, list[Callable[[InstanceRecord], None]]] = {}
        self._listeners: list[ProgressListener] = [on_progress] if on_progress else []
        self._runner_id = uuid.uuid4().hex
        self._closed = False
        self._held: list[str] | None = None

    @property
    def state_dir(self) -> Path:
        return self._store.directory

    def __enter__(self) -> LocalDurableRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop driving instances (they stay Running on disk and can be resumed by `run`)."""
        with self._lock:
            self._closed = True
            drivers = list(self._drivers.values())
        for driver in drivers:
            driver.post(Stop())
        for driver in drivers:
            driver.finished.wait(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def add_progress_listener(self, listener: ProgressListener) -> None:
        self._listeners.append(listener)

    def remove_progress_listener(self, listener: ProgressListener) -> None:
        self._listeners.remove(listener)

    # -- starting and running ---------------------------------------------------------

    def start_new(self, name: str, instance_id: str | None = None, input: Any = None) -> str:
        """Create a Pending instance (not yet running); returns its ID.

        Refuses an ID whose instance is Pending or Running (the host's NonRunningStates
        policy); a finished instance with that ID is replaced.
        """
        return self.start_new_serialized(name, instance_id, None if input is None else df_dumps(input))

    def start_new_serialized(self, name: str, instance_id: str | None, serialized_input: str | None) -> str:
        """`start_new` with the input already JSON text (what the HTTP API receives)."""
        self.index.orchestrator(name)
        instance_id = instance_id or uuid.uuid4().hex
        _validate_instance_id(instance_id)
        with self._lock:
            self._create_record(name, instance_id, serialized_input)
        return instance_id

    def run(self, instance_id: str) -> InstanceStatus:
        """Drive the instance to a terminal status in the calling thread and return it.

        Works on a Pending instance, resumes a Running one left behind by a dead process,
        and waits if another thread or process is already driving it.
        """
        driver = self._claim(instance_id)
        if driver is not None:
            driver.drive()
        return self.wait_for_completion(instance_id)

    def run_new(self, name: str, instance_id: str | None = None, input: Any = None) -> InstanceStatus:
        """`start_new` followed by `run`."""
        return self.run(self.start_new(name, instance_id, input))

    @contextmanager
    def holding_new_instances(self) -> Iterator[list[str]]:
        """Instances started inside the block are stored (Pending) and driven only when it ends.

        For a local set-up step that must finish before a run it triggers goes on (the demo's
        install starts the first run; the sample shop's competitor list comes after). Yields the
        ids held so far.
        """
        with self._lock:
            if self._held is not None:
                raise RuntimeError("already holding new instances")
            self._held = []
            held = self._held
        try:
            yield held
        finally:
            with self._lock:
                self._held = None
            for instance_id in held:
                self.start_in_background(instance_id)

    def start_in_background(self, instance_id: str) -> None:
        """Drive the instance in a daemon thread (no-op if it is already being driven)."""
        with self._lock:
            if self._held is not None:
                if instance_id not in self._held:
                    self._held.append(instance_id)
                return
        driver = self._claim(instance_id)
        if driver is not None:
            threading.Thread(target=driver.drive, name=f"orchestration-{instance_id}", daemon=True).start()

    def wait_for_completion(self, instance_id: str, timeout: float | None = None) -> InstanceStatus:
        """Block until the instance is terminal (or this runner stopped driving it)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            driver = self._drivers.get(instance_id)
        if driver is not None and not driver.finished.wait(timeout):
            raise TimeoutError(f"instance '{instance_id}' did not finish within {timeout} s")
        while True:
            status = self.get_status(instance_id)
            if status is None:
                raise InstanceNotFoundError(f"No instance with ID '{instance_id}' found.")
            if status.is_terminal or driver is not None or self._closed:
                return status
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"instance '{instance_id}' did not finish within {timeout} s")
            time.sleep(0.05)  # driven by another process: poll its file

    # -- queries and management -------------------------------------------------------

    def get_status(self, instance_id: str, *, include_history: bool = False) -> InstanceStatus | None:
        record = self._store.load(instance_id)
        return None if record is None else record.to_status(include_history)

    def get_history(self, instance_id: str) -> list[dict[str, Any]]:
        record = self._store.load(instance_id)
        if record is None:
            raise InstanceNotFoundError(f"No instance with ID '{instance_id}' found.")
        return record.history

    def list_instances(
        self,
        *,
        statuses: Iterable[RuntimeStatus] | None = None,
        instance_id_prefix: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
    ) -> list[InstanceStatus]:
        wanted = set(statuses) if statuses else None
        result = []
        for instance_id in self._store.instance_ids():
            if instance_id_prefix and not instance_id.startswith(instance_id_prefix):
                continue
            status = self.get_status(instance_id)
            if status is None:
                continue
            if wanted is not None and status.runtime_status not in wanted:
                continue
            if created_from is not None and status.created_time < created_from:
                continue
            if created_to is not None and status.created_time > created_to:
                continue
            result.append(status)
        return sorted(result, key=lambda s: (s.created_time, s.instance_id))

    def terminate(self, instance_id: str, reason: str = "") -> bool:
        """Terminate a Pending or Running instance; False if it had already finished."""
        with self._lock:
            driver = self._drivers.get(instance_id)
            if driver is not None:
                driver.post(Terminate(reason))
                return True
            record = self._store.load(instance_id)
            if record is None:
                raise InstanceNotFoundError(f"No instance with ID '{instance_id}' found.")
            if record.runtime_status in TERMINAL_STATUSES:
                return False
            # Not driven here (Pending, or driven by another process, which notices at its
            # next episode): write the termination directly.
            now = utcnow() + record.clock_offset
            record.runtime_status = RuntimeStatus.Terminated
            record.output = reason
            record.pending.clear()
            record.history.append(Events.execution_terminated(now, reason))
            record.history.append(Events.execution_completed(now, RuntimeStatus.Terminated, json.dumps(reason)))
            self._store.save(record)
        self._emit(ProgressEvent(ProgressKind.INSTANCE_TERMINATED, instance_id, record.name, detail=reason))
        self._notify_watchers(record)
        return True

    def purge(self, instance_id: str) -> bool:
        """Delete a finished instance's state and history; False if there was none."""
        with self._lock:
            record = self._store.load(instance_id)
            if record is None:
                return False
            if record.runtime_status not in TERMINAL_STATUSES:
                raise InvalidInstanceStateError(
                    f"Only orchestrations in a terminal state can be purged, but the orchestration with "
                    f"instance ID {instance_id} has status {record.runtime_status.value}"
                )
            return self._store.delete(instance_id)

    def replay(self, instance_id: str) -> ReplayReport:
        """Re-drive the orchestrator over the stored history, episode by episode.

        Raises NonDeterminismError if any episode schedules other actions than the run
        recorded, or if the final outcome differs.
        """
        record = self._store.load(instance_id)
        if record is None:
            raise InstanceNotFoundError(f"No instance with ID '{instance_id}' found.")
        return replay_record(self.index.orchestrator(record.name), record)

    # -- internals used by drivers ----------------------------------------------------

    def _owner_tag(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "runner": self._runner_id}

    def _create_record(
        self,
        name: str,
        instance_id: str,
        serialized_input: str | None,
        *,
        parent_instance_id: str | None = None,
        clock_offset: timedelta = timedelta(0),
        version: str | None = None,
    ) -> InstanceRecord:
        existing = self._store.load(instance_id)
        if instance_id in self._drivers or (existing is not None and existing.runtime_status in ACTIVE_STATUSES):
            status = existing.runtime_status.value if existing else RuntimeStatus.Running.value
            raise InstanceAlreadyExistsError(
                f"An orchestration with instance ID '{instance_id}' already exists and is {status}; "
                "wait for it to finish, or terminate it, before starting a new one with this ID."
            )
        now = utcnow()
        record = InstanceRecord(
            instance_id=instance_id,
            name=name,
            runtime_status=RuntimeStatus.Pending,
            input=serialized_input,
            created_time=now,
            last_updated_time=now,
            parent_instance_id=parent_instance_id,
            clock_offset=clock_offset,
            version=version or "",
        )
        self._store.save(record)
        return record

    def _claim(self, instance_id: str) -> InstanceDriver | None:
        """A new driver for the instance if this runner may drive it now, else None."""
        with self._lock:
            if self._closed:
                raise DurableRunnerError("the runner is closed")
            if instance_id in self._drivers:
                return None
            record = self._store.load(instance_id)
            if record is None:
                raise InstanceNotFoundError(f"No instance with ID '{instance_id}' found.")
            if record.runtime_status in TERMINAL_STATUSES:
                return None
            if record.runtime_status is RuntimeStatus.Running and not self._is_orphaned(record):
                return None
            record.owner = self._owner_tag()
            self._store.save(record)
            driver = InstanceDriver(self, record)
            self._drivers[instance_id] = driver
            return driver

    def _is_orphaned(self, record: InstanceRecord) -> bool:
        owner = record.owner
        if not owner:
            return True
        if owner.get("pid") == os.getpid():
            return owner.get("runner") == self._runner_id  # ours, yet no driver: it died here
        return not _process_alive(int(owner.get("pid", 0)))

    def _driver_finished(self, driver: InstanceDriver, record: InstanceRecord) -> None:
        with self._lock:
            if self._drivers.get(driver.instance_id) is driver:
                del self._drivers[driver.instance_id]
        if record.runtime_status in TERMINAL_STATUSES:
            self._notify_watchers(record)

    def _watch(self, instance_id: str, callback: Callable[[InstanceRecord], None]) -> None:
        """Call `callback` with the instance's record once it is terminal."""
        with self._lock:
            record = self._store.load(instance_id)
            if record is not None and record.runtime_status in TERMINAL_STATUSES and instance_id not in self._drivers:
                done: InstanceRecord | None = record
            else:
                done = None
                self._watchers.setdefault(instance_id, []).append(callback)
        if done is not None:
            callback(done)

    def _notify_watchers(self, record: InstanceRecord) -> None:
        with self._lock:
            callbacks = self._watchers.pop(record.instance_id, [])
        for callback in callbacks:
            callback(record)

    def _start_child(
        self, parent: InstanceDriver, execution_id: str, task: PendingTask, version: str | None, resume: bool
    ) -> None:
        """Start a sub-orchestration instance (or, on resume, re-attach to it); its end goes to the parent."""
        child_id = task.child_instance_id
        assert child_id is not None
        try:
            self.index.orchestrator(task.name)
        except UnknownFunctionError as exc:
            parent.post(TaskResult(execution_id, task.task_id, ok=False, reason=str(exc)))
            return
        with self._lock:
            existing = self._store.load(child_id)
            attach = resume and existing is not None and existing.parent_instance_id == parent.instance_id
            if not attach:
                try:
                    self._create_record(
                        task.name,
                        child_id,
                        task.input,
                        parent_instance_id=parent.instance_id,
                        clock_offset=parent.clock.offset,
                        version=version,
                    )
                except InstanceAlreadyExistsError as exc:
                    parent.post(TaskResult(execution_id, task.task_id, ok=False, reason=str(exc)))
                    return
        self._watch(child_id, lambda child: parent.post(child_result(execution_id, task.task_id, child)))
        if not attach:
            self._emit(
                ProgressEvent(
                    ProgressKind.SUB_ORCHESTRATION_STARTED,
                    parent.instance_id,
                    parent.orchestration_name,
                    function_name=task.name,
                    task_id=task.task_id,
                    attempt=task.attempt,
                    detail=child_id,
                )
            )
        self._start_or_poll(child_id)

    def _start_or_poll(self, instance_id: str) -> None:
        if self._closed:
            return  # closing: the child stays Pending/Running on disk and resumes with its parent
        record = self._store.load(instance_id)
        if record is None or record.runtime_status in TERMINAL_STATUSES:
            return
        if record.runtime_status is RuntimeStatus.Running and not self._is_orphaned(record):
            # Driven by another process: poll its file so our watchers still hear the end.
            threading.Thread(target=self._poll_until_terminal, args=(instance_id,), daemon=True).start()
            return
        self.start_in_background(instance_id)

    def _poll_until_terminal(self, instance_id: str) -> None:
        while not self._closed:
            record = self._store.load(instance_id)
            if record is None:
                return
            if record.runtime_status in TERMINAL_STATUSES:
                self._notify_watchers(record)
                return
            time.sleep(0.1)

    def _submit_activity(self, driver: InstanceDriver, execution_id: str, task: PendingTask) -> None:
        try:
            self._pool.submit(self._run_activity, driver, execution_id, task)
        except RuntimeError:  # pool shut down by close(); the instance stays resumable
            log.debug("runner closed; activity %s of %s not started", task.name, driver.instance_id)

    def _run_activity(self, driver: InstanceDriver, execution_id: str, task: PendingTask) -> None:
        """Run one activity attempt in a pool thread and post its result to the instance."""

        def progress(kind: ProgressKind, detail: Any = None) -> ProgressEvent:
            return ProgressEvent(
                kind,
                driver.instance_id,
                driver.orchestration_name,
                function_name=task.name,
                task_id=task.task_id,
                attempt=task.attempt,
                detail=detail,
            )

        self._emit(progress(ProgressKind.ACTIVITY_STARTED))
        started = time.perf_counter()
        try:
            entry = self.index.activity(task.name)
            result_json = invoke_activity(entry, task.input)
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            details = "" if isinstance(exc, UnknownFunctionError) else format_user_exception(exc)
            driver.post(TaskResult(execution_id, task.task_id, ok=False, reason=reason, details=details))
            self._emit(progress(ProgressKind.ACTIVITY_FAILED, reason))
            return
        elapsed = time.perf_counter() - started
        driver.post(TaskResult(execution_id, task.task_id, ok=True, result_json=result_json))
        self._emit(progress(ProgressKind.ACTIVITY_COMPLETED, f"{elapsed:.2f} s"))

    def _emit(self, event: ProgressEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken printer must not break an orchestration
                log.exception("progress listener failed")


def _validate_instance_id(instance_id: str) -> None:
    # The extension rejects these too; they would also break the status URLs.
    if instance_id.startswith("@") or any(c in instance_id for c in "/\\#?") or not instance_id.isprintable():
        raise ValueError(
            f"Invalid instance ID {instance_id!r}: no '/', '\\', '#', '?', control characters or leading '@'."
        )


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
