"""Purging the Durable history of a redacted shop's instances, through the Durable client.

A pipeline run's history holds the shop's domain and what each step returned; after
`shop/redact` none of it may stay. The redaction itself runs in an activity
(`process_webhook_events` -> `apply_webhook_events`), and an activity has no Durable client,
while the ids to purge are known only from the rows the redaction deletes. So the activity
queues the ids (`durable_history_purges`) in the transaction that deletes the rows, and a
function that holds a client, the `webhook_sweep` timer, purges them with
`purge_instance_history` and then deletes each queue row. Sub-orchestrations (`<run id>:<step>`)
are found by prefix. An instance still running (a run that outlived the uninstall) is
terminated first and purged on the next round; a purge that fails stays queued and is retried.
"""

from __future__ import annotations

import logging

import azure.durable_functions as df
from pydantic import BaseModel, ConfigDict

from shared.db import durable_history_purges as queue
from shared.db.pool import transaction

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 200
_FINISHED = {df.OrchestrationRuntimeStatus.Completed, df.OrchestrationRuntimeStatus.Failed,
             df.OrchestrationRuntimeStatus.Terminated, df.OrchestrationRuntimeStatus.Canceled}


class PurgeSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    purged: int = 0  # queued instances whose history (and their children's) is gone
    instances_deleted: int = 0  # histories deleted, children included
    waiting: int = 0  # still running (terminated now) or failed: left queued for the next round


async def purge_queued_histories(client: df.DurableOrchestrationClient, *, limit: int = DEFAULT_LIMIT) -> PurgeSummary:
    with transaction() as conn:
        pending = queue.queued_purges(conn, limit)
    purged = deleted = waiting = 0
    for item in pending:
        try:
            ids = [item.instance_id]
            if item.include_children:
                children = await client.get_status_by(instance_id_prefix=f"{item.instance_id}:")
                ids = [s.instance_id for s in children] + ids  # children first: a parent outlives none of them
            finished = True
            for instance_id in ids:
                gone = await _purge_one(client, instance_id)
                finished = finished and gone is not None
                deleted += gone or 0
        except Exception as exc:  # noqa: BLE001 - kept queued: the next round tries again
            with transaction() as conn:
                queue.purge_failed(conn, item.instance_id, f"{type(exc).__name__}: {exc}")
            log.warning("could not purge the history of %s: %s", item.instance_id, type(exc).__name__)
            waiting += 1
            continue
        if finished:
            with transaction() as conn:
                queue.purge_done(conn, item.instance_id)
            purged += 1
        else:
            waiting += 1
    if pending:
        log.info("durable history purge: %d purged (%d histories), %d waiting", purged, deleted, waiting)
    return PurgeSummary(purged=purged, instances_deleted=deleted, waiting=waiting)


async def _purge_one(client: df.DurableOrchestrationClient, instance_id: str) -> int | None:
    """Histories deleted (0: there was none); None if the instance was still running (terminated now)."""
    status = await client.get_status(instance_id)
    runtime = getattr(status, "runtime_status", None) if status else None
    if runtime is not None and runtime not in _FINISHED:
        await client.terminate(instance_id, "the shop's data was redacted")
        return None
    result = await client.purge_instance_history(instance_id)
    return result.instances_deleted
