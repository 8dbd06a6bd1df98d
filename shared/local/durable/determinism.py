"""Non-determinism detection: comparing the actions an orchestrator schedules with those recorded."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from azure.durable_functions.models.actions.ActionType import ActionType
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType

from shared.local.durable.errors import NonDeterminismError, shorten
from shared.local.durable.models import TERMINAL_STATUSES, ReplayReport, RuntimeStatus
from shared.local.durable.store import InstanceRecord
from shared.local.durable.worker import EpisodeOutcome, run_orchestrator
from shared.local.function_index import OrchestratorEntry


def _action_key(action: Mapping[str, Any]) -> tuple[Any, ...]:
    # isCanceled is left out on purpose: cancelling a timer legitimately changes it later.
    return (
        action.get("actionType"),
        action.get("functionName"),
        action.get("input"),
        action.get("instanceId"),
        action.get("fireAt"),
    )


def _describe_action(action: Mapping[str, Any] | None) -> str:
    if action is None:
        return "nothing (it returned, raised or waited before that point)"
    kind = ActionType(action["actionType"]).name.title().replace("_", "")
    if action["actionType"] == ActionType.CREATE_TIMER:
        return f"{kind}(fire_at={action.get('fireAt')})"
    text = f"{kind}({action.get('functionName')!r}, input={shorten(action.get('input'))}"
    if action.get("instanceId"):
        text += f", instance_id={action['instanceId']!r}"
    return text + ")"


def first_divergence(
    recorded: Sequence[Mapping[str, Any]],
    replayed: Sequence[Mapping[str, Any]],
    *,
    replayed_may_be_shorter: bool = False,
    replayed_may_be_longer: bool = True,
) -> str | None:
    """Where `replayed` stops agreeing with `recorded`, or None when it agrees.

    During a run the previous episode's actions must be a prefix of the current ones
    (the defaults); when replaying a stored run, an earlier episode may stop short.
    """
    for position in range(min(len(recorded), len(replayed))):
        if _action_key(recorded[position]) != _action_key(replayed[position]):
            return _divergence_text(position, recorded[position], replayed[position])
    if len(replayed) < len(recorded) and not replayed_may_be_shorter:
        return _divergence_text(len(replayed), recorded[len(replayed)], None)
    if len(replayed) > len(recorded) and not replayed_may_be_longer:
        return _divergence_text(len(recorded), None, replayed[len(recorded)])
    return None


def _divergence_text(position: int, recorded: Mapping[str, Any] | None, replayed: Mapping[str, Any] | None) -> str:
    return (
        f"at action #{position} the orchestrator previously scheduled {_describe_action(recorded)} "
        f"but on replay scheduled {_describe_action(replayed)}"
    )


def non_determinism_message(record: InstanceRecord, divergence: str) -> str:
    return (
        f"Non-deterministic orchestrator '{record.name}' (instance '{record.instance_id}'): {divergence}. "
        "An orchestrator must schedule the same work in the same order on every replay: keep module-level "
        "state, datetime.now(), random numbers, environment variables and I/O out of orchestrator code."
    )


def replay_record(entry: OrchestratorEntry, record: InstanceRecord) -> ReplayReport:
    """Re-drive the orchestrator over the record's stored history, episode by episode.

    Raises NonDeterminismError if any episode schedules other actions than the run
    recorded, or if the final outcome differs.
    """
    ends = [i for i, e in enumerate(record.history) if e["EventType"] == HistoryEventType.ORCHESTRATOR_COMPLETED]
    outcome: EpisodeOutcome | None = None
    for number, end in enumerate(ends, start=1):
        outcome = run_orchestrator(entry, record, record.history[:end])
        # The last episode must reproduce the recorded actions exactly, except for a failed
        # run: its failing episode may have scheduled more before raising.
        exact = number == len(ends) and record.runtime_status is not RuntimeStatus.Failed
        divergence = first_divergence(
            record.actions,
            outcome.actions or [],
            replayed_may_be_shorter=not exact,
            replayed_may_be_longer=record.runtime_status is RuntimeStatus.Failed and number == len(ends),
        )
        if divergence is not None:
            raise NonDeterminismError(non_determinism_message(record, f"episode {number}: {divergence}"))
    if outcome is not None and record.runtime_status in TERMINAL_STATUSES:
        _check_replayed_outcome(record, outcome)
    return ReplayReport(record.instance_id, len(ends), len(record.actions), record.runtime_status)


def _check_replayed_outcome(record: InstanceRecord, outcome: EpisodeOutcome) -> None:
    if record.runtime_status is RuntimeStatus.Completed:
        if not outcome.is_done or outcome.state.get("output") != record.output:  # type: ignore[union-attr]
            raise NonDeterminismError(
                f"Replaying instance '{record.instance_id}' did not reproduce its recorded output "
                f"{shorten(json.dumps(record.output))}."
            )
    elif record.runtime_status is RuntimeStatus.Failed and record.failure and not record.failure.is_non_determinism:
        if record.failure.error_type == "LocalRunnerError":
            return
        if outcome.failure is None or outcome.failure.message != record.failure.message:
            got = outcome.failure.message if outcome.failure else "no failure"
            raise NonDeterminismError(
                f"Replaying instance '{record.instance_id}' did not reproduce its recorded failure "
                f"{record.failure.message!r} (got {got!r})."
            )
