"""The runner's own errors, and how exceptions are turned into failure text."""

from __future__ import annotations

import os
import traceback
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.local.durable.models import InstanceStatus

_MAX_DETAILS_CHARS = 8000  # exception text over 64 KB hangs real instances; stay far below
_PACKAGE_DIR = os.path.dirname(__file__)


class DurableRunnerError(Exception):
    """Base class of the runner's own errors."""


class NonDeterminismError(DurableRunnerError):
    """The orchestrator scheduled different work on replay than it did originally."""


class OrchestrationFailedError(DurableRunnerError):
    """Raised by `InstanceStatus.raise_for_status` for a Failed or Terminated instance."""

    def __init__(self, status: InstanceStatus) -> None:
        self.status = status
        reason = status.failure.message if status.failure else f"it was {status.runtime_status.value}"
        super().__init__(f"Orchestration '{status.name}' (instance '{status.instance_id}') did not complete: {reason}")


class InstanceAlreadyExistsError(DurableRunnerError):
    """`start_new` on an instance ID that is still Pending or Running."""


class InstanceNotFoundError(DurableRunnerError, LookupError):
    """No instance with that ID in the state directory."""


class InvalidInstanceStateError(DurableRunnerError):
    """The operation needs the instance in another runtime status."""


def _bounded(text: str, limit: int = _MAX_DETAILS_CHARS) -> str:
    # Keep the tail: the innermost frames and the message are the useful part.
    return text if len(text) <= limit else "...(truncated)...\n" + text[-limit:]


def format_exception(exc: BaseException) -> str:
    return _bounded("".join(traceback.format_exception(exc)))


def format_user_exception(exc: BaseException) -> str:
    """The traceback from the first frame outside this package: the user's code, as the worker reports it."""
    tb = exc.__traceback__
    while tb is not None and os.path.dirname(tb.tb_frame.f_code.co_filename) == _PACKAGE_DIR:
        tb = tb.tb_next
    return _bounded("".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__)))


def shorten(text: str | None, limit: int = 200) -> str:
    """`text` cut to `limit` characters, for messages that quote a value."""
    if text is None:
        return "None"
    return text if len(text) <= limit else text[:limit] + "..."
