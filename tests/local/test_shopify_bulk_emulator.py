"""The emulator's bulk operations: the mutation's checks, one at a time, status, the JSONL file, the hook."""

from __future__ import annotations

import json
import time
from datetime import date

import httpx
import pytest

from shared.local.sample_store import SampleStore, generate_store
from shared.local.shopify_emulator import ManualClock, ShopifyEmulator

TOKEN = "shpat_test_bulk_emulator_token"
VERSION = "2026-10"
RUN = """mutation Run($q: String!, $g: Boolean!) {
  bulkOperationRunQuery(query: $q, groupObjects: $g) { bulkOperation { id status } userErrors { code field message } } }"""
STATUS = """query S($id: ID!) { node(id: $id) { ... on BulkOperation {
  id status errorCode objectCount rootObjectCount fileSize url partialDataUrl query } } }"""
VARIANTS_WITH_LEVELS = """{ productVariants { edges { node { id sku product { id title }
  inventoryItem { id inventoryLevels { edges { node { id location { id } quantities(names: ["available"]) { name quantity } } } } } } } } }"""


@pytest.fixture(scope="module")
def store() -> SampleStore:
    return generate_store(n_products=12, as_of=date(2026, 11, 28))


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture()
def emulator(store: SampleStore, clock: ManualClock):
    with ShopifyEmulator(clock=clock) as running:
        running.add_shop(store, TOKEN)
        yield running


def gql(emulator: ShopifyEmulator, store: SampleStore, query: str, variables: dict | None = None) -> dict:
    response = httpx.post(emulator.graphql_url(store.domain, VERSION), json={"query": query, "variables": variables or {}},
                          headers={"X-Shopify-Access-Token": TOKEN})
    assert response.status_code == 200
    return response.json()


def start(emulator, store, query: str, group: bool = False) -> dict:
    return gql(emulator, store, RUN, {"q": query, "g": group})["data"]["bulkOperationRunQuery"]


def wait_finished(emulator, store, clock: ManualClock, gid: str) -> dict:
    clock.advance(3600)
    for _ in range(500):
        node = gql(emulator, store, STATUS, {"id": gid})["data"]["node"]
        if node["status"] != "RUNNING":
            return node
        time.sleep(0.01)  # the test waits for the emulator's generator thread, not the app
    raise AssertionError("the operation never finished")


@pytest.mark.parametrize(("query", "reason"), [
    ("{ products { edges { node { variants { edges { node { inventoryItem { inventoryLevels { edges { node { id } } } } } } } } } } }",
     "nesting depth"),
    ('{ node(id: "gid://shopify/Product/1") { id } }', "node or nodes"),
    ("{ shop { name } }", "connections at the top level"),
    ("{ products { edges { node { id } } }", "Invalid bulk query"),
    ("""{ orders { edges { node { lineItems { edges { node { id } } } } } }
          products { edges { node { variants { edges { node { id } } } } } }
          locations { edges { node { inventoryLevels { edges { node { id } } } } } } }""", "more than 5 connections"),
])
def test_bulk_queries_breaking_shopifys_restrictions_are_refused_as_invalid(emulator, store, query, reason) -> None:
    payload = start(emulator, store, query)
    assert payload["bulkOperation"] is None
    assert payload["userErrors"][0]["code"] == "INVALID" and reason in payload["userErrors"][0]["message"]


def test_one_bulk_query_at_a_time_and_it_completes_only_when_its_time_has_passed(emulator, store, clock) -> None:
    first = start(emulator, store, VARIANTS_WITH_LEVELS)["bulkOperation"]
    assert first["status"] == "RUNNING"
    second = start(emulator, store, "{ products { edges { node { id } } } }")
    assert second["bulkOperation"] is None and second["userErrors"][0]["code"] == "OPERATION_IN_PROGRESS"
    time.sleep(0.2)  # generating the file is quick; the clock has not moved, so it is still running
    node = gql(emulator, store, STATUS, {"id": first["id"]})["data"]["node"]
    assert node["status"] == "RUNNING" and node["url"] is None
    current = gql(emulator, store, "{ currentBulkOperation { id status } }")["data"]["currentBulkOperation"]
    assert current == {"id": first["id"], "status": "RUNNING"}
    done = wait_finished(emulator, store, clock, first["id"])
    assert done["status"] == "COMPLETED"
    # UnsignedInt64 counts are strings, as Shopify sends them.
    assert done["objectCount"] == str(len(store.variants) + len(store.inventory_levels))
    assert done["rootObjectCount"] == str(len(store.variants)) and int(done["fileSize"]) > 0
    assert start(emulator, store, "{ products { edges { node { id } } } }")["bulkOperation"]["status"] == "RUNNING"


