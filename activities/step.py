"""What every pipeline activity does around its work.

It validates the input, records the attempt in `pipeline_steps`, and on the way out records
the outcome and what the attempt's external calls cost (a `cost_ledger` around the work, added to
`run_costs`; failed attempts too, since their calls were spent). A retryable error is raised again
so that Durable retries the step; a permanent one (a `retryable = False` error) is returned as a
failure summary, since retrying cannot help.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from pydantic import BaseModel, Field

from shared.db import run_costs, runs
from shared.db.pool import transaction
from shared.db.shops import check_shop_domain
from shared.telemetry import CostLedger, cost_ledger

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 500  # errors travel through Durable history; keep them short


class StepInput(BaseModel):
    shop: str
    run_id: str = Field(min_length=1, max_length=200)

    def model_post_init(self, _context) -> None:
        check_shop_domain(self.shop)


class StepSummary(BaseModel):
    """What an activity returns to the orchestrator: a status and a few counts, never data."""

    status: str = Field(pattern=r"^(ok|degraded|failed)$")
    counts: dict[str, int | float | str | bool | None] = Field(default_factory=dict)
    error: str | None = None


def is_retryable(exc: BaseException) -> bool:
    # Errors of our own say so; anything unknown (a bug, a crash) is retried like a blip.
    return bool(getattr(exc, "retryable", True))


def short_error(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def _begin(step: str, payload: dict) -> tuple[StepInput, int]:
    params = StepInput.model_validate(payload)
    with transaction() as conn:
        attempt = runs.step_started(conn, params.run_id, step)
    log.info("%s: attempt %d for run %s", step, attempt, params.run_id)
    return params, attempt


def _end(step: str, params: StepInput, ledger: CostLedger, summary: StepSummary | None,
         exc: BaseException | None) -> dict:
    if exc is not None:
        message = short_error(exc)
        with transaction() as conn:
            runs.step_finished(conn, params.run_id, step, "failed", error=message)
            run_costs.record_step_costs(conn, params.run_id, step, ledger)
        if is_retryable(exc):
            raise exc
        log.warning("%s failed permanently for run %s: %s", step, params.run_id, message)
        return StepSummary(status="failed", error=message).model_dump()
    assert summary is not None
    with transaction() as conn:
        runs.step_finished(conn, params.run_id, step, summary.status, summary.counts, summary.error)
        run_costs.record_step_costs(conn, params.run_id, step, ledger)
    return summary.model_dump()


def run_step(step: str, payload: dict, work: Callable[[StepInput], StepSummary]) -> dict:
    params, _ = _begin(step, payload)
    with cost_ledger() as ledger:
        try:
            summary = work(params)
        except Exception as exc:  # noqa: BLE001 - recorded, then re-raised or returned by _end
            return _end(step, params, ledger, None, exc)
    return _end(step, params, ledger, summary, None)


async def run_step_async(step: str, payload: dict, work: Callable[[StepInput], Awaitable[StepSummary]]) -> dict:
    params, _ = _begin(step, payload)
    with cost_ledger() as ledger:
        try:
            summary = await work(params)
        except Exception as exc:  # noqa: BLE001
            return _end(step, params, ledger, None, exc)
    return _end(step, params, ledger, summary, None)
