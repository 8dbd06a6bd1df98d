"""Purging queued Durable histories through the client: children by prefix, running ones
terminated first and purged on the next round, nothing else touched."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import azure.durable_functions as df

from shared.db.durable_history_purges import queue_purges
from shared.db.pool import transaction
from shared.durable_history_purge import purge_queued_histories
from shared.local.demo import local_functions
from shared.local.durable import RuntimeStatus


def queued() -> set[str]:
    with transaction() as conn:
        return {r["instance_id"] for r in conn.execute("SELECT instance_id FROM durable_history_purges")}


def test_children_go_with_their_parent_and_a_running_instance_is_stopped_then_purged(db):
    run = f"manual-purge-test.myshopify.com-{datetime.now(timezone.utc):%H%M%S%f}"
    with local_functions(lambda line: None) as (runner, host, key):
        for instance in (run, f"{run}:fetch_trends", f"{run}x-neighbour"):
            runner.start_new("process_webhook_events", instance, {"webhook_id": "nothing-stored"})
            runner.run(instance)  # completes: no such event
        still_running = run + "-still-running"
        runner.start_new("process_webhook_events", still_running, {"webhook_id": "nothing-stored"})  # never driven
        with transaction() as conn:
            queue_purges(conn, [run], include_children=True, now=datetime.now(timezone.utc))
            queue_purges(conn, [still_running], include_children=False, now=datetime.now(timezone.utc))

        async def two_rounds():  # one event loop: the SDK's HTTP session outlives a loop of its own
            client = df.DurableOrchestrationClient(host.durable_client_binding())
            first = await purge_queued_histories(client)
            after_first = (runner.get_status(run), runner.get_status(f"{run}:fetch_trends"),
                           runner.get_status(f"{run}x-neighbour"), runner.get_status(still_running).runtime_status,
                           queued())
            return first, after_first, await purge_queued_histories(client)

        first, (parent, child, neighbour, running_status, waiting), second = asyncio.run(two_rounds())
        assert (first.purged, first.instances_deleted, first.waiting) == (1, 2, 1)
        assert parent is None and child is None
        assert neighbour is not None  # shares a prefix, not the `<id>:` of a child
        assert running_status is RuntimeStatus.Terminated and waiting == {still_running}
        assert (second.purged, second.waiting) == (1, 0)
        assert runner.get_status(still_running) is None and queued() == set()
