"""The emulator's productVariantsBulkUpdate: cost, userErrors, all-or-nothing, and what reads see afterwards."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from shared.local.sample_store import generate_store
from shared.local.shopify_emulator import ShopifyEmulator
from shared.shopify.admin_api import AdminApiClient
from shared.shopify.price_updates import SET_PRICES_MUTATION

TOKEN = "shpat_price_mutation_test"
DOMAIN = "mutation-test.myshopify.com"


@pytest.fixture(scope="module")
def store():
    return generate_store(n_products=4, as_of=date(2026, 11, 28))


def call(emulator: ShopifyEmulator, query: str, variables: dict) -> tuple[dict, dict]:
    async def run():
        async with AdminApiClient(DOMAIN, TOKEN, base_url_template=emulator.admin_base_url_template) as client:
            data = await client.execute(query, variables)
            return data, client.last_cost.model_dump(by_alias=True)

    return asyncio.run(run())


def product_with_two_variants(store):
    return next(p for p in store.products if len(p.variants) >= 2)


def test_a_valid_update_changes_what_every_read_sees_and_costs_ten_points(store) -> None:
    product = product_with_two_variants(store)
    first, second = product.variants[:2]
    started = datetime.now(timezone.utc) - timedelta(seconds=1)
    with ShopifyEmulator() as emulator:
        emulator.add_shop(store, TOKEN, domain=DOMAIN)
        data, cost = call(emulator, SET_PRICES_MUTATION, {"productId": product.id, "variants": [
            {"id": first.id, "price": "12.99"}, {"id": second.id, "price": "0"}]})
        payload = data["productVariantsBulkUpdate"]
        assert payload["userErrors"] == []
        assert {v["id"]: v["price"] for v in payload["productVariants"]} == {first.id: "12.99", second.id: "0.00"}
        assert cost["requestedQueryCost"] == 10 and cost["actualQueryCost"] == 10
        # A later query, and an incremental filter on updated_at, see the write.
        read, _ = call(emulator, """query($q: String) { productVariants(first: 10, query: $q) { nodes { id price } } }""",
                       {"q": f"updated_at:>'{started.strftime('%Y-%m-%dT%H:%M:%SZ')}'"})
        assert {n["id"]: n["price"] for n in read["productVariants"]["nodes"]} == {first.id: "12.99", second.id: "0.00"}


@pytest.mark.parametrize(("price", "code"), [("-1.00", "GREATER_THAN_OR_EQUAL_TO"), ("abc", "INVALID_INPUT")])
def test_a_refused_variant_leaves_the_whole_product_as_it_was(store, price: str, code: str) -> None:
    product = product_with_two_variants(store)
    first, second = product.variants[:2]
    with ShopifyEmulator() as emulator:
        emulator.add_shop(store, TOKEN, domain=DOMAIN)
        data, _ = call(emulator, SET_PRICES_MUTATION, {"productId": product.id, "variants": [
            {"id": first.id, "price": "9.99"}, {"id": second.id, "price": price}]})
        payload = data["productVariantsBulkUpdate"]
        assert payload["productVariants"] is None
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [(code, ["variants", "1", "price"])]
        read, _ = call(emulator, "query($id: ID!) { productVariant(id: $id) { price } }", {"id": first.id})
        assert Decimal(read["productVariant"]["price"]) == first.price


def test_unknown_product_and_foreign_variant_are_user_errors(store) -> None:
    product = product_with_two_variants(store)
    other = next(p for p in store.products if p.id != product.id)
    with ShopifyEmulator() as emulator:
        emulator.add_shop(store, TOKEN, domain=DOMAIN)
        data, _ = call(emulator, SET_PRICES_MUTATION, {"productId": "gid://shopify/Product/1", "variants": [
            {"id": product.variants[0].id, "price": "1.00"}]})
        assert data["productVariantsBulkUpdate"]["userErrors"][0]["code"] == "PRODUCT_DOES_NOT_EXIST"
        data, _ = call(emulator, SET_PRICES_MUTATION, {"productId": product.id, "variants": [
            {"id": other.variants[0].id, "price": "1.00"}, {"price": "2.00"}]})
        assert [e["code"] for e in data["productVariantsBulkUpdate"]["userErrors"]] == [
            "MUST_BE_FOR_THIS_PRODUCT", "PRODUCT_VARIANT_ID_MISSING"]


def test_writing_prices_needs_the_write_products_scope(store) -> None:
    from shared.shopify.admin_api import ShopifyMissingScopeError

    product = product_with_two_variants(store)
    with ShopifyEmulator() as emulator:
        shop = emulator.add_shop(store, TOKEN, domain=DOMAIN)
        shop.data.granted_scopes = frozenset({"read_products", "read_inventory", "read_orders"})
        with pytest.raises(ShopifyMissingScopeError) as caught:
            call(emulator, SET_PRICES_MUTATION, {"productId": product.id, "variants": [
                {"id": product.variants[0].id, "price": "1.00"}]})
        assert caught.value.required_scopes == ("write_products",)
        read, _ = call(emulator, "query($id: ID!) { productVariant(id: $id) { price } }", {"id": product.variants[0].id})
        assert Decimal(read["productVariant"]["price"]) == product.variants[0].price
