"""Fetch competitor pages directly, politely and safely.

One `DirectFetcher` serves a whole run: a shared `httpx.AsyncClient`, a semaphore that bounds
requests in flight across all sites, at most one request per host per interval (longer if the
site's robots.txt asks for a Crawl-delay), robots.txt obeyed (cached per origin), an
identifying User-Agent, timeouts, a size limit on every body (read as a stream, abandoned past
the limit), and redirects followed by hand so that each hop is checked again.

Server-side request forgery: competitor URLs come from merchants, so a URL could point at
this app's own network. Every connection resolves the host itself and connects only to the
addresses it approved (no second lookup an attacker could answer differently); private,
loopback, link-local, multicast and reserved addresses are refused unless
`competitor_fetch_allow_private_networks` is set (the local sample store needs it).

`PageFetcher` is the seam it shares with `shared.market.zenrows.ZenRowsFetcher`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal, Protocol
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpcore
import httpx
from pydantic import BaseModel, Field

from shared.settings import Settings, get_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_MAX_REDIRECTS = 5
ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309 asks crawlers to read at least 500 KiB
MAX_CRAWL_DELAY_SECONDS = 60.0  # a robots.txt Crawl-delay is honoured up to this
HTML_TYPES = ("text/html", "application/xhtml+xml")


class FetchErrorKind(StrEnum):
    invalid_url = "invalid_url"
    blocked_by_robots = "blocked_by_robots"
    robots_unavailable = "robots_unavailable"
    ssrf_refused = "ssrf_refused"
    dns_error = "dns_error"
    connect_error = "connect_error"
    timeout = "timeout"
    too_large = "too_large"
    too_many_redirects = "too_many_redirects"
    http_error = "http_error"
    not_html = "not_html"
    provider_error = "provider_error"  # the scraping API answered with one of its error codes
    provider_unavailable = "provider_unavailable"  # the scraping API refuses every request (key, plan, block)


# Kinds where trying again later can help; http_error decides by status.
_RETRYABLE = frozenset(
    {FetchErrorKind.robots_unavailable, FetchErrorKind.connect_error, FetchErrorKind.timeout}
)


class FetchError(Exception):
    """A page could not be fetched; `retryable` says whether a later attempt may succeed."""

    def __init__(
        self,
        kind: FetchErrorKind,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.url = url
        self.status = status
        self.retryable = kind in _RETRYABLE if retryable is None else retryable


class FetchResult(BaseModel):
    """What one fetch produced: the page, or why there is none."""

    url: str
    final_url: str | None = None
    status: int | None = None
    html: str | None = Field(None, repr=False)
    error: FetchErrorKind | None = None
    error_detail: str | None = None
    retryable: bool = False
    elapsed_seconds: float = Field(ge=0)
    fetched_at: datetime
    fetcher: Literal["direct", "zenrows"] = "direct"
    attempts: int = Field(1, ge=0, description="Requests made for this page, retries included.")
    cost: Decimal = Field(Decimal(0), ge=0, description="What the page cost (ZenRows: USD, every attempt).")

    @property
    def ok(self) -> bool:
        return self.error is None and self.html is not None


class PageFetcher(Protocol):
    """Anything that turns a URL into a `FetchResult`: `DirectFetcher` or `ZenRowsFetcher`.

    `tier` is the competitor's fetch tier (standard, js, premium); a direct fetch ignores it.
    """

    async def fetch(self, url: str, *, tier: str = "standard") -> FetchResult: ...

    async def aclose(self) -> None: ...


# --- the address guard ------------------------------------------------------------------------


def is_public_address(address: IPAddress) -> bool:
    """True for an address on the public internet; false for private, loopback, link-local,
    multicast, reserved, unspecified and shared (CGNAT) space, IPv4-mapped forms included."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None and not is_public_address(embedded):
            return False
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_loopback or address.is_link_local
        or address.is_unspecified or address.is_private
    )


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks every address, then connects to an approved address only."""

    def __init__(self, resolver: Resolver, address_allowed: Callable[[IPAddress], bool]) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._resolve = resolver
        self._allowed = address_allowed

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                resolved = await asyncio.wait_for(self._resolve(host, port), timeout)
            except socket.gaierror as exc:
                raise FetchError(
                    FetchErrorKind.dns_error, f"cannot resolve {host}: {exc.strerror or exc}",
                    retryable=exc.errno == socket.EAI_AGAIN,
                ) from None
            except TimeoutError:
                raise FetchError(FetchErrorKind.timeout, f"resolving {host} timed out") from None
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolved]
        if not addresses:
            raise FetchError(FetchErrorKind.dns_error, f"{host} has no address")
        refused = [a for a in addresses if not self._allowed(a)]
        if refused:
            # One bad address is enough to refuse: a host that mixes them is not to be trusted.
            raise FetchError(FetchErrorKind.ssrf_refused, f"{host} resolves to a non-public address ({refused[0]})")
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):  # pragma: no cover
        raise FetchError(FetchErrorKind.ssrf_refused, "unix sockets are never fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, backend: _GuardedBackend, limits: httpx.Limits) -> None:
        super().__init__(trust_env=False, limits=limits)
        # httpx 0.28 takes no network backend, so its pool is replaced by one with the guard
        # (httpx is pinned; the pool is public httpcore API).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


# --- the fetcher ------------------------------------------------------------------------------


@dataclass
class _Site:
    """Politeness state of one host."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_at: float = 0.0
    crawl_delay: float = 0.0


