"""A local stand-in for the Durable Functions extension: it runs the app's real orchestrators.

Each orchestrator is executed by the SDK's own replay engine (the handle that
`Orchestrator.create` registered, fed a context JSON exactly as the extension builds it),
so IDs, retries, fan-out, sub-orchestrations and custom status behave as in Azure. This
package plays the extension's part of the protocol: it appends history events the way the
host does, delivers ONE completion per episode (the SDK numbers retry timers and
rescheduled tasks while replaying, so batching completions would put IDs out of step),
runs activities in a thread pool, and keeps every instance as a JSON file so another
process can read its status and a finished run can be inspected and replayed.

What it adds over the SDK: non-determinism detection (every episode's flattened actions
must start with the previous episode's) and a virtual clock, so timers and retry intervals
cost no wall time while `context.current_utc_datetime` still moves as it would in Azure.

Modules (internal; import from this package):
    errors       the runner's exceptions and failure-text formatting
    clock        wall-clock UTC and the virtual orchestration clock
    models       public value types: InstanceStatus, FailureInfo, ProgressEvent, ReplayReport
    history      history events as the extension writes them, timestamps, action flattening
    store        the persisted instance record and its atomic JSON-file store
    worker       the worker's side: one orchestrator episode through the SDK, activity invocation
    determinism  comparing scheduled actions with recorded ones; replaying a stored run
    driver       the episode loop of one instance: actions, retries, timers, sub-orchestrations
    runner       LocalDurableRunner: the public API, activity pool, child instances, progress
"""

from shared.local.durable.errors import (
    DurableRunnerError,
    InstanceAlreadyExistsError,
    InstanceNotFoundError,
    InvalidInstanceStateError,
    NonDeterminismError,
    OrchestrationFailedError,
)
from shared.local.durable.history import format_timestamp, parse_timestamp
from shared.local.durable.models import (
    FailureInfo,
    InstanceStatus,
    ProgressEvent,
    ProgressKind,
    ProgressListener,
    ReplayReport,
    RuntimeStatus,
)
from shared.local.durable.runner import LocalDurableRunner

__all__ = [
    "RuntimeStatus",
    "FailureInfo",
    "InstanceStatus",
    "ProgressKind",
    "ProgressEvent",
    "ProgressListener",
    "ReplayReport",
    "DurableRunnerError",
    "NonDeterminismError",
    "OrchestrationFailedError",
    "InstanceAlreadyExistsError",
    "InstanceNotFoundError",
    "InvalidInstanceStateError",
    "LocalDurableRunner",
    "format_timestamp",
    "parse_timestamp",
]
