"""The worker's side of the protocol: running one orchestrator episode through the SDK, and invoking an activity."""

from __future__ import annotations

import asyncio
import inspect
import json
from dataclasses import dataclass
from typing import Any

from azure.durable_functions.models.utils.df_serialization import df_dumps, df_loads

from shared.local.durable.errors import format_exception, format_user_exception
from shared.local.durable.history import flatten_actions
from shared.local.durable.models import FailureInfo
from shared.local.durable.store import InstanceRecord
from shared.local.function_index import ActivityEntry, OrchestratorEntry

# What the extension sends: V2 actions with the V3 upgrade (only long timers differ, and
# they stay off because no maximumShortTimerDuration is given).
UPPER_SCHEMA_VERSION = 1
UPPER_SCHEMA_VERSION_NEW = 2

_OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"


@dataclass(frozen=True)
class EpisodeOutcome:
    """What one call of the SDK's handle produced."""

    state: dict[str, Any] | None
    failure: FailureInfo | None

    @property
    def actions(self) -> list[dict[str, Any]] | None:
        return None if self.state is None else flatten_actions(self.state.get("actions", []))

    @property
    def is_done(self) -> bool:
        return bool(self.state and self.failure is None and self.state.get("isDone"))


def run_orchestrator(entry: OrchestratorEntry, record: InstanceRecord, history: list[dict[str, Any]]) -> EpisodeOutcome:
    body = json.dumps(
        {
            "history": history,
            "instanceId": record.instance_id,
            "isReplaying": False,
            "parentInstanceId": record.parent_instance_id,
            "input": record.input,
            "upperSchemaVersion": UPPER_SCHEMA_VERSION,
            "upperSchemaVersionNew": UPPER_SCHEMA_VERSION_NEW,
        }
    )
    try:
        return EpisodeOutcome(state=json.loads(entry.entrypoint(body)), failure=None)
    except Exception as exc:
        return _outcome_from_exception(exc)


def _outcome_from_exception(exc: Exception) -> EpisodeOutcome:
    # The SDK reports an orchestrator exception as Exception("<msg>\n\n$OutOfProcData$:<state>")
    # raised `from` the original, so the real message, type and traceback are recoverable.
    text = str(exc)
    cause = exc.__cause__ or exc
    if _OUT_OF_PROC_MARKER not in text:
        return EpisodeOutcome(None, FailureInfo(text or type(exc).__name__, format_exception(exc), type(exc).__name__))
    message, _, state_text = text.rpartition(_OUT_OF_PROC_MARKER)
    state = json.loads(state_text)
    message = message or state.get("error") or type(cause).__name__
    return EpisodeOutcome(state, FailureInfo(message, format_user_exception(cause), type(cause).__name__))


def invoke_activity(entry: ActivityEntry, input_json: str | None) -> str:
    """Call the activity as the worker does: decode the input, run it, JSON-encode the result."""
    # Same decoding as azure.functions' ActivityTriggerConverter: JSON, else the raw string.
    try:
        value = df_loads(input_json) if input_json is not None else None
    except json.JSONDecodeError:
        value = input_json
    result = entry.fn(**{entry.input_arg: value})
    if inspect.isawaitable(result):
        result = asyncio.run(_await(result))
    try:
        return df_dumps(result)
    except TypeError as exc:
        raise ValueError(f"activity trigger output must be json serializable ({result!r})") from exc


async def _await(awaitable: Any) -> Any:
    return await awaitable
