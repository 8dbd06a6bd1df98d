"""The Admin API emulator: Shopify's cost arithmetic, bucket, pagination, errors and auth."""

from __future__ import annotations

from datetime import date, datetime, timezone

import httpx
import pytest

from shared.local.sample_store import SampleStore, generate_store
from shared.local.shopify_emulator import (
    MAX_QUERY_COST,
    EmulatedShop,
    ManualClock,
    ShopifyEmulator,
    parse_search_query,
    requested_query_cost,
)

TOKEN = "shpat_test_emulator_token"
VERSION = "2026-10"


@pytest.fixture(scope="module")
def store() -> SampleStore:
    return generate_store(n_products=12, as_of=date(2026, 11, 28))


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture()
def shop(store: SampleStore, clock: ManualClock) -> EmulatedShop:
    return ShopifyEmulator(clock=clock).add_shop(store, TOKEN, plan="standard")


@pytest.fixture()
def server(store: SampleStore, clock: ManualClock):
    with ShopifyEmulator(clock=clock) as emulator:
        emulator.add_shop(store, TOKEN, plan="standard")
        yield emulator


def cost_of(body: dict) -> dict:
    return body["extensions"]["cost"]


# --- calculated query cost ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("{ shop { id name currencyCode } }", 1),  # an object 1, scalars 0
        ("{ products(first: 10) { edges { node { id title } } } }", 2 + 10 * 1),  # connection: 2 + first x node
        ("{ products(first: 3) { pageInfo { hasNextPage endCursor } nodes { id handle status } } }", 2 + 3),
        ("{ products(last: 7) { nodes { id } } }", 2 + 7),
        (  # nested connections multiply
            "{ products(first: 10) { nodes { id variants(first: 5) { nodes { id inventoryItem { unitCost { amount } } } } } } }",
            2 + 10 * (1 + 2 + 5 * (1 + 1 + 1)),
        ),
        (
            "{ orders(first: 4) { nodes { lineItems(first: 3) { nodes { originalUnitPriceSet { shopMoney { amount } } } } } } }",
            2 + 4 * (1 + 2 + 3 * (1 + 1 + 1)),
        ),
        ('{ node(id: "gid://shopify/Product/1") { id ... on Product { title } } }', 1),  # interface: dearest type
        ('{ nodes(ids: ["a", "b", "c"]) { id } }', 3),
        ("query Q($n: Int!) { locations(first: $n) { nodes { id } } }", None),  # variables: checked below
    ],
)
def test_requested_cost_of_known_queries(query: str, expected: int | None) -> None:
    if expected is None:
        assert requested_query_cost(query, {"n": 20}) == 22
    else:
        assert requested_query_cost(query) == expected


def test_fragments_are_costed_like_inline_selections() -> None:
    inline = "{ productVariants(first: 50) { nodes { id product { id } inventoryItem { id } } } }"
    with_fragment = """
        query { productVariants(first: 50) { nodes { ...V } } }
        fragment V on ProductVariant { id product { id } inventoryItem { id } }"""
    assert requested_query_cost(inline) == requested_query_cost(with_fragment) == 2 + 50 * 3


def test_actual_cost_counts_what_came_back_and_the_rest_is_refunded(shop: EmulatedShop, store: SampleStore) -> None:
    body = shop.graphql("{ products(first: 250) { nodes { id } } }", None, None)
    cost = cost_of(body)
    assert cost["requestedQueryCost"] == 252
    assert cost["actualQueryCost"] == 2 + len(store.products)
    # The clock stood still: the bucket lost only the actual cost.
    assert cost["throttleStatus"] == {"maximumAvailable": 2000.0, "currentlyAvailable": 2000 - 2 - len(store.products),
                                      "restoreRate": 100.0}


def test_null_objects_cost_nothing(shop: EmulatedShop, store: SampleStore) -> None:
    without_cost = next(v for v in store.variants if v.unit_cost is None)
    body = shop.graphql('query($id: ID!) { productVariant(id: $id) { inventoryItem { unitCost { amount } } } }',
                        {"id": without_cost.id}, None)
    assert body["data"]["productVariant"]["inventoryItem"]["unitCost"] is None
    assert cost_of(body) | {"throttleStatus": None} == {"requestedQueryCost": 3, "actualQueryCost": 2, "throttleStatus": None}


