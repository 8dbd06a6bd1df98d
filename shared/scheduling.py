"""Which pipeline runs to start, under which instance ids.

The daily run of a shop has the id `daily-<shop>-<YYYYMMDD>`, so a second firing of the
timer on the same day finds it and starts nothing; an instance that Failed or was
Terminated may be started again under the same id.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime

from shared.db.shops import check_shop_domain
from shared.run_termination import RUNNING, run_instance_prefixes

log = logging.getLogger(__name__)

PIPELINE = "daily_pipeline"
RESTARTABLE = {"Failed", "Terminated"}


def daily_instance_id(shop: str, now: datetime) -> str:
    return f"daily-{check_shop_domain(shop)}-{now:%Y%m%d}"


def manual_instance_id(shop: str, now: datetime) -> str:
    # The random tail keeps two requests in the same second apart.
    return f"manual-{check_shop_domain(shop)}-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def _status_name(status) -> str | None:
    """Runtime status of a get_status() answer; None when the instance does not exist."""
    # The SDK answers a missing instance with a falsy status object, not None.
    if not status:
        return None
    runtime = getattr(status, "runtime_status", None)
    return getattr(runtime, "value", runtime)


async def start_daily_run(client, shop: str, now: datetime) -> str | None:
    """Start today's run for a shop unless it already exists; return the id started, if any."""
    instance_id = daily_instance_id(shop, now)
    existing = _status_name(await client.get_status(instance_id))
    if existing is not None and existing not in RESTARTABLE:
        log.info("daily run %s already %s; not starting it again", instance_id, existing)
        return None
    await client.start_new(PIPELINE, instance_id, {"shop": shop, "trigger": "timer"})
    return instance_id


async def start_first_run(client, shop: str, now: datetime) -> str | None:
    """The run an install starts; none while a run of the shop is still pending or running (a
    reinstall during a run, or a run an interrupted host left to resume): one pipeline at a time."""
    for prefix in run_instance_prefixes(shop):
        going = await client.get_status_by(runtime_status=RUNNING, instance_id_prefix=prefix)
        if going:
            log.info("%s already has run %s %s; the install starts no other", shop, going[0].instance_id,
                     _status_name(going[0]))
            return None
    return await start_manual_run(client, shop, now)


async def start_daily_runs(client, shops: list[str], now: datetime) -> list[str]:
    started = []
    for shop in shops:
        instance_id = await start_daily_run(client, shop, now)
        if instance_id:
            started.append(instance_id)
    log.info("daily timer: %d shops, %d runs started", len(shops), len(started))
    return started


async def start_manual_run(client, shop: str, now: datetime) -> str:
    instance_id = manual_instance_id(shop, now)
    await client.start_new(PIPELINE, instance_id, {"shop": shop, "trigger": "manual"})
    return instance_id
