"""The public value types: instance status, failure info, progress events, replay reports."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

from shared.local.durable.clock import utcnow
from shared.local.durable.errors import NonDeterminismError, OrchestrationFailedError

RuntimeStatus: TypeAlias = OrchestrationRuntimeStatus  # the SDK's enum, so callers compare with one type
TERMINAL_STATUSES = frozenset({RuntimeStatus.Completed, RuntimeStatus.Failed, RuntimeStatus.Terminated})
ACTIVE_STATUSES = frozenset({RuntimeStatus.Pending, RuntimeStatus.Running})

NON_DETERMINISM = "NonDeterminismError"  # FailureInfo.error_type of a replay divergence


@dataclass(frozen=True)
class FailureInfo:
    """Why an instance failed: the orchestrator's own message, not the SDK's transport blob."""

    message: str
    details: str = ""
    error_type: str = "Exception"

    @property
    def is_non_determinism(self) -> bool:
        return self.error_type == NON_DETERMINISM

    def to_json(self) -> dict[str, str]:
        return {"message": self.message, "details": self.details, "errorType": self.error_type}

    @classmethod
    def from_json(cls, data: Mapping[str, str] | None) -> FailureInfo | None:
        if not data:
            return None
        return cls(data["message"], data.get("details", ""), data.get("errorType", "Exception"))


@dataclass(frozen=True)
class InstanceStatus:
    """One orchestration instance as stored; `input`/`output`/`custom_status` are JSON values."""

    instance_id: str
    name: str
    runtime_status: RuntimeStatus
    input: Any
    output: Any
    custom_status: Any
    created_time: datetime
    last_updated_time: datetime
    failure: FailureInfo | None = None
    parent_instance_id: str | None = None
    history: tuple[dict[str, Any], ...] | None = None

    @property
    def is_terminal(self) -> bool:
        return self.runtime_status in TERMINAL_STATUSES

    def raise_for_status(self) -> InstanceStatus:
        """Raise if the instance Failed or was Terminated; NonDeterminismError for replay bugs."""
        if self.failure is not None and self.failure.is_non_determinism:
            raise NonDeterminismError(self.failure.message)
        if self.runtime_status in (RuntimeStatus.Failed, RuntimeStatus.Terminated):
            raise OrchestrationFailedError(self)
        return self


class ProgressKind(enum.Enum):
    INSTANCE_STARTED = "instance_started"
    ACTIVITY_STARTED = "activity_started"
    ACTIVITY_COMPLETED = "activity_completed"
    ACTIVITY_FAILED = "activity_failed"
    TIMER_CREATED = "timer_created"
    TIMER_FIRED = "timer_fired"
    SUB_ORCHESTRATION_STARTED = "sub_orchestration_started"
    SUB_ORCHESTRATION_COMPLETED = "sub_orchestration_completed"
    SUB_ORCHESTRATION_FAILED = "sub_orchestration_failed"
    CUSTOM_STATUS = "custom_status"
    INSTANCE_COMPLETED = "instance_completed"
    INSTANCE_FAILED = "instance_failed"
    INSTANCE_TERMINATED = "instance_terminated"


@dataclass(frozen=True)
class ProgressEvent:
    """Something a CLI may want to print. `at` is wall-clock UTC; `detail` depends on `kind`."""

    kind: ProgressKind
    instance_id: str
    orchestration: str
    function_name: str | None = None
    task_id: int | None = None
    attempt: int | None = None
    detail: Any = None
    at: datetime = field(default_factory=utcnow)

    def describe(self) -> str:
        """A one-line human description."""
        subject = f"{self.orchestration} [{self.instance_id}]"
        what = self.kind.value.replace("_", " ")
        name = f" {self.function_name}" if self.function_name else ""
        attempt = f" (attempt {self.attempt})" if self.attempt and self.attempt > 1 else ""
        detail = "" if self.detail is None else f": {self.detail}"
        return f"{subject} {what}{name}{attempt}{detail}"


ProgressListener = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class ReplayReport:
    """The result of re-driving an orchestrator over its stored history."""

    instance_id: str
    episodes: int
    actions: int
    runtime_status: RuntimeStatus
