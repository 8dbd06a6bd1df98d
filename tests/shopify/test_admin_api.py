"""The Admin API client against the emulator: budget waits, retries, typed errors, no token leaks."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import date

import pytest

from shared.local.sample_store import SampleStore, generate_store
from shared.local.shopify_emulator import EmulatedShop, ManualClock, ShopifyEmulator
from shared.settings import get_settings
from shared.shopify.admin_api import (
    AdminApiClient,
    ShopifyAuthError,
    ShopifyError,
    ShopifyGraphQLError,
    ShopifyThrottledError,
    ShopifyUnavailableError,
)

TOKEN = "shpat_0123456789abcdef_SECRET"
VERSION = "2026-10"
VARIANTS_802 = "{ productVariants(first: 200) { nodes { id product { id } inventoryItem { id unitCost { amount } } } } }"
PRODUCTS_PAGE = """query Products($first: Int!, $after: String) {
  products(first: $first, after: $after) { pageInfo { hasNextPage endCursor } nodes { id title } } }"""


@pytest.fixture(scope="module")
def store() -> SampleStore:
    return generate_store(n_products=12, as_of=date(2026, 11, 28))


class FakeTime:
    """One clock for the emulator's bucket and the client: sleeping moves it, instantly."""

    def __init__(self) -> None:
        self.clock = ManualClock()
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.advance(seconds)


@pytest.fixture()
def time_() -> FakeTime:
    return FakeTime()


@pytest.fixture()
def emulator(store: SampleStore, time_: FakeTime):
    with ShopifyEmulator(clock=time_.clock) as running:
        running.add_shop(store, TOKEN, plan="standard")
        yield running


@pytest.fixture()
def shop(emulator: ShopifyEmulator, store: SampleStore) -> EmulatedShop:
    return emulator.shop(store.domain)


def client_for(emulator: ShopifyEmulator, store: SampleStore, time_: FakeTime | None = None, token: str = TOKEN, **kwargs) -> AdminApiClient:
    if time_ is not None:
        kwargs.setdefault("sleep", time_.sleep)
        kwargs.setdefault("clock", time_.clock)
    return AdminApiClient(store.domain, token, api_version=VERSION, base_url_template=emulator.admin_base_url_template, **kwargs)


def run(coroutine):
    return asyncio.run(coroutine)


def assert_no_token(error: BaseException) -> None:
    for text in (str(error), repr(error), *map(str, error.args)):
        assert TOKEN not in text and "SECRET" not in text


# --- cost-aware waiting ------------------------------------------------------------------------------


def test_throttled_answer_is_waited_out_then_retried(emulator, shop, store, time_) -> None:
    shop.bucket.set_available(100)

    async def go():
        async with client_for(emulator, store, time_) as client:
            return await client.execute(VARIANTS_802), client.stats

    data, stats = run(go())
    assert len(data["productVariants"]["nodes"]) == len(store.variants)
    # Waited for the missing 702 points (plus one for Shopify's rounding) at 100 a second.
    assert time_.sleeps == [pytest.approx(7.03, abs=0.01)]
    assert stats.throttled_responses == 1 and stats.retries == 1
    assert [r.outcome for r in emulator.records(store.domain)] == ["throttled", "ok"]


def test_known_cost_is_waited_for_before_sending(emulator, shop, store, time_) -> None:
    async def go():
        async with client_for(emulator, store, time_) as client:
            await client.execute(VARIANTS_802)  # learns the requested cost: 802
            shop.bucket.set_available(600)
            client.budget.observe(client.last_cost.throttle_status.model_copy(update={"currently_available": 600}))
            await client.execute(VARIANTS_802)
            return client.stats

    stats = run(go())
    assert time_.sleeps == [pytest.approx(2.03, abs=0.001)]  # (802 + 1 - 600) / 100, waited before sending
    assert stats.budget_waits == 1 and stats.throttled_responses == 0
    assert [r.outcome for r in emulator.records(store.domain)] == ["ok", "ok"]


def test_really_waits_in_real_time_when_the_bucket_is_empty(store: SampleStore) -> None:
    query = "{ products(first: 30) { nodes { id } } }"  # requested 32, actual 14
    with ShopifyEmulator() as emulator:
        emulator.add_shop(store, TOKEN, maximum_available=40, restore_rate=40)

        async def go():
            async with client_for(emulator, store) as client:
                started = time.monotonic()
                for _ in range(4):
                    await client.execute(query)
                return time.monotonic() - started, client.stats

        elapsed, stats = run(go())
    # Each query needs 32 points free and spends 14, from a bucket of 40 restoring 40/s:
    # the 2nd waits ~0.17 s, the 3rd and 4th ~0.35 s each.
    assert elapsed >= 0.75
    assert stats.budget_waits >= 3 and stats.throttled_responses == 0 and stats.points_spent == 4 * 14
    assert [r.outcome for r in emulator.records(store.domain)] == ["ok"] * 4


# --- HTTP 429 / 503 / 5xx ------------------------------------------------------------------------------


def test_429_retry_after_is_honoured(emulator, store, time_) -> None:
    emulator.faults.inject(429, count=2, retry_after=2.5)

    async def go():
        async with client_for(emulator, store, time_) as client:
            return await client.execute("{ shop { name } }"), client.stats

    data, stats = run(go())
    assert data["shop"]["name"] == store.name
    assert time_.sleeps == [2.5, 2.5]
    assert stats.throttled_responses == 2 and stats.requests == 3