def test_single_query_over_1000_points_is_refused(shop: EmulatedShop) -> None:
    query = "{ products(first: 250) { nodes { id variants(first: 10) { nodes { id } } } } }"
    body = shop.graphql(query, None, None)
    assert "data" not in body
    error = body["errors"][0]
    assert error["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert error["extensions"]["cost"] == 2 + 250 * 13 and error["extensions"]["maxCost"] == MAX_QUERY_COST
    assert "exceeds the single query max cost limit (1000)" in error["message"]
    assert cost_of(body)["requestedQueryCost"] == 3252 and cost_of(body)["actualQueryCost"] is None
    assert cost_of(body)["throttleStatus"]["currentlyAvailable"] == 2000  # nothing charged
    assert shop.records[-1].outcome == "max_cost"


# --- the leaky bucket -------------------------------------------------------------------------------

VARIANTS_802 = "{ productVariants(first: 200) { nodes { id product { id } inventoryItem { id unitCost { amount } } } } }"


def test_throttled_until_the_bucket_restores(shop: EmulatedShop, clock: ManualClock, store: SampleStore) -> None:
    assert requested_query_cost(VARIANTS_802) == 802
    shop.bucket.set_available(500)
    body = shop.graphql(VARIANTS_802, None, None)
    assert "data" not in body
    assert body["errors"] == [{"message": "Throttled", "extensions": {
        "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}]
    assert cost_of(body) == {"requestedQueryCost": 802, "actualQueryCost": None, "throttleStatus": {
        "maximumAvailable": 2000.0, "currentlyAvailable": 500, "restoreRate": 100.0}}

    clock.advance(3.0)  # 800 available: still short of 802
    assert shop.graphql(VARIANTS_802, None, None)["errors"][0]["extensions"]["code"] == "THROTTLED"
    clock.advance(0.1)  # 810
    body = shop.graphql(VARIANTS_802, None, None)
    assert "errors" not in body
    actual = 2 + 4 * len(store.variants) - sum(v.unit_cost is None for v in store.variants)
    assert cost_of(body)["actualQueryCost"] == actual
    assert cost_of(body)["throttleStatus"]["currentlyAvailable"] == 810 - actual

    clock.advance(10_000)  # restores up to the bucket size, never beyond
    assert shop.bucket.status()["currentlyAvailable"] == 2000
    assert [r.outcome for r in shop.records] == ["throttled", "throttled", "ok"]


def test_plans_and_custom_buckets(store: SampleStore, clock: ManualClock) -> None:
    emulator = ShopifyEmulator(clock=clock)
    assert emulator.add_shop(store, TOKEN, domain="a.myshopify.com", plan="advanced").bucket.status() == {
        "maximumAvailable": 4000.0, "currentlyAvailable": 4000, "restoreRate": 200.0}
    assert emulator.add_shop(store, TOKEN, domain="b.myshopify.com", plan="plus").bucket.status()["restoreRate"] == 1000.0
    custom = emulator.add_shop(store, TOKEN, domain="c.myshopify.com", maximum_available=50, restore_rate=5)
    assert custom.bucket.status() == {"maximumAvailable": 50.0, "currentlyAvailable": 50, "restoreRate": 5.0}


# --- pagination and search ----------------------------------------------------------------------------


def _all_pages(shop: EmulatedShop, query: str, path: str, variables: dict | None = None) -> list[dict]:
    nodes, after, pages = [], None, 0
    while True:
        body = shop.graphql(query, {**(variables or {}), "after": after}, None)
        assert "errors" not in body, body
        connection = body["data"][path]
        nodes += connection["nodes"] if "nodes" in connection else [edge["node"] for edge in connection["edges"]]
        pages += 1
        assert pages < 100
        if not connection["pageInfo"]["hasNextPage"]:
            return nodes
        after = connection["pageInfo"]["endCursor"]


def test_pagination_visits_every_product_exactly_once(shop: EmulatedShop, store: SampleStore) -> None:
    query = "query($after: String) { products(first: 5, after: $after) { pageInfo { hasNextPage endCursor } nodes { id } } }"
    ids = [node["id"] for node in _all_pages(shop, query, "products")]
    assert sorted(ids) == sorted(p.id for p in store.products)
    assert len(ids) == len(set(ids))


def test_edges_cursors_sort_keys_and_backwards(shop: EmulatedShop, store: SampleStore) -> None:
    query = """query($after: String) { orders(first: 40, after: $after, sortKey: CREATED_AT) {
        pageInfo { hasNextPage endCursor } edges { cursor node { id createdAt } } } }"""
    nodes = _all_pages(shop, query, "orders")
    assert [n["id"] for n in nodes] == [o.id for o in sorted(store.orders, key=lambda o: (o.created_at, o.id))]
    assert [n["createdAt"] for n in nodes] == sorted(n["createdAt"] for n in nodes)

    backwards = shop.graphql("{ products(last: 4) { pageInfo { hasPreviousPage hasNextPage startCursor } nodes { id } } }", None, None)
    connection = backwards["data"]["products"]
    assert [n["id"] for n in connection["nodes"]] == [p.id for p in store.products[-4:]]
    assert connection["pageInfo"]["hasPreviousPage"] and not connection["pageInfo"]["hasNextPage"]
    before = shop.graphql('query($b: String) { products(last: 4, before: $b) { nodes { id } } }',
                          {"b": connection["pageInfo"]["startCursor"]}, None)
    assert [n["id"] for n in before["data"]["products"]["nodes"]] == [p.id for p in store.products[-8:-4]]


def test_cursors_are_opaque_and_bad_ones_rejected(shop: EmulatedShop) -> None:
    body = shop.graphql("{ products(first: 1) { pageInfo { endCursor } } }", None, None)
    cursor = body["data"]["products"]["pageInfo"]["endCursor"]
    assert "gid://" not in cursor and not cursor.isdigit()
    bad = shop.graphql('{ products(first: 1, after: "not-a-cursor") { nodes { id } } }', None, None)
    assert bad["errors"] and bad["data"] is None


def test_page_size_limits(shop: EmulatedShop) -> None:
    too_big = shop.graphql("{ products(first: 251) { nodes { id } } }", None, None)
    assert "250" in too_big["errors"][0]["message"] and "data" not in too_big
    missing = shop.graphql("{ products { nodes { id } } }", None, None)
    assert missing["errors"][0]["message"] == "you must provide one of first or last"


def test_search_filters_by_dates(shop: EmulatedShop, store: SampleStore) -> None:
    cutoff = datetime(2026, 9, 1, tzinfo=timezone.utc)
    query = """query($after: String, $q: String) { products(first: 5, after: $after, query: $q) {
        pageInfo { hasNextPage endCursor } nodes { id updatedAt } } }"""
    nodes = _all_pages(shop, query, "products", {"q": "updated_at:>'2026-09-01T00:00:00Z'"})
    assert {n["id"] for n in nodes} == {p.id for p in store.products if p.updated_at > cutoff}
    assert 0 < len(nodes) < len(store.products)

    orders_query = """query($after: String, $q: String) { orders(first: 100, after: $after, query: $q) {
        pageInfo { hasNextPage endCursor } nodes { id } } }"""
    nodes = _all_pages(shop, orders_query, "orders", {"q": "created_at:>=2026-10-01 created_at:<2026-11-01"})
    # A date alone means midnight in the shop's zone: BST on 1 October, GMT again by 1 November.
    start, end = datetime(2026, 9, 30, 23, tzinfo=timezone.utc), datetime(2026, 11, 1, 0, tzinfo=timezone.utc)
    assert {n["id"] for n in nodes} == {o.id for o in store.orders if start <= o.created_at < end}


def test_unknown_search_fields_are_warned_about_not_failed(shop: EmulatedShop, store: SampleStore) -> None:
    body = shop.graphql('{ productsCount(query: "colour:blue") { count } }', None, None)
    assert body["data"]["productsCount"]["count"] == len(store.products)
    assert body["extensions"]["search"][0]["warnings"][0]["field"] == "colour"
    terms, _ = parse_search_query("updated_at:>'2026-01-01T00:00:00Z' AND -status:draft sku:CAN*")
    assert [(t.field, t.op, t.value, t.negated) for t in terms] == [
        ("updated_at", ">", "2026-01-01T00:00:00Z", False), ("status", "=", "draft", True), ("sku", "=", "CAN*", False)]


# --- errors in Shopify's shape ---------------------------------------------------------------------------


def test_invalid_queries_fail_validation_with_shopify_errors(shop: EmulatedShop) -> None:
    body = shop.graphql("{ products(first: 2) { nodes { id colour } } }", None, None)
    assert "data" not in body
    error = body["errors"][0]
    assert error["message"] == "Field 'colour' doesn't exist on type 'Product'"
    assert error["extensions"] == {"code": "undefinedField", "typeName": "Product", "fieldName": "colour"}
    assert error["locations"][0]["line"] == 1
    assert "cost" in body["extensions"]
    syntax = shop.graphql("{ products(first: 2) { nodes { id }", None, None)
    assert syntax["errors"] and "data" not in syntax
    wrong_variable = shop.graphql("query($n: Int!) { products(first: $n) { nodes { id } } }", {"n": "ten"}, None)
    assert wrong_variable["errors"]


def test_money_and_dates_come_back_as_shopify_serialises_them(shop: EmulatedShop, store: SampleStore) -> None:
    variant = store.variants[0]
    body = shop.graphql("""query($id: ID!) { productVariant(id: $id) { price compareAtPrice sku barcode
        inventoryItem { unitCost { amount currencyCode } } product { updatedAt } } }""", {"id": variant.id}, None)
    data = body["data"]["productVariant"]
    assert data["price"] == f"{variant.price:.2f}" and isinstance(data["price"], str)
    assert data["sku"] == variant.sku and data["barcode"] == variant.barcode
    assert data["product"]["updatedAt"].endswith("Z")


# --- over HTTP: auth, routing, faults, records -------------------------------------------------------------


def _post(url: str, query: str, token: str | None = TOKEN, **kwargs) -> httpx.Response:
    headers = {"X-Shopify-Access-Token": token} if token else {}
    return httpx.post(url, json={"query": query}, headers=headers | kwargs.pop("headers", {}), **kwargs)


def test_auth_401_with_shopify_body(server: ShopifyEmulator, store: SampleStore) -> None:
    url = server.graphql_url(store.domain, VERSION)
    for token in ("shpat_wrong", None):
        response = _post(url, "{ shop { name } }", token)
        assert response.status_code == 401
        assert response.json() == {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
    ok = _post(url, "{ shop { name } }")
    assert ok.status_code == 200 and ok.json()["data"]["shop"]["name"] == store.name
    assert ok.headers["X-Shopify-API-Version"] == VERSION
    assert [r.outcome for r in server.records(store.domain)] == ["unauthorized", "unauthorized", "ok"]


def test_routing_by_path_prefix_and_by_host(server: ShopifyEmulator, store: SampleStore) -> None:
    assert server.admin_base_url_template.endswith("/{shop}")
    by_template = server.admin_base_url_template.format(shop=store.domain) + f"/admin/api/{VERSION}/graphql.json"
    assert _post(by_template, "{ shop { myshopifyDomain } }").json()["data"]["shop"]["myshopifyDomain"] == store.domain
    by_host = _post(f"{server.base_url}/admin/api/{VERSION}/graphql.json", "{ shop { name } }", headers={"Host": store.domain})
    assert by_host.status_code == 200
    assert _post(server.graphql_url("other.myshopify.com", VERSION), "{ shop { name } }").status_code == 404
    assert _post(server.graphql_url(store.domain, "2026-13"), "{ shop { name } }").status_code == 404
    assert httpx.post(server.graphql_url(store.domain, VERSION), content=b"not json",
                      headers={"X-Shopify-Access-Token": TOKEN}).status_code == 400


def test_fault_injection_and_every_answer_carries_cost(server: ShopifyEmulator, store: SampleStore) -> None:
    url = server.graphql_url(store.domain, VERSION)
    server.faults.inject(503, count=2)
    server.faults.inject(429, count=1, retry_after=2.0)
    statuses = [_post(url, "{ shop { name } }") for _ in range(4)]
    assert [r.status_code for r in statuses] == [503, 503, 429, 200]
    assert statuses[2].headers["Retry-After"] == "2.0"
    assert "cost" in statuses[3].json()["extensions"]
    records = server.records(store.domain)
    assert [(r.status, r.outcome) for r in records] == [(503, "fault"), (503, "fault"), (429, "fault"), (200, "ok")]
    assert records[-1].requested_cost == 1 and records[-1].actual_cost == 1
