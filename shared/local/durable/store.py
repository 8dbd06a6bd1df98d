"""Persisted instance state: the record of one instance, and one JSON file per instance, replaced atomically."""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from shared.local.durable.clock import utcnow
from shared.local.durable.history import format_timestamp, parse_timestamp
from shared.local.durable.models import FailureInfo, InstanceStatus, RuntimeStatus

_STATE_SCHEMA = 1


def _json_or_text(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


class TaskKind(enum.StrEnum):
    ACTIVITY = "activity"
    TIMER = "timer"
    SUB_ORCHESTRATION = "sub_orchestration"


@dataclass
class PendingTask:
    """Work the host has scheduled and the orchestrator still waits for."""

    task_id: int
    kind: TaskKind
    name: str = ""
    input: str | None = None
    fire_at: str | None = None
    retry_group: int | None = None  # key of the RetryGroup this attempt/timer belongs to
    attempt: int = 1
    child_instance_id: str | None = None
    cancelled: bool = False

    @property
    def fire_time(self) -> datetime:
        assert self.fire_at is not None
        return parse_timestamp(self.fire_at)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["kind"] = self.kind.value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PendingTask:
        return cls(**{**data, "kind": TaskKind(data["kind"])})


@dataclass
class RetryGroup:
    """Host-side retry bookkeeping for one `*_with_retry` action (the SDK only emits it once)."""

    key: int
    kind: TaskKind
    name: str
    input: str | None
    first_retry_interval_ms: int
    max_attempts: int
    attempts: int = 1
    explicit_instance_id: str | None = None
    version: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["kind"] = self.kind.value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RetryGroup:
        return cls(**{**data, "kind": TaskKind(data["kind"])})


@dataclass
class InstanceRecord:
    """Everything about one instance; persisted as one JSON file."""

    instance_id: str
    name: str
    runtime_status: RuntimeStatus
    input: str | None  # the JSON text the orchestrator's get_input() decodes
    created_time: datetime
    last_updated_time: datetime
    execution_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    version: str = ""
    parent_instance_id: str | None = None
    output: Any = None
    custom_status: Any = None
    failure: FailureInfo | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)  # flattened, as last scheduled
    action_task_ids: list[int | None] = field(default_factory=list)
    next_event_id: int = 0
    pending: dict[int, PendingTask] = field(default_factory=dict)
    retry_groups: dict[int, RetryGroup] = field(default_factory=dict)
    clock_offset: timedelta = timedelta(0)
    owner: dict[str, Any] | None = None  # {"pid", "runner"} of the process driving it

    def to_status(self, include_history: bool = False) -> InstanceStatus:
        return InstanceStatus(
            instance_id=self.instance_id,
            name=self.name,
            runtime_status=self.runtime_status,
            input=_json_or_text(self.input),
            output=self.output,
            custom_status=self.custom_status,
            created_time=self.created_time,
            last_updated_time=self.last_updated_time,
            failure=self.failure,
            parent_instance_id=self.parent_instance_id,
            history=tuple(json.loads(json.dumps(self.history))) if include_history else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": _STATE_SCHEMA,
            "instanceId": self.instance_id,
            "name": self.name,
            "runtimeStatus": self.runtime_status.value,
            "input": self.input,
            "output": self.output,
            "customStatus": self.custom_status,
            "failure": self.failure.to_json() if self.failure else None,
            "createdTime": format_timestamp(self.created_time),
            "lastUpdatedTime": format_timestamp(self.last_updated_time),
            "executionId": self.execution_id,
            "version": self.version,
            "parentInstanceId": self.parent_instance_id,
            "clockOffsetMicroseconds": self.clock_offset // timedelta(microseconds=1),
            "owner": self.owner,
            "nextEventId": self.next_event_id,
            "pending": [task.to_json() for task in self.pending.values()],
            "retryGroups": [group.to_json() for group in self.retry_groups.values()],
            "actions": self.actions,
            "actionTaskIds": self.action_task_ids,
            "history": self.history,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InstanceRecord:
        pending = [PendingTask.from_json(task) for task in data.get("pending", [])]
        groups = [RetryGroup.from_json(group) for group in data.get("retryGroups", [])]
        return cls(
            instance_id=data["instanceId"],
            name=data["name"],
            runtime_status=RuntimeStatus(data["runtimeStatus"]),
            input=data.get("input"),
            output=data.get("output"),
            custom_status=data.get("customStatus"),
            failure=FailureInfo.from_json(data.get("failure")),
            created_time=parse_timestamp(data["createdTime"]),
            last_updated_time=parse_timestamp(data["lastUpdatedTime"]),
            execution_id=data["executionId"],
            version=data.get("version", ""),
            parent_instance_id=data.get("parentInstanceId"),
            clock_offset=timedelta(microseconds=data.get("clockOffsetMicroseconds", 0)),
            owner=data.get("owner"),
            next_event_id=data.get("nextEventId", 0),
            pending={task.task_id: task for task in pending},
            retry_groups={group.key: group for group in groups},
            actions=list(data.get("actions", [])),
            action_task_ids=list(data.get("actionTaskIds", [])),
            history=list(data.get("history", [])),
        )


class InstanceStore:
    """One JSON file per instance, replaced atomically so readers never see half a file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def path(self, instance_id: str) -> Path:
        return self.directory / (quote(instance_id, safe="") + ".json")

    def load(self, instance_id: str) -> InstanceRecord | None:
        try:
            text = self.path(instance_id).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return InstanceRecord.from_json(json.loads(text))

    def save(self, record: InstanceRecord) -> None:
        record.last_updated_time = utcnow()
        payload = json.dumps(record.to_json(), indent=1, ensure_ascii=False)
        # Temp file in the same directory + os.replace: atomic on POSIX and Windows.
        handle, temp_path = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(payload)
            os.replace(temp_path, self.path(record.instance_id))
        except BaseException:
            Path(temp_path).unlink(missing_ok=True)
            raise

    def delete(self, instance_id: str) -> bool:
        try:
            self.path(instance_id).unlink()
            return True
        except FileNotFoundError:
            return False

    def instance_ids(self) -> list[str]:
        return sorted(unquote(p.stem) for p in self.directory.glob("*.json") if not p.name.startswith(".tmp-"))
