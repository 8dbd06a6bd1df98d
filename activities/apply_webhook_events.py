"""apply_webhook_events: the database side of webhook processing (see shared.shopify.webhook_processing)."""

from __future__ import annotations

import azure.durable_functions as df
from pydantic import BaseModel, Field, model_validator

from shared.shopify.webhook_processing import (
    DEFAULT_SWEEP_LIMIT,
    process_event,
    process_waiting_events,
    prune_processed_events,
)

bp = df.Blueprint()


class ApplyWebhookEvents(BaseModel):
    webhook_id: str | None = Field(None, min_length=1, max_length=100)
    sweep: bool = False
    limit: int | None = Field(None, ge=1, le=10_000)

    @model_validator(mode="after")
    def _one_of(self) -> ApplyWebhookEvents:
        if (self.webhook_id is None) == (not self.sweep):
            raise ValueError("give either webhook_id or sweep: true")
        return self


@bp.activity_trigger(input_name="payload")
def apply_webhook_events(payload: dict) -> dict:
    params = ApplyWebhookEvents.model_validate(payload)
    if params.webhook_id:
        return process_event(params.webhook_id).model_dump()
    summary = process_waiting_events(limit=params.limit or DEFAULT_SWEEP_LIMIT)
    return summary.model_copy(update={"pruned": prune_processed_events()}).model_dump()
