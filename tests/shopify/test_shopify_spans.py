"""The Shopify calls outside the sync's queries are spans too: webhook subscriptions (one per
request, named by operation, with their query points) and the bulk result download (its size,
and never the signed URL)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import date

import pytest

from shared import telemetry
from shared.local.sample_store import generate_store
from shared.local.shopify_emulator import ManualClock, ShopifyEmulator
from shared.local.shopify_webhook_subscriptions_standin import WebhookSubscriptionsStandIn
from shared.shopify import webhook_topics as topics
from shared.shopify.admin_api import AdminApiClient
from shared.shopify.bulk_operations import bulk_operation, download_result, start_bulk_query
from shared.shopify.webhook_subscriptions import create_webhook_subscriptions

DOMAIN = "spans-test.myshopify.com"
TOKEN = "shpat_spans_test_token_000000001"


@pytest.fixture
def emulator():
    store = dataclasses.replace(generate_store(n_products=4, as_of=date(2026, 11, 28)), domain=DOMAIN)
    emulator = ShopifyEmulator(clock=ManualClock()).start()
    emulator.add_shop(store, TOKEN, domain=DOMAIN)
    emulator.subscriptions = WebhookSubscriptionsStandIn(emulator)
    yield emulator, store
    emulator.stop()


def client(emulator: ShopifyEmulator) -> AdminApiClient:
    return AdminApiClient(DOMAIN, TOKEN, base_url_template=emulator.admin_base_url_template)


def test_each_subscription_request_is_a_span_with_its_operation_and_cost(spans, emulator):
    emulator, _ = emulator

    async def go():
        async with client(emulator) as admin:
            with telemetry.cost_ledger() as ledger:
                await create_webhook_subscriptions(admin, uri="https://advisor.example/api/webhooks/shopify")
            return ledger

    ledger = asyncio.run(go())
    made = [s for s in spans.get_finished_spans() if s.attributes.get("external.service") == "shopify"]
    subscribed = emulator.subscriptions.of(DOMAIN)
    assert len(made) == len(subscribed) == len(topics.API_SUBSCRIBABLE_TOPICS)  # one span per request
    assert {s.attributes["graphql_operation"] for s in made} == {"CreateWebhookSubscription"}
    # The stand-in charges webhookSubscriptionCreate 10 points, as Shopify does for a mutation.
    assert [s.attributes["cost.query_points"] for s in made] == [10.0] * len(made)
    assert ledger.calls == {"shopify": len(made)}
    assert ledger.as_rows() == [{"service": "shopify", "unit": "query_points", "amount": 10.0 * len(made)}]


def test_the_bulk_download_is_a_span_with_its_size_and_without_the_signed_url(spans, emulator, tmp_path):
    emulator, store = emulator

    async def go():
        async with client(emulator) as admin:
            operation = await start_bulk_query(admin, "{ products { edges { node { id title } } } }")
            emulator.shop(DOMAIN).bulk_operations.clock.advance(60)
            for _ in range(500):
                operation = await bulk_operation(admin, operation.id)
                if operation.status.finished:
                    break
                await asyncio.sleep(0.01)
            return operation, await download_result(operation, admin, tmp_path / "products.jsonl")

    operation, lines = asyncio.run(go())
    assert lines == len(store.products)
    (download,) = [s for s in spans.get_finished_spans() if s.attributes.get("external.operation") == "bulk_result_download"]
    assert download.attributes["external.outcome"] == "ok"
    assert download.attributes["http.response.status_code"] == 200
    assert download.attributes["download.bytes"] == (tmp_path / "products.jsonl").stat().st_size > 0
    signature = operation.url.split("signature=", 1)[1]
    assert not any(signature in str(value) for span in spans.get_finished_spans() for value in span.attributes.values())
