"""Fetch competitor pages through the ZenRows Universal Scraper API.

    async with ZenRowsFetcher.from_settings(api_key) as fetcher:
        result = await fetcher.fetch("https://shop.example/p/1", tier="standard")

`GET {zenrows_base_url}?apikey=KEY&url=TARGET` plus the tier's parameters: `mode=auto` for the
standard tier (ZenRows escalates by itself and bills what worked), `js_render=true` for js,
`js_render=true&premium_proxy=true` for premium (mode=auto cannot be combined with them).

Retries are made only where they can succeed:
- 429 AUTH006 (the plan's concurrency is used up): wait for one of our requests to finish
  (or a short jittered pause when none of ours is in flight), then ask again, a few times;
- 422 RESP001 (could not get the content): once, one tier higher; a tier that worked is kept
  for the domain for the rest of the run;
- 5xx, 429 AUTH008 (rate) and network failures: exponential backoff with jitter, twice;
- anything else is permanent (REQS001 forbidden domain, RESP002 404, RESP007 no such domain,
  malformed requests, ...) and is not retried. Key, plan and block errors (AUTH001-4, AUTH009,
  AUTH011/12, BLK0001) stop the run's further requests: each would fail the same way, and
  repeating them can get the key banned.

Concurrency: one `httpx.AsyncClient` and one limiter for the whole run, sized by the
`Concurrency-Limit` header once ZenRows has sent it (the setting is the first guess), and
kept within what `Concurrency-Remaining` says is free when other clients share the key.

The API key travels in the query string, so it is kept out of everything else: span attributes
name the target's host only, error details quote ZenRows' code and title, httpx's request log
line is redacted, and the key is registered with telemetry's scrubber.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

import httpx

from shared.market.fetch import FetchErrorKind, FetchResult, decode_html
from shared.settings import Settings, get_settings
from shared.telemetry import external_call, register_secret_value

log = logging.getLogger(__name__)

TIERS = ("standard", "js", "premium")
TIER_PARAMS = {
    "standard": {"mode": "auto"},
    "js": {"js_render": "true"},
    "premium": {"js_render": "true", "premium_proxy": "true"},
}
# Codes after which no request of this run can succeed.
RUN_STOPPING_CODES = frozenset({"AUTH001", "AUTH002", "AUTH003", "AUTH004", "AUTH009", "AUTH011", "AUTH012", "BLK0001"})
SLOT_CODE = "AUTH006"
ESCALATE_CODE = "RESP001"
BACKOFF_CODES = frozenset({"AUTH008"})


class _Outcome:
    ok = "ok"
    throttled = "throttled"
    error = "error"


class _Limiter:
    """At most `limit` requests in flight.

    `limit` follows what ZenRows says: the plan's Concurrency-Limit, lowered to what is really
    free when other clients of the same key hold slots (our requests in flight plus
    Concurrency-Remaining), and raised again when they let go.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(limit, 1)
        self.plan_limit: int | None = None
        self.in_flight = 0
        self._changed = asyncio.Condition()

    async def acquire(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1

    async def release(self) -> None:
        async with self._changed:
            self.in_flight -= 1
            self._changed.notify_all()

    async def set_limit(self, limit: int) -> None:
        if limit >= 1 and limit != self.limit:
            async with self._changed:
                self.limit = limit
                self._changed.notify_all()

    async def follow(self, plan_limit: int | None, remaining: int | None) -> None:
        """Adjust to one answer's Concurrency-Limit and Concurrency-Remaining headers."""
        if plan_limit:
            self.plan_limit = plan_limit
        if self.plan_limit is None:
            return
        usable = self.plan_limit if remaining is None else min(self.plan_limit, self.in_flight + remaining)
        await self.set_limit(max(usable, 1))

    async def wait_for_a_release(self, timeout: float) -> None:
        """Until one of our requests finishes, or `timeout` passes."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait(), timeout)
            except TimeoutError:
                pass


class _RedactApiKey(logging.Filter):
    """httpx logs each request's full URL at INFO; the ZenRows key is in that URL."""

    _KEY = re.compile(r"(?i)(apikey=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any("apikey=" in str(a).lower() for a in record.args):
            record.args = tuple(self._KEY.sub(r"\1***", str(a)) if "apikey=" in str(a).lower() else a
                                for a in record.args)
        if isinstance(record.msg, str) and "apikey=" in record.msg.lower():
            record.msg = self._KEY.sub(r"\1***", record.msg)
        return True


logging.getLogger("httpx").addFilter(_RedactApiKey())


Sleeper = Callable[[float], Awaitable[None]]


class ZenRowsFetcher:
    """Fetches pages through ZenRows; use as `async with ZenRowsFetcher.from_settings(key) as f:`."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = "https://api.zenrows.com/v1/",
        concurrency: int = 5,
        timeout_seconds: float = 120.0,
        max_bytes: int = 10_000_000,
        slot_waits: int = 5,
        server_retries: int = 2,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 30.0,
        sleep: Sleeper = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("a ZenRows API key is required")
        register_secret_value(api_key)
        self._api_key = api_key
        self.base_url = base_url
        self.max_bytes = max_bytes
        self.slot_waits = slot_waits
        self.server_retries = server_retries
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self._sleep = sleep
        self._jitter = jitter
        self._limiter = _Limiter(concurrency)
        # ZenRows' own budget is 90 s; a longer client timeout lets it answer with its error.
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_seconds), transport=transport,
                                         follow_redirects=False, trust_env=False)
        self._domain_tier: dict[str, str] = {}
        self.stopped_by: str | None = None  # the code that stopped this run's requests
        self.total_cost = Decimal(0)
        self.requests_made = 0

    @classmethod
    def from_settings(cls, api_key: str, settings: Settings | None = None, **overrides) -> ZenRowsFetcher:
        settings = settings or get_settings()
        options = dict(
            base_url=settings.zenrows_base_url,
            concurrency=settings.zenrows_concurrency,
            timeout_seconds=settings.zenrows_timeout_seconds,
            max_bytes=settings.competitor_fetch_max_bytes,
            server_retries=settings.zenrows_server_retries,
        )
        options.update(overrides)
        return cls(api_key, **options)

    async def __aenter__(self) -> ZenRowsFetcher:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    @property
    def concurrency_limit(self) -> int:
        return self._limiter.limit

    async def fetch_many(self, urls: Iterable[str], *, tier: str = "standard") -> list[FetchResult]:
        return list(await asyncio.gather(*(self.fetch(url, tier=tier) for url in urls)))

    async def fetch(self, url: str, *, tier: str = "standard") -> FetchResult:
        """The page through ZenRows, with the retries the rules allow; its cost summed over attempts."""
        started = time.monotonic()
        fetched_at = datetime.now(UTC)
        host = (urlsplit(url).hostname or "").lower()
        tier = self._domain_tier.get(host, tier if tier in TIERS else "standard")
        attempts, cost = 0, Decimal(0)
        slot_waits = server_retries = 0
        escalated = False

        def failure(kind: FetchErrorKind, detail: str, *, retryable: bool, status: int | None = None) -> FetchResult:
            return FetchResult(url=url, status=status, error=kind, error_detail=detail[:300], retryable=retryable,
                               elapsed_seconds=time.monotonic() - started, fetched_at=fetched_at,
                               fetcher="zenrows", attempts=attempts, cost=cost)

        while True:
            if self.stopped_by is not None:
                return failure(FetchErrorKind.provider_unavailable,
                               f"ZenRows refused this run's requests ({self.stopped_by})", retryable=False)
            attempts += 1
            answer = await self._request(url, host, tier)
            cost += answer.cost
            if answer.html is not None:
                if tier != self._domain_tier.get(host, "standard"):
                    self._domain_tier[host] = tier  # what worked, for this domain's other pages
                return FetchResult(url=url, final_url=answer.final_url or url, status=200, html=answer.html,
                                   elapsed_seconds=time.monotonic() - started, fetched_at=fetched_at,
                                   fetcher="zenrows", attempts=attempts, cost=cost)
            code, status = answer.code, answer.status
            if answer.too_large:
                return failure(FetchErrorKind.too_large, f"more than {self.max_bytes} bytes", retryable=False,
                               status=status)
            if code == SLOT_CODE:
                if slot_waits < self.slot_waits:
                    slot_waits += 1
                    await self._wait_for_slot(slot_waits)
                    continue
                return failure(FetchErrorKind.provider_error, answer.describe(), retryable=True, status=status)
            if code == ESCALATE_CODE:
                higher = _higher(tier)
                if not escalated and higher is not None:
                    escalated, tier = True, higher
                    continue
                return failure(FetchErrorKind.provider_error, answer.describe(), retryable=False, status=status)
            if answer.transient:
                if server_retries < self.server_retries:
                    server_retries += 1
                    await self._sleep(self._backoff(server_retries))
                    continue
                kind = FetchErrorKind.timeout if answer.timed_out else FetchErrorKind.provider_error
                return failure(kind, answer.describe(), retryable=True, status=status)
            if code in RUN_STOPPING_CODES:
                self.stopped_by = code
                log.error("ZenRows answered %s (%s): no further requests this run", code, answer.title)
                return failure(FetchErrorKind.provider_unavailable, answer.describe(), retryable=False, status=status)
            return failure(FetchErrorKind.provider_error, answer.describe(), retryable=False, status=status)

    # --- internals ---

    def _backoff(self, retry: int) -> float:
        """Exponential, with full jitter on the upper half so parallel retries spread out."""
        ceiling = min(self.backoff_seconds * 2 ** (retry - 1), self.max_backoff_seconds)
        return ceiling / 2 + ceiling / 2 * self._jitter()

    async def _wait_for_slot(self, attempt: int) -> None:
        if self._limiter.in_flight:
            # One of ours will finish and free a slot; never wait longer than a backoff would.
            await self._limiter.wait_for_a_release(self._backoff(attempt))
        else:
            await self._sleep(self._backoff(attempt))  # someone else holds the plan's slots

    async def _request(self, url: str, host: str, tier: str) -> _Answer:
        params = {"apikey": self._api_key, "url": url, **TIER_PARAMS[tier]}
        await self._limiter.acquire()
        try:
            with external_call("zenrows", "scrape", domain=host, tier=tier) as call:
                self.requests_made += 1
                try:
                    async with self._client.stream("GET", self.base_url, params=params) as response:
                        answer = await self._read(response)
                except httpx.TimeoutException:
                    call.set_outcome(_Outcome.error)
                    return _Answer(status=None, transient=True, timed_out=True, title="no answer in time")
                except httpx.TransportError as exc:
                    call.set_outcome(_Outcome.error)
                    return _Answer(status=None, transient=True, title=f"network error ({type(exc).__name__})")
                call.add_cost("request_cost", float(answer.cost))
                call.set_attribute("http.status_code", answer.status or 0)
                if answer.concurrency_remaining is not None:
                    call.set_attribute("zenrows.concurrency_remaining", answer.concurrency_remaining)
                if answer.code:
                    call.set_attribute("zenrows.code", answer.code)
                call.set_outcome(_Outcome.ok if answer.html is not None
                                 else _Outcome.throttled if answer.status == 429 else _Outcome.error)
        finally:
            await self._limiter.release()
        self.total_cost += answer.cost
        await self._limiter.follow(answer.concurrency_limit, answer.concurrency_remaining)
        return answer

    async def _read(self, response: httpx.Response) -> _Answer:
        headers = response.headers
        answer = _Answer(status=response.status_code, cost=_decimal(headers.get("X-Request-Cost")),
                         concurrency_limit=_int(headers.get("Concurrency-Limit")),
                         concurrency_remaining=_int(headers.get("Concurrency-Remaining")),
                         final_url=headers.get("Zr-Final-Url"))
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                answer.too_large = True
                return answer
            chunks.append(chunk)
        body = b"".join(chunks)
        if response.status_code == 200:
            answer.html = decode_html(body, headers.get("content-type"))
            return answer
        try:
            envelope = json.loads(body) if body else {}
        except ValueError:
            envelope = {}
        if isinstance(envelope, dict):
            answer.code = str(envelope.get("code") or "") or None
            answer.title = str(envelope.get("title") or "")[:120]
        answer.transient = response.status_code >= 500 or answer.code in BACKOFF_CODES
        return answer


class _Answer:
    """What one request to ZenRows returned, read without keeping anything of the request."""

    def __init__(self, *, status: int | None, cost: Decimal = Decimal(0), concurrency_limit: int | None = None,
                 concurrency_remaining: int | None = None, final_url: str | None = None, transient: bool = False,
                 timed_out: bool = False, title: str = "") -> None:
        self.status = status
        self.cost = cost
        self.concurrency_limit = concurrency_limit
        self.concurrency_remaining = concurrency_remaining
        self.final_url = final_url
        self.transient = transient
        self.timed_out = timed_out
        self.title = title
        self.code: str | None = None
        self.html: str | None = None
        self.too_large = False

    def describe(self) -> str:
        parts = ["ZenRows"]
        if self.code:
            parts.append(self.code)
        if self.title:
            parts.append(f"{self.title}")
        if self.status:
            parts.append(f"(HTTP {self.status})")
        return " ".join(parts)


def _higher(tier: str) -> str | None:
    index = TIERS.index(tier)
    return TIERS[index + 1] if index + 1 < len(TIERS) else None


def _decimal(value: str | None) -> Decimal:
    try:
        amount = Decimal(value) if value else Decimal(0)
    except InvalidOperation:
        return Decimal(0)
    return amount if amount.is_finite() and amount >= 0 else Decimal(0)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None
