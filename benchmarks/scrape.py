"""Scraping at the politeness limit: how close a run of competitor pages comes to the least time allowed.

    .venv/bin/python -m shared.cli bench scrape [--urls 1000] [--domains 10] [--interval 0.1] [--concurrency 10]

`--urls` product pages spread evenly over `--domains` competitor sites, all served on loopback
by a separate process (so the sites do not compete with the fetcher for the interpreter), each
under its own host name (resolved to 127.0.0.1), fetched by the app's `DirectFetcher` (robots.txt
first, one request per domain per `--interval`, `--concurrency` in flight across the run) and
priced by `extract_price`, as the scrape step does.

The least time the politeness rules allow: every domain's requests (robots.txt plus its pages)
start at least one interval apart, and the domains run in parallel, so the busiest domain
needs (requests - 1) x interval. The ratio printed is the measured wall time over that bound;
the target is <= 1.2. The sites stamp each arrival, and the mean gap between requests
to one domain (the span from its first to its last request over the gaps) is printed too, to show the interval
was kept to get there.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from shared.local.background_server import serve_in_background, shut_down
from shared.market.extraction import extract_price
from shared.market.fetch import DirectFetcher

TARGET_RATIO = 1.2
ROBOTS = b"User-agent: *\nDisallow: /checkout/\n"


def product_page(host: str, number: int) -> bytes:
    price = f"{10 + number % 90}.{number % 100:02d}"
    data = {"@context": "https://schema.org", "@type": "Product", "name": f"Item {number} at {host}",
            "offers": {"@type": "Offer", "price": price, "priceCurrency": "GBP",
                       "availability": "https://schema.org/InStock"}}
    filler = "".join(f"<li class='nav-item'><a href='/c/{i}'>Category {i}</a></li>" for i in range(60))
    return (f"<!doctype html><html><head><title>Item {number}</title>"
            f"<script type='application/ld+json'>{json.dumps(data)}</script></head>"
            f"<body><nav><ul>{filler}</ul></nav><main><h1>Item {number}</h1>"
            f"<p class='price'>£{price}</p></main></body></html>").encode()


class _SiteHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    arrivals: list[tuple[str, float]]

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        host = (self.headers.get("Host") or "").split(":")[0]
        self.arrivals.append((host, time.monotonic()))  # CLOCK_MONOTONIC: comparable across processes
        if self.path == "/robots.txt":
            body, content_type = ROBOTS, "text/plain"
        else:
            number = int(self.path.rsplit("/", 1)[-1]) if self.path.rsplit("/", 1)[-1].isdigit() else 0
            body, content_type = product_page(host, number), "text/html; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops simultaneous connects, which then wait out a SYN retry


def _serve(port_queue, stop_event, arrivals_queue) -> None:
    arrivals: list[tuple[str, float]] = []
    handler = type("BenchSite", (_SiteHandler,), {"arrivals": arrivals})
    server = _Server(("127.0.0.1", 0), handler)
    thread = serve_in_background(server, "bench-sites")
    port_queue.put(server.server_address[1])
    stop_event.wait()
    shut_down(server, thread)
    arrivals_queue.put(arrivals)


class LoopbackSites:
    """The competitor sites in a child process: `with LoopbackSites() as sites: sites.port`."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._ports, self._arrivals, self._stop = context.Queue(), context.Queue(), context.Event()
        self._process = context.Process(target=_serve, args=(self._ports, self._stop, self._arrivals), daemon=True)
        self.port = 0
        self.arrivals: list[tuple[str, float]] = []

    def __enter__(self) -> LoopbackSites:
        self._process.start()
        self.port = self._ports.get(timeout=30)
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self.arrivals = self._arrivals.get(timeout=30)
        self._process.join(timeout=10)


def mean_gap_per_domain(arrivals: list[tuple[str, float]]) -> dict[str, float]:
    """Per domain: the span from its first to its last request over the gaps between them.

    A span, not single gaps: a site stamps an arrival when its thread gets to it, and on a
    loaded machine one late stamp makes the next gap look short; a span cannot be squeezed.
    """
    by_host: dict[str, list[float]] = {}
    for host, moment in arrivals:
        by_host.setdefault(host, []).append(moment)
    return {host: (max(m) - min(m)) / (len(m) - 1) for host, m in by_host.items() if len(m) > 1}


async def scrape(urls: list[str], *, interval: float, concurrency: int) -> tuple[float, int]:
    """(wall seconds, pages priced) for fetching and pricing every URL."""

    async def loopback(host: str, _port: int) -> list[str]:
        return ["127.0.0.1"]

    priced = 0

    async def one(fetcher: DirectFetcher, url: str) -> None:
        nonlocal priced
        result = await fetcher.fetch(url)
        if result.ok and result.html is not None and extract_price(result.html, url).price is not None:
            priced += 1

    async with DirectFetcher(user_agent="RetailAIAdvisorBot/0.1 (+bench)", interval_seconds=interval,
                             concurrency=concurrency, allow_private_networks=True, resolver=loopback,
                             timeout_seconds=30) as fetcher:
        started = time.perf_counter()
        await asyncio.gather(*(one(fetcher, url) for url in urls))
        return time.perf_counter() - started, priced


def run_benchmark(urls: int = 1000, domains: int = 10, interval: float = 0.1, concurrency: int = 10,
                  progress: Callable[[str], None] = print) -> int:
    if urls < domains or domains < 1 or interval <= 0:
        raise ValueError("need at least one URL per domain and a positive interval")
    with LoopbackSites() as sites:
        hosts = [f"shop{d}.competitor.test" for d in range(domains)]
        targets = [f"http://{hosts[n % domains]}:{sites.port}/p/{n}" for n in range(urls)]
        per_domain = -(-urls // domains)  # pages on the busiest domain
        minimum = per_domain * interval  # its robots.txt and pages: per_domain + 1 requests, per_domain gaps
        progress(f"{urls} URLs over {domains} loopback domains, one request per domain per {interval:g} s, "
                 f"{concurrency} in flight")
        elapsed, priced = asyncio.run(scrape(targets, interval=interval, concurrency=concurrency))
    gaps = mean_gap_per_domain(sites.arrivals)
    requests = len(sites.arrivals)
    ratio = elapsed / minimum
    progress(f"requests: {requests} ({domains} robots.txt + {urls} pages); pages priced: {priced}")
    progress(f"least time the politeness rules allow: {minimum:.2f} s ({per_domain} intervals on the busiest domain)")
    progress(f"measured: {elapsed:.2f} s; ratio {ratio:.3f} (target <= {TARGET_RATIO})")
    progress(f"mean gap between requests to one domain, smallest over the domains: {min(gaps.values()):.4f} s "
             f"(interval {interval:g} s; first to last request, as the sites stamped them)")
    ok = ratio <= TARGET_RATIO and priced == urls and requests == urls + domains
    progress("PASS" if ok else "FAIL")
    return 0 if ok else 1
