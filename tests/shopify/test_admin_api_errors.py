"""Typed errors the retry logic depends on (missing scope vs bad token, refused query), and no token in any log."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import date

import httpx
import pytest

from shared.local.sample_store import generate_store
from shared.local.shopify_emulator import ManualClock, ShopifyEmulator
from shared.shopify import bulk_sync
from shared.shopify.admin_api import (
    AdminApiClient,
    ShopifyAuthError,
    ShopifyGraphQLError,
    ShopifyInvalidQueryError,
    ShopifyMissingScopeError,
)
from shared.shopify.bulk_operations import (
    BulkOperationStatus,
    bulk_operation,
    download_result,
    raise_for_outcome,
    start_bulk_query,
)

TOKEN = "shpat_errors_test_SECRET_0123456789"
DOMAIN = "errors-test.myshopify.com"
ACCESS_DENIED = {
    "errors": [{
        "message": "Access denied for orders field. Required access: `read_orders` access scope.",
        "locations": [{"line": 1, "column": 3}], "path": ["orders"],
        "extensions": {"code": "ACCESS_DENIED", "documentation": "https://shopify.dev/api/usage/access-scopes",
                       "requiredAccess": "`read_orders` access scope."},
    }],
    "data": {"orders": None},
    "extensions": {"cost": {"requestedQueryCost": 12, "actualQueryCost": 2,
                            "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1998, "restoreRate": 100.0}}},
}


def answering(status: int, body: object) -> AdminApiClient:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["X-Shopify-Access-Token"] == TOKEN
        return httpx.Response(status, json=body)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return AdminApiClient(DOMAIN, TOKEN, base_url_template="https://{shop}", http_client=http, max_attempts=2,
                          sleep=lambda seconds: asyncio.sleep(0))


def run_query(client: AdminApiClient, query: str = "{ orders(first: 1) { nodes { id } } }"):
    async def go():
        return await client.execute(query)

    return asyncio.run(go())


def test_access_denied_is_a_missing_scope_not_an_auth_failure_and_is_not_retried() -> None:
    client = answering(200, ACCESS_DENIED)
    with pytest.raises(ShopifyMissingScopeError) as caught:
        run_query(client)
    error = caught.value
    assert error.required_scopes == ("read_orders",) and not error.retryable
    assert not isinstance(error, ShopifyAuthError)
    assert client.stats.requests == 1  # not retried
    assert TOKEN not in str(error)


def test_a_403_naming_a_scope_is_a_missing_scope_and_one_without_is_an_auth_failure() -> None:
    with pytest.raises(ShopifyMissingScopeError) as scoped:
        run_query(answering(403, {"errors": "[API] This action requires merchant approval for read_all_orders scope."}))
    assert scoped.value.required_scopes == ("read_all_orders",) and scoped.value.status == 403
    with pytest.raises(ShopifyAuthError) as auth:
        run_query(answering(403, {"errors": "[API] Invalid API key or access token"}))
    assert not isinstance(auth.value, ShopifyMissingScopeError)
    with pytest.raises(ShopifyAuthError):
        run_query(answering(401, {"errors": "[API] Invalid API key or access token (unrecognized login)"}))


@pytest.mark.parametrize(("body", "invalid"), [
    ({"errors": [{"message": "Field 'colour' doesn't exist on type 'Product'", "locations": [{"line": 1, "column": 9}],
                  "extensions": {"code": "undefinedField"}}]}, True),
    ({"errors": [{"message": "syntax error, unexpected end of file", "locations": [{"line": 1, "column": 30}]}]}, True),
    ({"errors": [{"message": "Query cost is 2502, which exceeds the single query max cost limit (1000).",
                  "extensions": {"code": "MAX_COST_EXCEEDED", "cost": 2502, "maxCost": 1000}}]}, True),
    # An error while running (a path, and data alongside): not a refused query.
    ({"errors": [{"message": "Invalid cursor", "path": ["products"], "extensions": {"code": "BAD_REQUEST"}}],
      "data": {"products": None}}, False),
])
def test_a_refused_query_is_an_invalid_query_error(body, invalid) -> None:
    with pytest.raises(ShopifyGraphQLError) as caught:
        run_query(answering(200, body))
    assert isinstance(caught.value, ShopifyInvalidQueryError) is invalid
    assert not caught.value.retryable


def test_a_bulk_query_refused_by_shopify_is_an_invalid_query_and_access_denied_is_a_missing_scope() -> None:
    store = generate_store(n_products=3, as_of=date(2026, 11, 28))
    clock = ManualClock()

    async def go():
        with ShopifyEmulator(clock=clock) as emulator:
            emulator.add_shop(store, TOKEN, domain=DOMAIN)
            emulator.shop(DOMAIN).bulk_operations.settings.fail_next.append("ACCESS_DENIED")
            async with AdminApiClient(DOMAIN, TOKEN, base_url_template=emulator.admin_base_url_template) as client:
                with pytest.raises(ShopifyInvalidQueryError):
                    await start_bulk_query(client, '{ node(id: "gid://shopify/Product/1") { id } }')
                operation = await start_bulk_query(client, "{ products { edges { node { id } } } }")
                clock.advance(60)
                for _ in range(200):
                    operation = await bulk_operation(client, operation.id)
                    if operation.status.finished:
                        break
                    await asyncio.sleep(0.01)
                return operation

    operation = asyncio.run(go())
    assert operation.status is BulkOperationStatus.FAILED and operation.error_code == "ACCESS_DENIED"
    with pytest.raises(ShopifyMissingScopeError):
        raise_for_outcome(DOMAIN, operation)


def test_the_token_and_the_signed_result_url_never_reach_a_log_even_at_debug(caplog, tmp_path) -> None:
    store = generate_store(n_products=3, as_of=date(2026, 11, 28))
    clock = ManualClock()
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included

    async def go():
        with ShopifyEmulator(clock=clock) as emulator:
            emulator.add_shop(store, TOKEN, domain=DOMAIN)
            emulator.faults.inject(503, count=1, retry_after=0)  # a retry, logged
            async with AdminApiClient(DOMAIN, TOKEN, base_url_template=emulator.admin_base_url_template,
                                      sleep=lambda s: asyncio.sleep(0)) as client:
                await client.execute("{ shop { name } }")
                with pytest.raises(ShopifyGraphQLError):
                    await client.execute("{ products(first: 2) { nodes { colour } } }")
                operation = await bulk_sync.start_part(client, "catalogue", store.as_of)
                clock.advance(60)
                for _ in range(200):
                    operation = await bulk_operation(client, operation.id)
                    if operation.status.finished:
                        break
                    await asyncio.sleep(0.01)
                await download_result(operation, client, tmp_path / "result.jsonl")
            async with AdminApiClient(DOMAIN, TOKEN + "x", base_url_template=emulator.admin_base_url_template) as bad:
                with pytest.raises(ShopifyAuthError):
                    await bad.execute("{ shop { name } }")
            return operation

    operation = asyncio.run(go())
    signature = operation.url.split("signature=", 1)[1]
    text = caplog.text + "".join(json.dumps(r.args, default=str) for r in caplog.records if r.args)
    assert "HTTP Request: GET" in caplog.text and "retrying" in caplog.text  # the logs were really captured
    assert TOKEN not in text and signature not in text
    assert "signature" not in repr(operation) and TOKEN not in repr(operation)
