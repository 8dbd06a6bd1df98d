"""What the app reads from a delivery's headers, what it keeps of its body, and how REST ids become the sync's GraphQL ids."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from shared.shopify import webhook_topics as topics
from shared.shopify.webhook_endpoint import DeliveryHeaders
from shared.shopify.webhook_payloads import PayloadError, gid, kept_fields, parse_payload, read_body
from shared.shopify.webhook_processing import MAX_ATTEMPTS, describe_error, retry_delay

ORDER = {
    "id": 1, "created_at": "2026-10-31T10:00:00+00:00", "currency": "GBP", "email": "a@example.org",
    "customer": {"id": 9, "email": "a@example.org"}, "billing_address": {"address1": "1 Road"},
    "line_items": [{"id": 2, "variant_id": 3, "product_id": 4, "quantity": 1, "price": "5.00", "name": "Mug",
                    "properties": [{"name": "Engraving", "value": "For Ann"}],
                    "price_set": {"shop_money": {"amount": "5.00", "currency_code": "GBP"},
                                  "presentment_money": {"amount": "6.00", "currency_code": "EUR"}}}],
}


def test_only_declared_fields_are_kept_at_every_level():
    kept = kept_fields(topics.ORDERS_CREATE, ORDER)
    assert set(kept) == {"id", "created_at", "currency", "line_items"}
    assert set(kept["line_items"][0]) == {"id", "variant_id", "product_id", "quantity", "price", "price_set"}
    assert kept["line_items"][0]["price_set"] == {"shop_money": {"amount": "5.00", "currency_code": "GBP"}}
    assert "a@example.org" not in str(kept) and "For Ann" not in str(kept)


def test_an_unknown_topic_keeps_nothing():
    assert kept_fields("orders/paid", ORDER) == {}


def test_an_odd_shape_is_kept_as_sent_and_fails_when_read_naming_the_field():
    odd = {**ORDER, "line_items": [{**ORDER["line_items"][0], "price": {"amount": "5.00"}}]}
    kept = kept_fields(topics.ORDERS_CREATE, odd)
    assert kept["line_items"][0]["price"] == {"amount": "5.00"}
    with pytest.raises(ValidationError) as raised:
        parse_payload(topics.ORDERS_CREATE, kept)
    message = describe_error(raised.value)
    assert message.startswith("invalid payload: line_items.0.price") and "5.00" not in message


def test_rest_ids_become_the_syncs_gids():
    assert gid("Product", 632910392) == "gid://shopify/Product/632910392"
    assert gid("Product", "gid://shopify/Product/1") == "gid://shopify/Product/1"
    with pytest.raises(PayloadError):
        gid("Product", "12; DROP TABLE products")


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_named_as_such(body):
    with pytest.raises(PayloadError):
        read_body(body)


def test_retries_back_off_exponentially_and_are_capped():
    delays = [retry_delay(n) for n in range(1, MAX_ATTEMPTS + 1)]
    assert delays[:3] == [timedelta(minutes=5), timedelta(minutes=10), timedelta(minutes=20)]
    assert max(delays) == timedelta(hours=6) and delays == sorted(delays)


HEADERS = {"x-shopify-topic": "orders/create", "x-shopify-shop-domain": "Some-Shop.myshopify.com",
           "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", "x-shopify-event-id": "98880550-7158-44d4",
           "x-shopify-api-version": "2026-10", "x-shopify-triggered-at": "2026-10-31T14:05:09.123456789Z"}


def test_delivery_headers_are_read_with_nanosecond_times_and_a_lower_cased_domain():
    delivery = DeliveryHeaders.from_headers(HEADERS)
    assert delivery.shop_domain == "some-shop.myshopify.com" and delivery.topic == "orders/create"
    assert delivery.triggered_at.isoformat() == "2026-10-31T14:05:09.123456+00:00"


def test_the_events_systems_unprefixed_headers_are_read_too():
    unprefixed = {name.removeprefix("x-"): value for name, value in HEADERS.items()}
    assert DeliveryHeaders.from_headers(unprefixed) == DeliveryHeaders.from_headers(HEADERS)


@pytest.mark.parametrize("value", ["yesterday", "2026-10-31T14:05:09", ""])
def test_an_unreadable_or_naive_trigger_time_is_dropped_not_refused(value):
    assert DeliveryHeaders.from_headers({**HEADERS, "x-shopify-triggered-at": value}).triggered_at is None
