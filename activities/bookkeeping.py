"""Opening and closing a run's record: the orchestrator cannot touch the database itself."""

from __future__ import annotations

from datetime import datetime

import azure.durable_functions as df
from pydantic import BaseModel

from shared.db import runs
from shared.db.pool import transaction
from shared.db.shops import get_shop

bp = df.Blueprint()


class ShopNotFoundError(LookupError):
    retryable = False


class BeginRun(BaseModel):
    shop: str
    run_id: str
    trigger: str
    started_at: datetime


class FinishRun(BaseModel):
    shop: str
    run_id: str
    status: str
    error: str | None
    steps: dict[str, str]
    finished_at: datetime


@bp.activity_trigger(input_name="payload")
def begin_run(payload: dict) -> dict:
    params = BeginRun.model_validate(payload)
    with transaction() as conn:
        shop = get_shop(conn, params.shop)
        if shop is None:
            raise ShopNotFoundError(f"shop {params.shop} is not installed")
        if shop.status == "uninstalled":
            # A run started just before the uninstall arrived: it stops here instead of failing later.
            raise ShopNotFoundError(f"shop {params.shop} has uninstalled the app")
        runs.start_run(conn, params.run_id, shop.id, params.trigger, params.started_at)
    return {"run_id": params.run_id, "shop_id": shop.id}


@bp.activity_trigger(input_name="payload")
def finish_run(payload: dict) -> dict:
    params = FinishRun.model_validate(payload)
    with transaction() as conn:
        for step, status in params.steps.items():
            if status == "skipped":
                runs.step_finished(conn, params.run_id, step, "skipped")
        runs.finish_run(conn, params.run_id, params.status, params.error, params.finished_at)
    return {"run_id": params.run_id, "status": params.status}
