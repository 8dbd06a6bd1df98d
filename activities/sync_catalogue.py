"""The bulk path of sync_shopify: start a bulk query, check it, ingest its result, record the step.

The `sync_catalogue` orchestrator waits between checks with durable timers; nothing here
sleeps or waits for Shopify to finish. Each activity returns a StepSummary-shaped dict: a
permanent error (missing scope, refused query) comes back as status "failed", since retrying
cannot help; a retryable one is raised, so that Durable retries the activity.

Bookkeeping: the catalogue part's start counts an attempt of the `sync_shopify` step
(`runs.step_started`), and `finish_bulk_sync` records its outcome and counts, so the run
shows one `sync_shopify` row whichever path the sync took.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Literal

import azure.durable_functions as df
from pydantic import AwareDatetime, Field

from activities.step import StepInput, StepSummary, is_retryable, short_error
from shared.db import bulk_operation_finishes, run_costs, runs
from shared.db.pool import transaction
from shared.db.shops import get_shop, record_catalogue_sync
from shared.shopify.admin_api import AdminApiClient, ShopifyMissingScopeError
from shared.shopify.bulk_operations import BulkOperationStatus, cancel_bulk_operation
from shared.shopify.bulk_sync import BulkPart, ingest_part, part_status, start_part
from shared.shopify.tokens import get_access_token_async
from shared.telemetry import cost_ledger

log = logging.getLogger(__name__)

bp = df.Blueprint()

STEP = "sync_shopify"
# Shopify's own trouble: a new operation may well succeed.
RESTARTABLE_ERRORS = (None, "INTERNAL_SERVER_ERROR", "TIMEOUT")


class BulkPartInput(StepInput):
    part: BulkPart
    orders_from: AwareDatetime
    operation_id: str | None = None
    counts_attempt: bool = False  # the catalogue part's start: one more attempt of the step


class FinishInput(StepInput):
    status: Literal["ok", "failed"]
    counts: dict[str, int | float | str | bool | None] = Field(default_factory=dict)
    error: str | None = None
    cancel_operation_id: str | None = None  # an operation left running (the poll budget ran out)
    read_started_at: AwareDatetime | None = None  # the catalogue snapshot's start: the next watermark


async def _client(domain: str) -> AdminApiClient:
    return AdminApiClient(domain, await get_access_token_async(domain))


async def _guarded(run_id: str, work: Callable[[], Awaitable[StepSummary]]) -> dict:
    # Each of the bulk sync's activities adds what its calls cost to the sync step's costs.
    with cost_ledger() as ledger:
        try:
            summary = await work()
        except Exception as exc:  # noqa: BLE001 - retryable: raised for Durable; permanent: a failed summary
            _record_costs(run_id, ledger)
            if is_retryable(exc):
                raise
            log.warning("%s (bulk) failed permanently: %s", STEP, short_error(exc))
            return StepSummary(status="failed", error=short_error(exc)).model_dump()
    _record_costs(run_id, ledger)
    return summary.model_dump()


def _record_costs(run_id: str, ledger) -> None:
    if ledger.calls:
        with transaction() as conn:
            run_costs.record_step_costs(conn, run_id, STEP, ledger)


@bp.activity_trigger(input_name="payload")
async def start_bulk_sync(payload: dict) -> dict:
    params = BulkPartInput.model_validate(payload)
    if params.counts_attempt:
        with transaction() as conn:
            runs.step_started(conn, params.run_id, STEP)

    async def work() -> StepSummary:
        async with await _client(params.shop) as client:
            operation = await start_part(client, params.part, params.orders_from)
        created = operation.created_at.isoformat() if operation.created_at else None
        return StepSummary(status="ok", counts={"operation_id": operation.id, "bulk_status": operation.status.value,
                                                "created_at": created})

    return await _guarded(params.run_id, work)


def _finished_by_webhook(domain: str, operation_id: str) -> bulk_operation_finishes.BulkOperationFinish | None:
    """bulk_operations/finish may have told us already: then Shopify need not be asked."""
    with transaction() as conn:
        shop = get_shop(conn, domain)
        return bulk_operation_finishes.get_finish(conn, shop.id, operation_id) if shop else None


@bp.activity_trigger(input_name="payload")
async def check_bulk_sync(payload: dict) -> dict:
    """One status check; the orchestrator decides what to do with it."""
    params = BulkPartInput.model_validate(payload)
    assert params.operation_id is not None

    async def work() -> StepSummary:
        finish = _finished_by_webhook(params.shop, params.operation_id)
        reported = BulkOperationStatus.__members__.get(finish.status) if finish else None
        if reported is not None and reported.finished:
            status, error_code, objects = reported, finish.error_code, None
        else:
            async with await _client(params.shop) as client:
                operation = await part_status(client, params.operation_id)
            status, error_code, objects = operation.status, operation.error_code, operation.object_count
        if error_code and error_code.upper() == "ACCESS_DENIED":
            raise ShopifyMissingScopeError(
                f"{params.shop}: the bulk {params.part} query was denied access: a scope it needs is missing")
        return StepSummary(status="ok", counts={
            "bulk_status": status.value, "error_code": error_code, "object_count": objects,
            "restartable": status is not BulkOperationStatus.COMPLETED and error_code in RESTARTABLE_ERRORS,
        })

    return await _guarded(params.run_id, work)


@bp.activity_trigger(input_name="payload")
async def ingest_bulk_sync(payload: dict) -> dict:
    """Download the completed result and merge it, in one transaction; an incomplete one writes nothing."""
    params = BulkPartInput.model_validate(payload)
    assert params.operation_id is not None

    async def work() -> StepSummary:
        with transaction() as conn:
            shop = get_shop(conn, params.shop)
        async with await _client(params.shop) as client:
            ingested = await ingest_part(client, shop.id, params.part, params.operation_id)
        with transaction() as conn:
            bulk_operation_finishes.mark_consumed(conn, shop.id, params.operation_id)
        return StepSummary(status="ok", counts={**ingested.counts, f"{params.part}_objects": ingested.lines})

    return await _guarded(params.run_id, work)


@bp.activity_trigger(input_name="payload")
async def finish_bulk_sync(payload: dict) -> dict:
    """Record the step's outcome; after a whole read, move the shop's sync watermarks."""
    params = FinishInput.model_validate(payload)
    if params.cancel_operation_id:
        with cost_ledger() as ledger:
            try:
                async with await _client(params.shop) as client:
                    await cancel_bulk_operation(client, params.cancel_operation_id)
            except Exception as exc:  # noqa: BLE001 - best effort: the next start adopts or waits for it
                log.warning("%s: could not cancel %s: %s", params.shop, params.cancel_operation_id, short_error(exc))
        _record_costs(params.run_id, ledger)
    with transaction() as conn:
        runs.step_finished(conn, params.run_id, STEP, params.status, params.counts, params.error)
        if params.status == "ok" and params.read_started_at is not None:
            shop = get_shop(conn, params.shop)
            record_catalogue_sync(conn, shop.id, params.read_started_at, full=True)
    return {"status": params.status}
