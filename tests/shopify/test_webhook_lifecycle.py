"""A shop's life through its webhooks, on a database after a real pipeline run: no personal data is
ever stored, app/uninstalled stops a running pipeline at once, and shop/redact leaves nothing.

The tests run in order on one shop: the run, the privacy checks, the uninstall, the redaction.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from urllib.parse import unquote

import httpx
import pytest

from activities.bookkeeping import ShopNotFoundError, begin_run
from shared import http_api
from shared.db.pool import transaction
from shared.local import shopify_webhook_payloads as payloads
from shared.local.demo import run_and_wait, start_run_over_http
from shared.local.durable import RuntimeStatus
from shared.local.shopify_webhook_payloads import SAMPLE_CUSTOMER, SHOP_OWNER_EMAIL
from shared.shopify import webhook_topics as topics
from conftest import columns_holding
from webhook_fixtures import count_rows, shop_row, wait_until, webhook_world

DOMAIN = "webhook-lifecycle.myshopify.com"

# Everything personal the payloads carry; none of it may be found anywhere afterwards.
PERSONAL = [
    SAMPLE_CUSTOMER.email, SAMPLE_CUSTOMER.phone, SAMPLE_CUSTOMER.last_name, SAMPLE_CUSTOMER.address1,
    SAMPLE_CUSTOMER.zip, str(SAMPLE_CUSTOMER.id), SHOP_OWNER_EMAIL, "Harriet Hazelwood", "203.0.113.42",
    "Love, Pip", "neighbour",
]
# Column names that would mean personal data is kept (the customer's, or the shop owner's).
PERSONAL_COLUMN = ("email", "phone", "address", "first_name", "last_name", "full_name", "customer", "buyer",
                   "billing", "shipping", "zip", "postcode", "postal", "birth", "ip_address", "browser", "owner")


def table_counts() -> dict[str, int]:
    with transaction() as conn:
        tables = [r["table_name"] for r in conn.execute(
            """SELECT table_name FROM information_schema.tables
               WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name""").fetchall()]
        return {t: conn.execute(f'SELECT count(*) AS n FROM "{t}"').fetchone()["n"] for t in tables}


@pytest.fixture(scope="module")
def before(local_data_dir, db):
    """Every table's row count before this module's shop exists."""
    return table_counts()


@pytest.fixture(scope="module")
def world(before, logs):
    with webhook_world(DOMAIN) as world:
        yield world


@pytest.fixture(scope="module")
def after_a_run(world):
    """A complete pipeline run, then the webhooks that carry personal data."""
    outcome = run_and_wait(world.runner, world.host, world.key, DOMAIN, lambda line: None)
    assert outcome.ok, outcome
    store = world.store
    orders = list(store.orders[-4:])
    sent = [
        world.sender.send(topics.ORDERS_CREATE, DOMAIN, payloads.order_payload(store, orders[0])),
        world.sender.send(topics.ORDERS_UPDATED, DOMAIN, payloads.order_payload(store, orders[1])),
        world.sender.send(topics.CUSTOMERS_DATA_REQUEST, DOMAIN, payloads.customers_data_request_payload(store, orders)),
        world.sender.send(topics.CUSTOMERS_REDACT, DOMAIN, payloads.customers_redact_payload(store, orders[:2])),
    ]
    for report in sent:
        assert report.delivered
        row = world.wait_processed(report.delivery.webhook_id)
        assert row["status"] == "processed", row
    return outcome


def test_no_column_of_the_schema_is_for_personal_data(db):
    with transaction() as conn:
        columns = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'").fetchall()
        order_line_columns = {c["column_name"] for c in columns if c["table_name"] == "order_lines"}
    assert len(columns) > 100
    personal = [f"{c['table_name']}.{c['column_name']}" for c in columns
                if any(word in c["column_name"].lower() for word in PERSONAL_COLUMN)]
    assert personal == []
    assert order_line_columns >= {"order_id", "line_id", "quantity", "original_unit_price"}
    assert not any("customer" in name or name in ("user_id", "buyer_id", "email") for name in order_line_columns)


def test_after_a_run_and_personal_webhooks_no_personal_value_is_stored_anywhere(after_a_run, world, logs, local_data_dir):
    assert count_rows("order_lines", "shop_id = (SELECT id FROM shops WHERE domain = %s)", (DOMAIN,)) > 10
    assert columns_holding(PERSONAL) == []
    # Nor in Durable's history (orchestrations carry webhook ids only), nor in any log line.
    for path in (local_data_dir / "durable").rglob("*.json"):
        text = path.read_text()
        assert not any(value in text for value in PERSONAL), path.name
    assert logs
    for line in logs:
        assert not any(value in line for value in PERSONAL), line


def test_the_positive_control_a_planted_value_is_found(after_a_run):
    """The scan above can fail: a value written into a column is found."""
    with transaction() as conn:
        conn.execute("UPDATE shops SET name = %s WHERE domain = %s", ("planted " + SAMPLE_CUSTOMER.email, DOMAIN))
    try:
        assert columns_holding([SAMPLE_CUSTOMER.email]) == [f"shops.name: {SAMPLE_CUSTOMER.email}"]
    finally:
        with transaction() as conn:
            conn.execute("UPDATE shops SET name = %s WHERE domain = %s", (DOMAIN, DOMAIN))


def test_app_uninstalled_stops_a_running_pipeline_and_no_run_starts_after(after_a_run, world):
    emulator = world.stand_ins.emulator
    # Shopify answers 503 (retry after 1 s) to everything: the sync step keeps the run busy for many seconds.
    emulator.faults.inject(503, count=100_000, retry_after=1.0, shop=DOMAIN)
    try:
        instance_id = start_run_over_http(world.host, world.key, DOMAIN)
        wait_until(lambda: emulator.records(DOMAIN) and emulator.records(DOMAIN)[-1].outcome == "fault",
                   message="the sync to be under way")
        running = world.runner.get_status(instance_id)
        assert running.runtime_status is RuntimeStatus.Running and running.custom_status["step"] == "sync_shopify"

        report = world.sender.send(topics.APP_UNINSTALLED, DOMAIN, payloads.app_uninstalled_payload(world.store))
        answered = time.monotonic()
        assert report.delivered
        # At once, before any processing: tokens gone, shop uninstalled, the run terminated.
        shop = shop_row(DOMAIN)
        assert shop["status"] == "uninstalled"
        assert all(shop[c] is None for c in shop if "token" in c and c != "tokens_renewed_at"), shop
        status = world.runner.wait_for_completion(instance_id, timeout=30)
        assert status.runtime_status is RuntimeStatus.Terminated, status
        assert time.monotonic() - answered < 10  # the sync alone would have gone on for ~20 s more
        world.wait_processed(report.delivery.webhook_id)
    finally:
        emulator.faults.clear()

    # No future runs: not by hand, not by the timer's list, and a run started anyway stops at its first step.
    refused = httpx.post(f"{world.host.base_url}/api/shops/{DOMAIN}/pipeline", headers={"x-functions-key": world.key})
    assert refused.status_code == 409
    assert DOMAIN not in http_api.active_shops()
    with pytest.raises(ShopNotFoundError, match="uninstalled"):
        begin_run({"shop": DOMAIN, "run_id": "late-run", "trigger": "timer",
                   "started_at": datetime.now(timezone.utc).isoformat()})
    with transaction() as conn:
        late = conn.execute("SELECT count(*) AS n FROM pipeline_runs WHERE id = 'late-run'").fetchone()["n"]
    assert late == 0


def shop_instances(world) -> list[str]:
    """Every Durable instance the local runner stores whose state or history names the shop."""
    return sorted(unquote(path.stem) for path in world.runner.state_dir.glob("*.json")
                  if not path.name.startswith(".tmp-") and DOMAIN in path.read_text(encoding="utf-8"))


def test_shop_redact_leaves_no_row_of_the_shop_in_any_table_nor_any_durable_history(after_a_run, world, before):
    shop_id = shop_row(DOMAIN)["id"]
    during = table_counts()
    assert sum(during.values()) > sum(before.values()) + 100  # the run and the webhooks left plenty to delete
    with transaction() as conn:
        runs = [r["id"] for r in conn.execute("SELECT id FROM pipeline_runs WHERE shop_id = %s", (shop_id,))]
    assert runs and all(world.runner.get_status(run) is not None for run in runs)
    histories = shop_instances(world)
    assert set(runs) <= set(histories)
    assert any(":" in instance for instance in histories)  # the runs' sub-orchestrations too

    report = world.sender.send(topics.SHOP_REDACT, DOMAIN, payloads.shop_redact_payload(world.store))
    assert report.delivered
    assert world.wait_processed(report.delivery.webhook_id) is None  # its own row went too
    own = f"webhook-{report.delivery.webhook_id}"
    status = world.runner.get_status(own)
    assert status.output["status"] == "processed" and status.output["outcome"].startswith("shop redacted")
    # The activity has no Durable client: the runs' histories wait, queued, for one that has.
    assert set(runs) <= {r["instance_id"] for r in queued_purges()}

    world.host.invoke_timer("webhook_sweep")  # the function that holds a client purges them
    assert queued_purges() == []
    assert all(world.runner.get_status(run) is None for run in runs)
    assert world.runner.get_status(own) is None
    assert shop_instances(world) == []  # no state or history of any instance names the shop

    # Every table holds exactly what it held before this shop existed: nothing of it, nothing else lost.
    assert table_counts() == before
    assert columns_holding([DOMAIN]) == []
    with transaction() as conn:
        keyed = conn.execute("""SELECT table_name FROM information_schema.columns
                                WHERE table_schema = 'public' AND column_name = 'shop_id'""").fetchall()
        for row in keyed:
            n = conn.execute(f'SELECT count(*) AS n FROM "{row["table_name"]}" WHERE shop_id = %s', (shop_id,)).fetchone()
            assert n["n"] == 0, row["table_name"]

    # A redelivery of the redaction finds nothing to delete and leaves nothing behind either.
    again = world.sender.deliver(report.delivery)
    assert again.delivered
    assert world.wait_processed(report.delivery.webhook_id) is None
    world.host.invoke_timer("webhook_sweep")
    assert table_counts() == before
    assert world.runner.get_status(own) is None


def queued_purges() -> list[dict]:
    with transaction() as conn:
        return conn.execute("SELECT * FROM durable_history_purges").fetchall()
