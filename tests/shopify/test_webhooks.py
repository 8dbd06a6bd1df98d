"""The webhook endpoint: signatures (Shopify's own vectors), refusals that store nothing, size, and duplicates.

Every refusal is checked twice: by its status and by the database holding no row of it. The
deliveries come from the emulator's sender, which signs as Shopify does with its own HMAC code.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import httpx
import pytest

from shared.db.pool import transaction
from shared.local.demo import apply_settings
from shared.local.shopify_webhook_payloads import inventory_level_payload, product_payload
from shared.local.shopify_webhook_sender import ShopifyWebhookSender
from shared.shopify import webhook_topics as topics
from shared.shopify.webhook_endpoint import MAX_BODY_BYTES
from shared.local.shopify_webhook_sender import shopify_signature as webhook_signature
from shared.shopify.webhook_hmac import matching_secret
from webhook_fixtures import PREVIOUS_SECRET, SECRET, count_rows, event_row, webhook_world

DOMAIN = "webhook-door.myshopify.com"

# Shopify's published webhook vectors (reference section 9): secret, exact body bytes, header.
W1 = ("test_secret_key", b'{"foo": "bar"}', "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g=")
W2 = ("sphss_sjdnbsfsdjbgksbgksgb", b'{"test":{"test2": "testing"}}', "RJCzgKmUoGP/Ylod4MhDP+BXTVOaV4NVbdqa3xn9vw4=")


@pytest.fixture(scope="module")
def world(local_data_dir):
    with webhook_world(DOMAIN) as world:
        yield world


def total_events() -> int:
    return count_rows("webhook_events")


def post(world, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(world.url, content=body, headers=headers, timeout=30)


# --- the signature itself ------------------------------------------------------------------------


@pytest.mark.parametrize("vector", [W1, W2], ids=["shopify-app-js", "shopify-access-csharp"])
def test_official_webhook_vectors(vector):
    secret, body, expected = vector
    assert webhook_signature(body, secret) == expected
    assert matching_secret(body, expected, [("current", secret)]) == "current"
    assert matching_secret(body, expected, [("current", "another"), ("previous", secret)]) == "previous"
    assert matching_secret(body + b" ", expected, [("current", secret)]) is None


def test_the_emulators_signatures_verify_on_random_bodies_and_fail_under_another_secret():
    for size in (0, 1, 17, 4096):
        body = json.dumps({"blob": base64.b64encode(os.urandom(size)).decode(), "ü": "ß"}).encode()
        secret = secrets.token_urlsafe(24)
        assert matching_secret(body, webhook_signature(body, secret), [("current", secret)]) == "current"
        assert matching_secret(body, webhook_signature(body, secret + "x"), [("current", secret)]) is None


def test_a_body_that_is_not_utf8_matches_nothing_even_with_its_own_signature():
    body = b'{"title": "caf\xe9"}'  # Latin-1: no Shopify body looks like this
    assert matching_secret(body, webhook_signature(body, "s"), [("current", "s")]) is None


def test_a_re_encoded_body_does_not_match():
    original = '{"title": "Café"}'.encode("utf-8")
    signature = webhook_signature(original, "s")
    assert matching_secret(original, signature, [("current", "s")]) == "current"
    assert matching_secret('{"title": "Caf\\u00e9"}'.encode(), signature, [("current", "s")]) is None
    assert matching_secret('{"title": "Café"}'.encode("utf-16"), signature, [("current", "s")]) is None


@pytest.mark.parametrize("header", ["", "not base64!", base64.b64encode(b"short").decode(), "=" * 44])
def test_malformed_signature_headers_match_nothing(header):
    assert matching_secret(b"{}", header, [("current", "s")]) is None


def test_an_official_vector_passes_the_endpoints_check(world):
    """W1 through the real endpoint: its signature is accepted (the shop header of the vector, a
    .myshopify.io test domain, is then refused by shape; a .myshopify.com one is stored)."""
    secret, body, signature = W1
    apply_settings({"SHOPIFY_CLIENT_SECRET": secret})
    try:
        headers = {"X-Shopify-Topic": "products/create", "X-Shopify-Hmac-Sha256": signature,
                   "X-Shopify-API-Version": "2023-01", "Content-Type": "application/json"}
        refused = post(world, body, {**headers, "X-Shopify-Shop-Domain": "shop1.myshopify.io",
                                     "X-Shopify-Webhook-Id": "123456789"})
        assert refused.status_code == 400 and "X-Shopify-Shop-Domain" in refused.json()["error"]
        assert event_row("123456789") is None
        webhook_id = "w1-" + uuid.uuid4().hex
        accepted = post(world, body, {**headers, "X-Shopify-Shop-Domain": "shop1.myshopify.com",
                                      "X-Shopify-Webhook-Id": webhook_id})
        assert accepted.status_code == 200
    finally:
        apply_settings({"SHOPIFY_CLIENT_SECRET": SECRET})
    # {"foo": "bar"} is no product: kept, failed with the reason (the fields it lacks), never lost.
    row = world.wait_processed(webhook_id)
    assert row["status"] == "failed" and row["payload"] == {}
    assert "id: Field required" in row["last_error"] and "title: Field required" in row["last_error"]


def test_a_verified_body_that_is_not_json_is_kept_as_failed_and_answered_200(world):
    delivery = world.sender.build(topics.PRODUCTS_UPDATE, world.store.domain, b"<product>not json</product>")
    assert post(world, delivery.body, delivery.headers).status_code == 200
    row = event_row(delivery.webhook_id)
    assert row["status"] == "failed" and row["last_error"] == "the body is not JSON" and row["payload"] == {}
    assert world.runner.get_status(f"webhook-{delivery.webhook_id}") is None  # nothing to retry: bytes do not change


# --- refusals store nothing ----------------------------------------------------------------------


def signed_delivery(world, **options):
    level = world.store.inventory_levels[0]
    return world.sender.build(topics.INVENTORY_LEVELS_UPDATE, world.store.domain,
                              inventory_level_payload(world.store, level, available=5), **options)


def tampered_cases(world):
    good = signed_delivery(world)
    body, headers = good.body, good.headers
    reencoded = json.dumps(json.loads(body), indent=1, ensure_ascii=True).encode()  # same JSON, other bytes
    assert json.loads(reencoded) == json.loads(body) and reencoded != body
    wrong = ShopifyWebhookSender(world.url, "not-the-secret").build(
        topics.INVENTORY_LEVELS_UPDATE, world.store.domain, json.loads(body))
    return {
        "forged": (body, {**headers, "X-Shopify-Hmac-Sha256": base64.b64encode(os.urandom(32)).decode()}),
        "truncated": (body[:-1], headers),
        "re-encoded": (reencoded, headers),
        "wrong secret": (wrong.body, wrong.headers),
        "missing signature": (body, {k: v for k, v in headers.items() if k != "X-Shopify-Hmac-Sha256"}),
        "signature of another body": (body, {**headers, "X-Shopify-Hmac-Sha256": webhook_signature(b"{}", SECRET)}),
    }


@pytest.mark.parametrize("case", ["forged", "truncated", "re-encoded", "wrong secret", "missing signature",
                                  "signature of another body"])
def test_a_bad_signature_is_refused_401_and_nothing_is_stored(world, case):
    before = total_events()
    body, headers = tampered_cases(world)[case]
    response = post(world, body, headers)
    assert response.status_code == 401
    assert event_row(headers["X-Shopify-Webhook-Id"]) is None
    assert total_events() == before


def test_the_untampered_control_is_accepted(world):
    """The positive control for the refusals above: the same construction, unmodified, is stored."""
    delivery = signed_delivery(world)
    assert post(world, delivery.body, delivery.headers).status_code == 200
    assert event_row(delivery.webhook_id) is not None


def test_bodies_over_one_mib_are_refused_413_and_at_one_mib_accepted(world):
    def body_of(size: int) -> bytes:
        start = json.dumps({"id": 1, "padding": ""}).encode()
        body = json.dumps({"id": 1, "padding": "x" * (size - len(start))}).encode()
        assert len(body) == size
        return body

    before = total_events()
    too_big = world.sender.build(topics.PRODUCTS_DELETE, world.store.domain, body_of(MAX_BODY_BYTES + 1))
    response = post(world, too_big.body, too_big.headers)
    assert response.status_code == 413
    assert event_row(too_big.webhook_id) is None and total_events() == before
    just_fits = world.sender.build(topics.PRODUCTS_DELETE, world.store.domain, body_of(MAX_BODY_BYTES))
    assert post(world, just_fits.body, just_fits.headers).status_code == 200
    assert event_row(just_fits.webhook_id)["payload"] == {"id": 1}  # the padding is not kept


@pytest.mark.parametrize("header, value", [
    ("X-Shopify-Shop-Domain", "evil.example.com"),
    ("X-Shopify-Shop-Domain", "shop.myshopify.com.evil.example"),
    ("X-Shopify-Webhook-Id", ""),
    ("X-Shopify-Webhook-Id", "../../instances/x"),
    ("X-Shopify-Topic", ""),
])
def test_malformed_headers_are_refused_400_and_nothing_is_stored(world, header, value):
    before = total_events()
    delivery = signed_delivery(world)
    response = post(world, delivery.body, {**delivery.headers, header: value})
    assert response.status_code == 400, response.text
    assert header in response.json()["error"]
    assert total_events() == before


def test_a_payload_naming_another_shop_than_the_header_is_refused(world):
    before = total_events()
    delivery = world.sender.build(topics.SHOP_REDACT, world.store.domain,
                                  {"shop_id": 1, "shop_domain": "someone-else.myshopify.com"})
    response = post(world, delivery.body, delivery.headers)
    assert response.status_code == 400 and "another shop" in response.json()["error"]
    assert total_events() == before


def test_during_a_secret_rotation_the_previous_secret_is_accepted_and_noted(world):
    old = ShopifyWebhookSender(world.url, PREVIOUS_SECRET, max_attempts=1)
    delivery = old.build(topics.INVENTORY_LEVELS_UPDATE, world.store.domain,
                         json.loads(signed_delivery(world).body))
    assert post(world, delivery.body, delivery.headers).status_code == 401  # no rotation configured
    apply_settings({"SHOPIFY_CLIENT_SECRET_PREVIOUS": PREVIOUS_SECRET})
    try:
        assert post(world, delivery.body, delivery.headers).status_code == 200
        current = signed_delivery(world)
        assert post(world, current.body, current.headers).status_code == 200
    finally:
        os.environ.pop("SHOPIFY_CLIENT_SECRET_PREVIOUS", None)
        apply_settings({})
    assert event_row(delivery.webhook_id)["verified_with"] == "previous"
    assert event_row(current.webhook_id)["verified_with"] == "current"


def test_without_a_client_secret_nothing_is_accepted(world):
    delivery = signed_delivery(world)
    os.environ.pop("SHOPIFY_CLIENT_SECRET", None)
    apply_settings({})
    try:
        response = post(world, delivery.body, delivery.headers)
    finally:
        apply_settings({"SHOPIFY_CLIENT_SECRET": SECRET})
    assert response.status_code == 503
    assert event_row(delivery.webhook_id) is None


# --- duplicates ----------------------------------------------------------------------------------


def test_the_same_delivery_ten_times_at_once_is_stored_once_and_processed_once(world):
    store = world.store
    level = store.inventory_levels[1]
    delivery = world.sender.build(topics.INVENTORY_LEVELS_UPDATE, store.domain,
                                  inventory_level_payload(store, level, available=4321))
    reports = world.sender.send_concurrently(delivery, copies=10)
    assert [r.last_status for r in reports] == [200] * 10
    row = world.wait_processed(delivery.webhook_id)
    assert count_rows("webhook_events", "webhook_id = %s", (delivery.webhook_id,)) == 1
    assert row["status"] == "processed" and row["attempts"] == 1, row
    instances = world.runner.list_instances(instance_id_prefix=f"webhook-{delivery.webhook_id}")
    assert len(instances) == 1
    assert available_of(store.domain, level) == 4321


def test_a_redelivery_after_processing_changes_nothing(world):
    store = world.store
    level = store.inventory_levels[2]
    delivery = world.sender.build(topics.INVENTORY_LEVELS_UPDATE, store.domain,
                                  inventory_level_payload(store, level, available=77))
    assert world.sender.deliver(delivery).delivered
    first = world.wait_processed(delivery.webhook_id)
    second = world.sender.deliver(delivery)
    assert second.delivered
    again = event_row(delivery.webhook_id)
    assert again["processed_at"] == first["processed_at"] and again["attempts"] == 1


def test_one_event_sent_to_two_subscriptions_is_applied_once(world):
    """Shopify sends one delivery per subscription (toml and API): same X-Shopify-Event-Id, two webhook ids."""
    store = world.store
    product = store.products[1]
    event_id = str(uuid.uuid4())
    payload = product_payload(store, product, title="Twin Delivery Title", updated_at=datetime.now(timezone.utc))
    first = world.sender.send(topics.PRODUCTS_UPDATE, store.domain, payload, event_id=event_id)
    world.wait_processed(first.delivery.webhook_id)
    second = world.sender.send(topics.PRODUCTS_UPDATE, store.domain, payload, event_id=event_id)
    row = world.wait_processed(second.delivery.webhook_id)
    assert row["status"] == "processed"
    assert row["outcome"] == f"duplicate of delivery {first.delivery.webhook_id}"
    assert event_row(first.delivery.webhook_id)["outcome"].startswith("product upserted")


def available_of(domain: str, level) -> int | None:
    with transaction() as conn:
        row = conn.execute(
            """SELECT il.available FROM inventory_levels il JOIN shops s ON s.id = il.shop_id
               WHERE s.domain = %s AND il.inventory_item_id = %s AND il.location_id = %s""",
            (domain, level.inventory_item_id, level.location_id),
        ).fetchone()
    return row["available"] if row else None


def test_the_endpoint_answers_before_processing_and_processing_follows(world):
    """The answer does not wait for the effect: while the stock row is locked (so processing cannot
    finish) the endpoint still answers 200 with the event stored as 'received'; the effect follows."""
    store = world.store
    level = store.inventory_levels[3]
    delivery = world.sender.build(topics.INVENTORY_LEVELS_UPDATE, store.domain,
                                  inventory_level_payload(store, level, available=1234))
    with ThreadPoolExecutor(1) as pool:
        with transaction() as conn:
            conn.execute(
                """SELECT 1 FROM inventory_levels il JOIN shops s ON s.id = il.shop_id
                   WHERE s.domain = %s AND il.inventory_item_id = %s AND il.location_id = %s FOR UPDATE OF il""",
                (store.domain, level.inventory_item_id, level.location_id),
            )
            assert post(world, delivery.body, delivery.headers).status_code == 200
            waiting = pool.submit(world.wait_processed, delivery.webhook_id)
            assert event_row(delivery.webhook_id)["status"] == "received"
            assert available_of(store.domain, level) != 1234
        row = waiting.result(timeout=60)
    assert row["status"] == "processed"
    assert available_of(store.domain, level) == 1234


def test_a_delivery_that_cannot_be_stored_is_not_acknowledged_and_shopifys_retry_stores_it(world, monkeypatch):
    from shared.db.pool import DatabaseUnavailableError
    from shared.shopify import webhook_endpoint

    real_store, calls = webhook_endpoint._store, []

    def store_once_unavailable(*args):
        calls.append(args)
        if len(calls) == 1:
            raise DatabaseUnavailableError("cannot reach the database")
        return real_store(*args)

    monkeypatch.setattr(webhook_endpoint, "_store", store_once_unavailable)
    retrying = ShopifyWebhookSender(world.url, SECRET, max_attempts=3, backoff_seconds=0.01)
    report = retrying.deliver(signed_delivery(world))
    assert [a.status for a in report.attempts] == [503, 200]
    row = world.wait_processed(report.delivery.webhook_id)
    assert row["status"] == "processed"