@dataclass
class _Response:
    url: str
    status: int
    headers: httpx.Headers
    body: bytes | None


_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def decode_html(body: bytes, content_type: str | None) -> str:
    """Text of an HTML body: the header's charset, else the page's own <meta>, else UTF-8."""
    charset = None
    if content_type:
        match = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", content_type, re.I)
        charset = match.group(1) if match else None
    if charset is None:
        if body.startswith(b"\xef\xbb\xbf"):
            charset = "utf-8-sig"
        else:
            match = _CHARSET.search(body[:4096])
            charset = match.group(1).decode("ascii", "ignore") if match else "utf-8"
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


class DirectFetcher:
    """Fetches pages itself; use as `async with DirectFetcher.from_settings() as fetcher:`."""

    def __init__(
        self,
        *,
        user_agent: str,
        timeout_seconds: float = 15.0,
        max_bytes: int = 3_000_000,
        concurrency: int = 5,
        interval_seconds: float = 1.0,
        allow_private_networks: bool = False,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        resolver: Resolver | None = None,
        address_allowed: Callable[[IPAddress], bool] | None = None,
    ) -> None:
        if concurrency < 1 or max_bytes < 1 or timeout_seconds <= 0 or interval_seconds < 0 or max_redirects < 0:
            raise ValueError("fetcher limits must be positive")
        self.user_agent = user_agent
        self.timeout_seconds = timeout_seconds
        self.max_bytes = max_bytes
        self.interval_seconds = interval_seconds
        self.max_redirects = max_redirects
        if address_allowed is None:
            address_allowed = (lambda _address: True) if allow_private_networks else is_public_address
        backend = _GuardedBackend(resolver or system_resolver, address_allowed)
        limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency)
        self._client = httpx.AsyncClient(
            transport=_GuardedTransport(backend, limits),
            follow_redirects=False,  # by hand, so every hop passes robots.txt and the guard
            timeout=httpx.Timeout(timeout_seconds),
            headers={
                "User-Agent": user_agent,
                "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
                "Accept-Encoding": "gzip, deflate",
            },
            trust_env=False,
        )
        self._semaphore = asyncio.Semaphore(concurrency)
        self._sites: dict[str, _Site] = {}
        self._robots: dict[str, asyncio.Task[RobotFileParser]] = {}

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides) -> DirectFetcher:
        settings = settings or get_settings()
        options = dict(
            user_agent=settings.fetch_user_agent,
            timeout_seconds=settings.competitor_fetch_timeout_seconds,
            max_bytes=settings.competitor_fetch_max_bytes,
            concurrency=settings.competitor_fetch_concurrency,
            interval_seconds=settings.competitor_fetch_interval_seconds,
            allow_private_networks=settings.competitor_fetch_allow_private_networks,
        )
        options.update(overrides)
        return cls(**options)

    async def __aenter__(self) -> DirectFetcher:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for task in self._robots.values():
            task.cancel()
        await self._client.aclose()

    async def fetch_many(self, urls: Iterable[str]) -> list[FetchResult]:
        """All URLs at once; the semaphore and the per-site interval pace them."""
        return list(await asyncio.gather(*(self.fetch(url) for url in urls)))

    async def fetch(self, url: str, *, tier: str = "standard") -> FetchResult:
        started = time.monotonic()
        fetched_at = datetime.now(UTC)
        try:
            response = await self._follow(url, robots_txt=False, max_bytes=self.max_bytes)
        except FetchError as exc:
            return FetchResult(
                url=url, final_url=exc.url, status=exc.status, error=exc.kind, error_detail=str(exc)[:300],
                retryable=exc.retryable, elapsed_seconds=time.monotonic() - started, fetched_at=fetched_at,
            )
        assert response.body is not None
        return FetchResult(
            url=url,
            final_url=response.url,
            status=response.status,
            html=decode_html(response.body, response.headers.get("content-type")),
            elapsed_seconds=time.monotonic() - started,
            fetched_at=fetched_at,
        )

    # --- internals ---

    async def _follow(self, url: str, *, robots_txt: bool, max_bytes: int) -> _Response:
        """GET with redirects followed by hand; a page (not robots.txt itself) asks robots.txt first."""
        current = url
        for _hop in range(self.max_redirects + 1):
            _check_url(current)
            if not robots_txt:
                robots = await self._robots_for(current)
                if not robots.can_fetch(self.user_agent, current):
                    raise FetchError(FetchErrorKind.blocked_by_robots, "robots.txt disallows this URL", url=current)
            response = await self._request(current, max_bytes=max_bytes, html_only=not robots_txt)
            location = response.headers.get("location")
            if response.status in REDIRECT_STATUSES and location:
                current = urljoin(current, location.strip())
                continue
            if response.status >= 400:
                raise FetchError(
                    FetchErrorKind.http_error, f"HTTP {response.status}", url=current, status=response.status,
                    retryable=response.status in (408, 425, 429) or response.status >= 500,
                )
            return response
        raise FetchError(
            FetchErrorKind.too_many_redirects, f"more than {self.max_redirects} redirects", url=current
        )

    async def _request(self, url: str, *, max_bytes: int, html_only: bool) -> _Response:
        async with self._polite(_host(url)):
            try:
                async with asyncio.timeout(self.timeout_seconds):
                    response = await self._client.send(self._client.build_request("GET", url), stream=True)
                    try:
                        return await self._read(url, response, max_bytes, html_only)
                    finally:
                        await response.aclose()
            except FetchError as exc:
                exc.url = exc.url or url
                raise
            except (TimeoutError, httpx.TimeoutException):
                raise FetchError(FetchErrorKind.timeout, f"no answer within {self.timeout_seconds:g} s", url=url) from None
            except httpx.TransportError as exc:
                raise FetchError(FetchErrorKind.connect_error, f"{type(exc).__name__}: {exc}"[:200], url=url) from None

    async def _read(self, url: str, response: httpx.Response, max_bytes: int, html_only: bool) -> _Response:
        status = response.status_code
        if status in REDIRECT_STATUSES or status >= 400:
            return _Response(url, status, response.headers, None)
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if html_only and content_type and content_type not in HTML_TYPES:
            raise FetchError(FetchErrorKind.not_html, f"content type {content_type}", url=url, status=status)
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise FetchError(FetchErrorKind.too_large, f"{declared} bytes declared", url=url, status=status)
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                # Stop reading: a body past the limit (or a decompression bomb) is not wanted.
                raise FetchError(FetchErrorKind.too_large, f"more than {max_bytes} bytes", url=url, status=status)
            chunks.append(chunk)
        return _Response(url, status, response.headers, b"".join(chunks))

    @asynccontextmanager
    async def _polite(self, host: str) -> AsyncIterator[None]:
        """One request per host per interval, and no more than `concurrency` in flight overall.

        The host's lock is held while waiting for its turn and for a free slot, so its next
        request is timed from when this one really starts.
        """
        site = self._sites.setdefault(host, _Site())
        async with site.lock:
            delay = site.next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await self._semaphore.acquire()
            site.next_at = time.monotonic() + max(self.interval_seconds, site.crawl_delay)
        try:
            yield
        finally:
            self._semaphore.release()

    async def _robots_for(self, url: str) -> RobotFileParser:
        origin = _origin(url)
        task = self._robots.get(origin)
        if task is None:
            task = asyncio.ensure_future(self._load_robots(origin))
            self._robots[origin] = task
        return await asyncio.shield(task)

    async def _load_robots(self, origin: str) -> RobotFileParser:
        parser = RobotFileParser(f"{origin}/robots.txt")
        try:
            response = await self._follow(f"{origin}/robots.txt", robots_txt=True, max_bytes=ROBOTS_MAX_BYTES)
        except FetchError as exc:
            if exc.kind is FetchErrorKind.http_error and exc.status is not None and 400 <= exc.status < 500:
                if exc.status in (401, 403):
                    parser.disallow_all = True  # as the standard library reads a closed robots.txt
                else:
                    parser.allow_all = True  # no robots.txt: everything is allowed
                return parser
            if exc.kind in (FetchErrorKind.ssrf_refused, FetchErrorKind.invalid_url):
                raise
            # Unreachable robots.txt means "do not crawl" (RFC 9309) until it can be read.
            raise FetchError(FetchErrorKind.robots_unavailable, f"robots.txt unavailable: {exc}", retryable=True) from None
        parser.parse(decode_html(response.body or b"", response.headers.get("content-type")).splitlines())
        delay = parser.crawl_delay(self.user_agent)
        if delay:
            site = self._sites.setdefault(_host(origin), _Site())
            site.crawl_delay = max(site.crawl_delay, min(float(delay), MAX_CRAWL_DELAY_SECONDS))
        return parser


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1].lower()}"


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise FetchError(FetchErrorKind.invalid_url, "malformed URL", url=url) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(FetchErrorKind.invalid_url, "only http(s) URLs with a host are fetched", url=url)
    if parts.username or parts.password:
        raise FetchError(FetchErrorKind.invalid_url, "URLs with credentials are not fetched", url=url)
