"""History events written the way the extension writes them, their timestamps, and action flattening."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from azure.durable_functions.constants import DATETIME_STRING_FORMAT
from azure.durable_functions.models.actions.ActionType import ActionType
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType

from shared.local.durable.models import FailureInfo, RuntimeStatus

if TYPE_CHECKING:
    from shared.local.durable.store import InstanceRecord


def format_timestamp(moment: datetime) -> str:
    """The history's timestamp format, always in UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(DATETIME_STRING_FORMAT)


def parse_timestamp(text: str) -> datetime:
    """Parse a history timestamp into a timezone-aware UTC datetime."""
    return datetime.strptime(text, DATETIME_STRING_FORMAT).replace(tzinfo=UTC)


class Events:
    """Builders for history events (EventType codes and field names the SDK reads)."""

    @staticmethod
    def _event(kind: HistoryEventType, at: datetime, event_id: int = -1, **fields: Any) -> dict[str, Any]:
        return {
            "EventType": int(kind),
            "EventId": event_id,
            "IsPlayed": False,
            "Timestamp": format_timestamp(at),
            **fields,
        }

    @classmethod
    def orchestrator_started(cls, at: datetime) -> dict[str, Any]:
        return cls._event(HistoryEventType.ORCHESTRATOR_STARTED, at)

    @classmethod
    def orchestrator_completed(cls, at: datetime) -> dict[str, Any]:
        return cls._event(HistoryEventType.ORCHESTRATOR_COMPLETED, at)

    @classmethod
    def execution_started(cls, at: datetime, record: InstanceRecord) -> dict[str, Any]:
        parent = None
        if record.parent_instance_id:
            parent = {"OrchestrationInstance": {"InstanceId": record.parent_instance_id}}
        return cls._event(
            HistoryEventType.EXECUTION_STARTED,
            at,
            Name=record.name,
            Input=record.input,
            Version=record.version,  # 1.7.0 raises AttributeError without this key
            OrchestrationInstance={"InstanceId": record.instance_id, "ExecutionId": record.execution_id},
            ParentInstance=parent,
        )

    @classmethod
    def execution_completed(
        cls, at: datetime, status: RuntimeStatus, result: str | None, failure: FailureInfo | None = None
    ) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if failure is not None:
            extra["FailureDetails"] = {
                "ErrorType": failure.error_type,
                "ErrorMessage": failure.message,
                "StackTrace": failure.details,
            }
        return cls._event(
            HistoryEventType.EXECUTION_COMPLETED, at, OrchestrationStatus=status.value, Result=result, **extra
        )

    @classmethod
    def execution_terminated(cls, at: datetime, reason: str) -> dict[str, Any]:
        return cls._event(HistoryEventType.EXECUTION_TERMINATED, at, Input=json.dumps(reason))

    @classmethod
    def task_scheduled(cls, at: datetime, task_id: int, name: str, input_json: str | None) -> dict[str, Any]:
        return cls._event(HistoryEventType.TASK_SCHEDULED, at, task_id, Name=name, Input=input_json)

    @classmethod
    def task_completed(cls, at: datetime, task_id: int, result_json: str) -> dict[str, Any]:
        return cls._event(HistoryEventType.TASK_COMPLETED, at, TaskScheduledId=task_id, Result=result_json)

    @classmethod
    def task_failed(cls, at: datetime, task_id: int, reason: str, details: str) -> dict[str, Any]:
        return cls._event(HistoryEventType.TASK_FAILED, at, TaskScheduledId=task_id, Reason=reason, Details=details)

    @classmethod
    def timer_created(cls, at: datetime, timer_id: int, fire_at: datetime) -> dict[str, Any]:
        return cls._event(HistoryEventType.TIMER_CREATED, at, timer_id, FireAt=format_timestamp(fire_at))

    @classmethod
    def timer_fired(cls, at: datetime, timer_id: int, fire_at: datetime) -> dict[str, Any]:
        return cls._event(HistoryEventType.TIMER_FIRED, at, TimerId=timer_id, FireAt=format_timestamp(fire_at))

    @classmethod
    def sub_orchestration_created(
        cls, at: datetime, task_id: int, name: str, instance_id: str, input_json: str | None
    ) -> dict[str, Any]:
        return cls._event(
            HistoryEventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
            at,
            task_id,
            Name=name,
            InstanceId=instance_id,
            Input=input_json,
        )

    @classmethod
    def sub_orchestration_completed(cls, at: datetime, task_id: int, result_json: str) -> dict[str, Any]:
        return cls._event(
            HistoryEventType.SUB_ORCHESTRATION_INSTANCE_COMPLETED, at, TaskScheduledId=task_id, Result=result_json
        )

    @classmethod
    def sub_orchestration_failed(cls, at: datetime, task_id: int, reason: str, details: str) -> dict[str, Any]:
        return cls._event(
            HistoryEventType.SUB_ORCHESTRATION_INSTANCE_FAILED,
            at,
            TaskScheduledId=task_id,
            Reason=reason,
            Details=details,
        )


def flatten_actions(actions: Iterable[Any]) -> list[dict[str, Any]]:
    """Atomic actions in the order the SDK numbers their tasks (compound actions depth-first)."""
    flat: list[dict[str, Any]] = []
    for action in actions:
        if isinstance(action, list):
            flat.extend(flatten_actions(action))
        elif action.get("actionType") in (ActionType.WHEN_ALL, ActionType.WHEN_ANY):
            flat.extend(flatten_actions(action.get("compoundActions", [])))
        else:
            flat.append(action)
    return flat
