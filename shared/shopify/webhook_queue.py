"""How a stored webhook gets processed after the endpoint has answered.

In Azure nothing of an invocation runs after its HTTP response is returned, so processing is
handed to Durable before answering, two ways:

1. Per event: the endpoint starts a small `process_webhook_events` orchestration with the
   deterministic id `webhook-<X-Shopify-Webhook-Id>`. Durable runs it on another worker a
   moment later; the deterministic id means concurrent duplicates cannot start a second one
   (and if one did, the row lock and the status check make the second a no-op). One
   orchestration per event, not per shop: a per-shop singleton that is just finishing refuses
   a new start, and the event that arrived in that instant would wait for the next trigger.
2. A sweep: the `webhook_sweep` timer (WEBHOOK_SWEEP_SCHEDULE, every 10 minutes) starts one
   orchestration that processes every event still waiting: failed ones whose retry time has
   come, and any whose own start was lost (an instance store blip). It also covers shops that
   no longer have pipeline runs, such as `shop/redact` two days after an uninstall, so a
   pipeline-start drain alone would not do.

The orchestrations carry only the webhook id: payloads stay in Postgres, out of Durable's history.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime

log = logging.getLogger(__name__)

ORCHESTRATOR = "process_webhook_events"
SWEEP_INSTANCE_ID = "webhooks-sweep"  # not "webhook-<id>": no webhook id can take it
# Durable ids may not hold '/', '\\', '#', '?' or control characters: the webhook id is checked at the door.
WEBHOOK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
# Shopify waits 5 s for the answer: a Durable store that is slow to take the start must not hold it.
START_TIMEOUT_SECONDS = 2.0
_FINISHED = {"Completed", "Failed", "Terminated", "Canceled"}


def processing_instance_id(webhook_id: str) -> str:
    if not WEBHOOK_ID.fullmatch(webhook_id):
        raise ValueError("not a webhook id this app accepts")
    return f"webhook-{webhook_id}"


async def start_processing(client, webhook_id: str) -> bool:
    """Start the event's orchestration; False (logged) if Durable refused, e.g. it is running already.

    Never raises: the event is stored, so the sweep processes it if this start was lost.
    """
    try:
        await asyncio.wait_for(
            client.start_new(ORCHESTRATOR, processing_instance_id(webhook_id), {"webhook_id": webhook_id}),
            START_TIMEOUT_SECONDS,
        )
        return True
    except Exception as exc:  # noqa: BLE001 - see above
        log.info("processing of webhook %s not started now (%s); the sweep will pick it up", webhook_id,
                 type(exc).__name__)
        return False


async def start_sweep(client, now: datetime, *, limit: int | None = None) -> str | None:
    """Start the sweep unless one is still going; the instance id started, if any."""
    status = await client.get_status(SWEEP_INSTANCE_ID)
    runtime = getattr(getattr(status, "runtime_status", None), "value", None) if status else None
    if runtime is not None and runtime not in _FINISHED:
        log.info("webhook sweep still %s; not starting another", runtime)
        return None
    await client.start_new(ORCHESTRATOR, SWEEP_INSTANCE_ID, {"sweep": True, "limit": limit, "at": now.isoformat()})
    return SWEEP_INSTANCE_ID
