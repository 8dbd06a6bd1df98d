"""The direct fetcher against a local server that records every request it gets."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.market.fetch import DirectFetcher, FetchErrorKind, decode_html, is_public_address

PAGE = b"<html><head><title>Board</title></head><body><h1>Board</h1><p class=price>\xc2\xa312.00</p></body></html>"
ROBOTS = b"User-agent: *\nDisallow: /private/\n\nUser-agent: OtherBot\nDisallow: /\n"


@dataclass
class Recorder:
    hits: list[tuple[float, str]] = field(default_factory=list)  # (monotonic time, path)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def paths(self) -> list[str]:
        with self.lock:
            return [path for _, path in self.hits]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    recorder: Recorder
    robots: bytes = ROBOTS
    redirect_to: str | None = None  # where /away redirects

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        with self.recorder.lock:
            self.recorder.hits.append((time.monotonic(), self.path))
        if self.path == "/robots.txt":
            return self._send(200, self.robots, "text/plain")
        if self.path.startswith("/loop/"):
            step = int(self.path.rsplit("/", 1)[-1])
            return self._send(302, b"", "text/html", location=f"/loop/{step + 1}")
        if self.path == "/away" and self.redirect_to:
            return self._send(301, b"", "text/html", location=self.redirect_to)
        if self.path == "/big":
            return self._send(200, b"<html>" + b"x" * 20_000 + b"</html>", "text/html")
        if self.path == "/big-chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(10):
                chunk = b"y" * 4000
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return None
        if self.path == "/image":
            return self._send(200, b"\x89PNG", "image/png")
        if self.path == "/missing":
            return self._send(404, b"not here", "text/html")
        return self._send(200, PAGE, "text/html; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str, location: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if location:
            self.send_header("Location", location)
        self.end_headers()
        self.wfile.write(body)


@dataclass
class Site:
    base: str
    recorder: Recorder
    handler: type[Handler]


def serve(host: str = "127.0.0.1", **attributes) -> Iterator[Site]:
    recorder = Recorder()
    handler = type("SiteHandler", (Handler,), {"recorder": recorder, **attributes})
    server = ThreadingHTTPServer((host, 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Site(f"http://{host}:{server.server_address[1]}", recorder, handler)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    yield from serve()


def fetcher(**options) -> DirectFetcher:
    defaults = dict(user_agent="RetailAIAdvisorBot/0.1 (+test)", timeout_seconds=5, max_bytes=10_000,
                    concurrency=4, interval_seconds=0, allow_private_networks=True)
    return DirectFetcher(**{**defaults, **options})


async def test_fetches_a_page_and_decodes_it(site):
    async with fetcher() as f:
        result = await f.fetch(f"{site.base}/products/board")
    assert result.ok and result.status == 200
    assert "£12.00" in result.html
    assert result.final_url == f"{site.base}/products/board"
    assert site.recorder.paths() == ["/robots.txt", "/products/board"]


async def test_robots_disallow_is_honoured_and_cached(site):
    async with fetcher() as f:
        blocked = await f.fetch(f"{site.base}/private/board")
        allowed = await f.fetch(f"{site.base}/products/board")
    assert blocked.error is FetchErrorKind.blocked_by_robots and blocked.html is None
    assert not blocked.retryable
    assert allowed.ok
    # robots.txt read once for the origin, and the disallowed page never requested
    assert site.recorder.paths() == ["/robots.txt", "/products/board"]


async def test_robots_rules_for_our_agent_apply():
    for s in serve(robots=b"User-agent: RetailAIAdvisorBot\nDisallow: /\n"):
        async with fetcher() as f:
            result = await f.fetch(f"{s.base}/products/board")
        assert result.error is FetchErrorKind.blocked_by_robots


async def test_size_limit_stops_reading(site):
    async with fetcher(max_bytes=10_000) as f:
        declared = await f.fetch(f"{site.base}/big")
        streamed = await f.fetch(f"{site.base}/big-chunked")
        fits = await f.fetch(f"{site.base}/products/board")
    assert declared.error is FetchErrorKind.too_large
    assert streamed.error is FetchErrorKind.too_large
    assert fits.ok


async def test_redirects_are_bounded(site):
    async with fetcher(max_redirects=3) as f:
        result = await f.fetch(f"{site.base}/loop/0")
    assert result.error is FetchErrorKind.too_many_redirects
    assert [p for p in site.recorder.paths() if p.startswith("/loop/")] == ["/loop/0", "/loop/1", "/loop/2", "/loop/3"]


async def test_a_redirect_is_followed_and_reported(site):
    site.handler.redirect_to = "/products/board"
    async with fetcher() as f:
        result = await f.fetch(f"{site.base}/away")
    assert result.ok and result.final_url == f"{site.base}/products/board"


async def test_private_address_refused_unless_allowed(site):
    async with fetcher(allow_private_networks=False) as f:
        refused = await f.fetch(f"{site.base}/products/board")
    assert refused.error is FetchErrorKind.ssrf_refused and not refused.retryable
    assert site.recorder.paths() == []  # not even robots.txt was asked for
    async with fetcher(allow_private_networks=True) as f:
        assert (await f.fetch(f"{site.base}/products/board")).ok


async def test_hostname_resolving_to_a_private_address_is_refused(site):
    port = site.base.rsplit(":", 1)[1]

    async def resolver(host: str, _port: int) -> list[str]:
        return ["127.0.0.1"]  # DNS says "shop.example" is this machine

    async with fetcher(allow_private_networks=False, resolver=resolver) as f:
        result = await f.fetch(f"http://shop.example:{port}/products/board")
    assert result.error is FetchErrorKind.ssrf_refused
    assert site.recorder.paths() == []


async def test_every_redirect_hop_is_checked_again():
    # 127.0.0.1 stands in for a public site, 127.0.0.2 for the private network behind it.
    for inner in serve(host="127.0.0.2"):
        for outer in serve(host="127.0.0.1", redirect_to=f"{inner.base}/admin"):
            policy = lambda address: address == ipaddress.ip_address("127.0.0.1")  # noqa: E731
            async with fetcher(address_allowed=policy) as f:
                result = await f.fetch(f"{outer.base}/away")
            assert result.error is FetchErrorKind.ssrf_refused
            assert outer.recorder.paths() == ["/robots.txt", "/away"]
            assert inner.recorder.paths() == []


async def test_one_request_per_site_per_interval(site):
    interval = 0.3
    async with fetcher(interval_seconds=interval, concurrency=4) as f:
        results = await f.fetch_many([f"{site.base}/products/{i}" for i in range(4)])
    assert all(r.ok for r in results)
    times = sorted(t for t, _ in site.recorder.hits)
    assert len(times) == 5  # robots.txt + 4 pages, all paced
    gaps = [b - a for a, b in zip(times, times[1:])]
    # The server stamps arrivals, and a loaded machine may delay one arrival and not the next, so
    # single gaps get slack; the span from first to last shows the pacing without that jitter.
    assert times[-1] - times[0] >= 4 * interval - 0.05, gaps
    assert min(gaps) >= interval / 2, gaps


async def test_other_sites_are_not_held_up_by_one_sites_interval():
    for slow in serve(host="127.0.0.1"):
        for other in serve(host="127.0.0.2"):
            async with fetcher(interval_seconds=0.5) as f:
                await f.fetch_many([f"{slow.base}/products/1", f"{slow.base}/products/2", f"{other.base}/products/1"])
            other_done = max(t for t, _ in other.recorder.hits)
            slow_last = max(t for t, _ in slow.recorder.hits)
            assert other_done < slow_last - 0.4


async def test_http_errors_and_wrong_content_types(site):
    async with fetcher() as f:
        missing = await f.fetch(f"{site.base}/missing")
        image = await f.fetch(f"{site.base}/image")
        bad = await f.fetch("ftp://example.com/file")
    assert (missing.error, missing.status, missing.retryable) == (FetchErrorKind.http_error, 404, False)
    assert image.error is FetchErrorKind.not_html
    assert bad.error is FetchErrorKind.invalid_url


async def test_unreachable_site_is_a_retryable_error():
    for s in serve():
        dead = s.base
    async with fetcher(timeout_seconds=2) as f:
        result = await f.fetch(f"{dead}/products/board")
    # robots.txt could not be read, so the page is not fetched, and a later run may do better
    assert result.error is FetchErrorKind.robots_unavailable and result.retryable


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # shared address space
        ("0.0.0.0", False),
        ("224.0.0.251", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("2002:7f00:1::", False),  # 6to4 wrapping 127.0.0.1
    ],
)
def test_public_address_rules(address, public):
    assert is_public_address(ipaddress.ip_address(address)) is public


def test_decode_html_uses_header_then_meta_charset():
    assert decode_html("café".encode("latin-1"), "text/html; charset=ISO-8859-1") == "café"
    body = b'<meta charset="windows-1252"><p>caf\xe9</p>'
    assert "café" in decode_html(body, "text/html")
    assert decode_html(b"\xff", "text/html; charset=nonsense") == "\ufffd"


async def test_a_crawl_delay_in_robots_txt_widens_the_interval():
    # urllib.robotparser reads whole seconds only
    for s in serve(robots=b"User-agent: *\nCrawl-delay: 1\n"):
        async with fetcher(interval_seconds=0) as f:
            await f.fetch_many([f"{s.base}/products/{i}" for i in range(2)])
        times = sorted(t for t, _ in s.recorder.hits)
        pages = times[1:]  # the delay is known once robots.txt has been read
        # The fetcher spaces the starts by 1 s; the site stamps arrivals, and the first request's
        # new connection can arrive late under load. Without the delay the gap would be ~0.
        assert pages[1] - pages[0] >= 0.75


# --- the guard, by the list of targets ---------------------------------------------------

FORBIDDEN_TARGETS = ["127.0.0.1", "10.0.0.7", "10.255.1.2", "169.254.169.254"]


@pytest.mark.parametrize("address", FORBIDDEN_TARGETS)
async def test_a_name_resolving_to_a_forbidden_address_is_refused_before_any_connection(address):
    asked = []

    async def resolver(host: str, _port: int) -> list[str]:
        asked.append(host)
        return [address]

    async with fetcher(allow_private_networks=False, resolver=resolver, timeout_seconds=2) as f:
        result = await f.fetch("http://competitor.example/products/board")
    assert asked == ["competitor.example"]  # the check runs on the resolved address
    assert result.error is FetchErrorKind.ssrf_refused and not result.retryable
    assert address in (result.error_detail or "")


@pytest.mark.parametrize("address", FORBIDDEN_TARGETS)
async def test_literal_forbidden_addresses_are_refused(address):
    async with fetcher(allow_private_networks=False, timeout_seconds=2) as f:
        result = await f.fetch(f"http://{address}/latest/meta-data/")
    assert result.error is FetchErrorKind.ssrf_refused


@pytest.mark.parametrize("address", FORBIDDEN_TARGETS)
async def test_a_redirect_to_a_forbidden_address_is_refused(address):
    # The competitor's site runs on 127.0.0.2, allowed here as if it were public; everything else
    # is judged by the default rules. It redirects to a name that resolves to a forbidden address.
    outer_address = ipaddress.ip_address("127.0.0.2")

    async def resolver(host: str, _port: int) -> list[str]:
        return [str(outer_address)] if host == "competitor.example" else [address]

    def policy(candidate) -> bool:
        return candidate == outer_address or is_public_address(candidate)

    for outer in serve(host=str(outer_address), redirect_to="http://internal.example/admin"):
        port = outer.base.rsplit(":", 1)[1]
        async with fetcher(address_allowed=policy, resolver=resolver, timeout_seconds=2) as f:
            result = await f.fetch(f"http://competitor.example:{port}/away")
        assert outer.recorder.paths() == ["/robots.txt", "/away"]
        assert result.error is FetchErrorKind.ssrf_refused
        assert result.final_url.startswith("http://internal.example/")
        assert address in (result.error_detail or "")


async def test_the_setting_allows_private_targets_for_the_local_sample_store(site):
    from shared.settings import Settings

    async def resolver(host: str, _port: int) -> list[str]:
        return ["127.0.0.1"]

    port = site.base.rsplit(":", 1)[1]
    url = f"http://competitor.example:{port}/products/board"
    async with DirectFetcher.from_settings(Settings(), resolver=resolver, interval_seconds=0) as f:
        assert (await f.fetch(url)).error is FetchErrorKind.ssrf_refused
    async with DirectFetcher.from_settings(Settings(competitor_fetch_allow_private_networks=True),
                                           resolver=resolver, interval_seconds=0) as f:
        assert (await f.fetch(url)).ok