def test_503_is_retried_with_retry_after_or_backoff(emulator, store, time_) -> None:
    emulator.faults.inject(503, count=1, retry_after=1.0)
    emulator.faults.inject(503, count=1)
    emulator.faults.inject(502, count=1)

    async def go():
        async with client_for(emulator, store, time_, backoff_seconds=0.5) as client:
            return await client.execute("{ shop { name } }")

    assert run(go())["shop"]["name"] == store.name
    assert time_.sleeps[0] == 1.0
    assert 0.25 <= time_.sleeps[1] <= 1.0 and 0.5 <= time_.sleeps[2] <= 2.0  # exponential, jittered


@pytest.mark.parametrize(("status", "error_type"), [(503, ShopifyUnavailableError), (500, ShopifyUnavailableError),
                                                    (429, ShopifyThrottledError)])
def test_gives_up_after_bounded_attempts_with_a_retryable_error(emulator, store, time_, status, error_type) -> None:
    emulator.faults.inject(status, count=100, retry_after=1.0 if status == 429 else None)

    async def go():
        async with client_for(emulator, store, time_, max_attempts=3) as client:
            await client.execute("{ shop { name } }")

    with pytest.raises(error_type) as caught:
        run(go())
    assert caught.value.retryable is True
    assert "gave up after 3 attempts" in str(caught.value)
    assert len(emulator.records(store.domain)) == 3
    assert_no_token(caught.value)


def test_a_long_retry_after_is_handed_back_rather_than_slept(emulator, store, time_) -> None:
    emulator.faults.inject(429, count=1, retry_after=600)

    async def go():
        async with client_for(emulator, store, time_, max_retry_after_seconds=60) as client:
            await client.execute("{ shop { name } }")

    with pytest.raises(ShopifyThrottledError) as caught:
        run(go())
    assert caught.value.retry_after == 600 and time_.sleeps == []


def test_unreachable_shop_is_retryable_and_bounded(store, time_) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nothing listens there

    async def go():
        async with AdminApiClient(store.domain, TOKEN, base_url_template=f"http://127.0.0.1:{port}/{{shop}}",
                                  max_attempts=2, sleep=time_.sleep) as client:
            await client.execute("{ shop { name } }")

    with pytest.raises(ShopifyUnavailableError) as caught:
        run(go())
    assert caught.value.retryable and len(time_.sleeps) == 1
    assert_no_token(caught.value)


# --- errors that retrying cannot fix ---------------------------------------------------------------------


def test_401_is_not_retried_and_never_shows_the_token(emulator, store, time_) -> None:
    async def go():
        async with client_for(emulator, store, time_, token=TOKEN + "_revoked") as client:
            await client.execute("{ shop { name } }")

    with pytest.raises(ShopifyAuthError) as caught:
        run(go())
    assert caught.value.retryable is False and caught.value.status == 401
    assert "Invalid API key or access token" in str(caught.value)
    assert_no_token(caught.value)
    assert time_.sleeps == [] and len(emulator.records(store.domain)) == 1
    assert isinstance(caught.value, ShopifyError)


def test_query_errors_are_typed_and_not_retryable(emulator, store, time_) -> None:
    async def go(query):
        async with client_for(emulator, store, time_) as client:
            await client.execute(query)

    with pytest.raises(ShopifyGraphQLError) as invalid:
        run(go("{ products(first: 2) { nodes { colour } } }"))
    assert invalid.value.retryable is False and invalid.value.codes == ["undefinedField"]
    with pytest.raises(ShopifyGraphQLError) as too_dear:
        run(go("{ products(first: 250) { nodes { variants(first: 100) { nodes { id } } } } }"))
    assert too_dear.value.codes == ["MAX_COST_EXCEEDED"]
    assert time_.sleeps == []
    assert_no_token(invalid.value)


# --- pages, URL, bookkeeping --------------------------------------------------------------------------------


def test_paginate_walks_every_page_and_counts_points(emulator, store, time_) -> None:
    async def go():
        async with client_for(emulator, store, time_) as client:
            pages = [page async for page in client.paginate(PRODUCTS_PAGE, {"first": 5}, "products")]
            return pages, client.stats

    pages, stats = run(go())
    ids = [node["id"] for page in pages for node in page.nodes]
    assert sorted(ids) == sorted(p.id for p in store.products) and len(ids) == len(set(ids))
    assert [page.number for page in pages] == [1, 2, 3] and not pages[-1].has_next_page
    assert stats.pages == 3
    records = emulator.records(store.domain)
    assert stats.points_spent == sum(r.actual_cost for r in records) == 3 * 2 + len(store.products)
    assert stats.points_requested == sum(r.requested_cost for r in records) == 3 * 7


def test_url_comes_from_the_settings_template_and_domain_is_checked(emulator, store, monkeypatch) -> None:
    monkeypatch.setenv("SHOPIFY_ADMIN_BASE_URL", emulator.admin_base_url_template)
    get_settings.cache_clear()
    try:
        client = AdminApiClient(store.domain, TOKEN)
        assert client.url == emulator.graphql_url(store.domain, get_settings().shopify_api_version)
        assert TOKEN not in repr(client)
        run(client.aclose())
        for bad in ("evil.com", "shop.myshopify.com.evil.com", "../x.myshopify.com", ""):
            with pytest.raises(ValueError):
                AdminApiClient(bad, TOKEN)
    finally:
        get_settings.cache_clear()
