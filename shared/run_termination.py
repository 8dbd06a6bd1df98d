"""Stopping a shop's pipeline runs through the Durable client (on app/uninstalled).

A shop's runs have instance ids that start with `daily-<shop>-` or `manual-<shop>-` (see
`shared.scheduling`); their market-signal children share the prefix (`<run id>:<step>`), so one
prefix query per kind finds every Pending or Running instance of the shop, children included.
"""

from __future__ import annotations

import logging

import azure.durable_functions as df

from shared.db.shops import check_shop_domain

log = logging.getLogger(__name__)

RUNNING = [df.OrchestrationRuntimeStatus.Pending, df.OrchestrationRuntimeStatus.Running]


def run_instance_prefixes(shop: str) -> tuple[str, ...]:
    domain = check_shop_domain(shop)
    return (f"daily-{domain}-", f"manual-{domain}-")


async def terminate_shop_runs(client: df.DurableOrchestrationClient, shop: str, reason: str) -> list[str]:
    """Terminate every Pending or Running pipeline instance of the shop; the ids terminated."""
    stopped = []
    for prefix in run_instance_prefixes(shop):
        for status in await client.get_status_by(runtime_status=RUNNING, instance_id_prefix=prefix):
            try:
                await client.terminate(status.instance_id, reason)
            except Exception as exc:  # noqa: BLE001 - it may have finished since it was listed
                current = await client.get_status(status.instance_id)
                if current and current.runtime_status in RUNNING:
                    raise
                log.info("run %s finished before it could be terminated (%s)", status.instance_id, type(exc).__name__)
                continue
            stopped.append(status.instance_id)
    if stopped:
        log.info("terminated %d runs of %s: %s", len(stopped), shop, reason)
    return stopped