def test_result_lines_carry_parent_ids_and_are_not_grouped_by_default(emulator, store, clock) -> None:
    operation = start(emulator, store, VARIANTS_WITH_LEVELS)["bulkOperation"]
    done = wait_finished(emulator, store, clock, operation["id"])
    lines = [json.loads(line) for line in httpx.get(done["url"]).text.splitlines()]
    variants = {line["id"]: i for i, line in enumerate(lines) if "__parentId" not in line}
    levels = [(i, line) for i, line in enumerate(lines) if "__parentId" in line]
    assert set(variants) == {v.id for v in store.variants}
    assert len(levels) == len(store.inventory_levels)
    item_of = {v.id: v.inventory_item_id for v in store.variants}
    for _, level in levels:
        assert f"inventory_item_id={item_of[level['__parentId']].rsplit('/', 1)[1]}" in level["id"]
    # Not grouped: some children come before their parents (shuffled; dozens of levels make it certain).
    assert any(i < variants[level["__parentId"]] for i, level in levels)
    assert "inventoryLevels" not in lines[next(iter(variants.values()))]["inventoryItem"]


def test_grouped_results_put_every_child_after_its_parent(emulator, store, clock) -> None:
    operation = start(emulator, store, VARIANTS_WITH_LEVELS, group=True)["bulkOperation"]
    done = wait_finished(emulator, store, clock, operation["id"])
    lines = [json.loads(line) for line in httpx.get(done["url"]).text.splitlines()]
    seen: set[str] = set()
    for line in lines:
        if "__parentId" in line:
            assert line["__parentId"] in seen
        seen.add(line["id"])


def test_the_result_url_needs_its_signature_and_no_token(emulator, store, clock) -> None:
    operation = start(emulator, store, "{ products { edges { node { id } } } }")["bulkOperation"]
    url = wait_finished(emulator, store, clock, operation["id"])["url"]
    assert httpx.get(url).status_code == 200  # no access token sent
    assert httpx.get(url.split("?")[0] + "?signature=0000").status_code == 403
    assert httpx.get(url.split("?")[0]).status_code == 403


def test_no_results_means_no_url(emulator, store, clock) -> None:
    operation = start(emulator, store, """{ orders(query: "created_at:>='2099-01-01T00:00:00Z'") { edges { node { id } } } }""")
    done = wait_finished(emulator, store, clock, operation["bulkOperation"]["id"])
    assert done["status"] == "COMPLETED" and done["objectCount"] == "0" and done["url"] is None


def test_forced_failure_has_an_error_code_and_partial_data_and_the_hook_hears_of_it(emulator, store, clock) -> None:
    shop = emulator.shop(store.domain)
    heard: list[tuple[str, dict]] = []
    shop.bulk_operations.on_finish(lambda domain, payload: heard.append((domain, payload)))
    shop.bulk_operations.settings.fail_next.append("INTERNAL_SERVER_ERROR")
    operation = start(emulator, store, VARIANTS_WITH_LEVELS)["bulkOperation"]
    done = wait_finished(emulator, store, clock, operation["id"])
    assert (done["status"], done["errorCode"], done["url"]) == ("FAILED", "INTERNAL_SERVER_ERROR", None)
    partial = httpx.get(done["partialDataUrl"]).text.splitlines()
    assert 0 < len(partial) < len(store.variants) + len(store.inventory_levels)
    for _ in range(100):
        if heard:
            break
        time.sleep(0.01)
    assert heard == [(store.domain, {
        "admin_graphql_api_id": operation["id"], "completed_at": heard[0][1]["completed_at"],
        "created_at": heard[0][1]["created_at"], "error_code": "internal_server_error", "status": "failed",
        "type": "query"})]


def test_a_running_operation_can_be_cancelled(emulator, store) -> None:
    operation = start(emulator, store, "{ products { edges { node { id } } } }")["bulkOperation"]
    cancel = gql(emulator, store, """mutation C($id: ID!) { bulkOperationCancel(id: $id) {
        bulkOperation { id status } userErrors { field message } } }""", {"id": operation["id"]})
    assert cancel["data"]["bulkOperationCancel"]["bulkOperation"]["status"] == "CANCELED"
    assert start(emulator, store, "{ products { edges { node { id } } } }")["bulkOperation"]["status"] == "RUNNING"
