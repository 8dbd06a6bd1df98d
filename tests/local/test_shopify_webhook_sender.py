"""The emulator's webhook sender: Shopify's headers and signature, re-delivery with bounded backoff, duplicates,
and REST-shaped payloads the app's own models accept."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.local.sample_store import generate_store
from shared.local.shopify_webhook_payloads import SAMPLE_CUSTOMER, number, order_payload, sample_payload
from shared.local.shopify_webhook_sender import ShopifyWebhookSender
from shared.shopify import webhook_payloads
from shared.shopify import webhook_topics as topics
from shared.shopify.webhook_hmac import matching_secret

SECRET = "sender-test-secret"
HEADERS = ("X-Shopify-Topic", "X-Shopify-Hmac-Sha256", "X-Shopify-Shop-Domain", "X-Shopify-Webhook-Id",
           "X-Shopify-Event-Id", "X-Shopify-API-Version", "X-Shopify-Triggered-At")


class Receiver:
    """Answers the statuses in `script` in turn (then 200); a 0 means: answer nothing for `stall` seconds."""

    def __init__(self, script: list[int], stall: float = 0.0) -> None:
        self.script = list(script)
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.received.append((dict(self.headers.items()), body))
                    status = receiver.script.pop(0) if receiver.script else 200
                if status == 0:
                    time.sleep(stall)
                    status = 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/api/webhooks/shopify"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture()
def store():
    return generate_store(n_products=4)


def make_sender(url: str, sleeps: list[float], **options) -> ShopifyWebhookSender:
    return ShopifyWebhookSender(url, SECRET, sleep=sleeps.append, **options)


def test_a_delivery_carries_shopifys_headers_and_a_signature_of_its_exact_bytes(store):
    receiver = Receiver([])
    try:
        with make_sender(receiver.url, []) as sender:
            report = sender.send(topics.PRODUCTS_UPDATE, store.domain, sample_payload(topics.PRODUCTS_UPDATE, store))
    finally:
        receiver.close()
    assert report.delivered and len(receiver.received) == 1
    headers, body = receiver.received[0]
    assert all(headers.get(name) for name in HEADERS)
    assert headers["X-Shopify-Topic"] == "products/update" and headers["X-Shopify-Shop-Domain"] == store.domain
    assert headers["X-Shopify-API-Version"] == "2026-10"
    assert datetime.fromisoformat(headers["X-Shopify-Triggered-At"].replace("Z", "+00:00")).tzinfo is not None
    assert body == report.delivery.body
    assert matching_secret(body, headers["X-Shopify-Hmac-Sha256"], [("current", SECRET)]) == "current"
    shopify_app = pytest.importorskip("shopify_app")
    verdict = shopify_app.verify_webhook_req(
        {"method": "POST", "headers": headers, "body": body.decode("utf-8"), "url": receiver.url},
        {"client_id": "id", "client_secret": SECRET, "old_client_secret": None})
    assert verdict.ok and verdict.shop == store.domain.removesuffix(".myshopify.com")


def test_non_2xx_answers_are_redelivered_byte_for_byte_with_a_doubling_backoff(store):
    receiver = Receiver([503, 500, 401])
    sleeps: list[float] = []
    try:
        with make_sender(receiver.url, sleeps, backoff_seconds=0.5, max_attempts=5) as sender:
            report = sender.send(topics.ORDERS_CREATE, store.domain, sample_payload(topics.ORDERS_CREATE, store))
    finally:
        receiver.close()
    assert report.delivered and [a.status for a in report.attempts] == [503, 500, 401, 200]
    assert sleeps == [0.5, 1.0, 2.0]
    first_headers, first_body = receiver.received[0]
    assert all(body == first_body for _, body in receiver.received)
    assert {h["X-Shopify-Webhook-Id"] for h, _ in receiver.received} == {first_headers["X-Shopify-Webhook-Id"]}
    assert {h["X-Shopify-Hmac-Sha256"] for h, _ in receiver.received} == {first_headers["X-Shopify-Hmac-Sha256"]}


def test_a_timeout_counts_as_a_failure_and_is_redelivered(store):
    receiver = Receiver([0], stall=1.0)
    try:
        with make_sender(receiver.url, [], timeout_seconds=0.3) as sender:
            report = sender.send(topics.SHOP_REDACT, store.domain, sample_payload(topics.SHOP_REDACT, store))
    finally:
        receiver.close()
    assert report.attempts[0].status is None and "timeout" in report.attempts[0].error
    assert report.delivered and len(report.attempts) == 2


def test_redelivery_is_bounded_in_attempts_and_in_backoff(store):
    receiver = Receiver([500] * 20)
    sleeps: list[float] = []
    try:
        with make_sender(receiver.url, sleeps, max_attempts=6, backoff_seconds=1.0, max_backoff_seconds=4.0) as sender:
            report = sender.send(topics.SHOP_REDACT, store.domain, sample_payload(topics.SHOP_REDACT, store))
    finally:
        receiver.close()
    assert not report.delivered and len(report.attempts) == 6 and len(receiver.received) == 6
    assert sleeps == [1.0, 2.0, 4.0, 4.0, 4.0]


def test_duplicates_can_be_sent_at_once(store):
    receiver = Receiver([])
    try:
        with make_sender(receiver.url, []) as sender:
            delivery = sender.build(topics.APP_UNINSTALLED, store.domain, sample_payload(topics.APP_UNINSTALLED, store))
            reports = sender.send_concurrently(delivery, copies=6)
    finally:
        receiver.close()
    assert all(r.delivered for r in reports) and len(receiver.received) == 6
    assert {h["X-Shopify-Webhook-Id"] for h, _ in receiver.received} == {delivery.webhook_id}


@pytest.mark.parametrize("topic", sorted(topics.SUPPORTED_TOPICS))
def test_each_topics_sample_payload_is_rest_shaped_and_the_app_reads_it(store, topic):
    payload = json.loads(json.dumps(sample_payload(topic, store)))  # through JSON, as it travels
    model = webhook_payloads.parse_payload(topic, webhook_payloads.kept_fields(topic, payload))
    if "id" in payload and "admin_graphql_api_id" in payload:
        assert isinstance(payload["id"], int) and number(payload["admin_graphql_api_id"]) == payload["id"]
    if topic in (topics.ORDERS_CREATE, topics.ORDERS_UPDATED):
        assert payload["customer"]["email"] == SAMPLE_CUSTOMER.email  # realistic: the app must drop it
        assert len(model.line_records()) == len(payload["line_items"])
    if topic in (topics.PRODUCTS_CREATE, topics.PRODUCTS_UPDATE):
        assert len(model.variant_records()) == len(payload["variants"]) > 0


def test_order_payload_prices_reproduce_the_stores_discounted_unit_prices(store):
    order = next(o for o in store.orders if any(x.discounted_unit_price < x.original_unit_price for x in o.line_items))
    payload = json.loads(json.dumps(order_payload(store, order)))
    records = webhook_payloads.parse_payload(topics.ORDERS_CREATE, webhook_payloads.kept_fields(
        topics.ORDERS_CREATE, payload)).line_records()
    by_id = {line.id: line for line in order.line_items}
    for record in records:
        line = by_id[record.line_id]
        assert (record.original_unit_price, record.discounted_unit_price) == \
            (line.original_unit_price, line.discounted_unit_price)
