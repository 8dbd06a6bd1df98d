"""A loopback stand-in for the ZenRows Universal Scraper API that speaks its wire format.

    with ZenRowsStandIn(api_key="zr-test", pages={"https://shop.example/p/1": "<html>..."}) as zenrows:
        settings.zenrows_base_url = zenrows.base_url      # http://127.0.0.1:PORT/v1/

`GET /v1/?apikey=KEY&url=TARGET[&mode=auto | &js_render=true&premium_proxy=true]`:
- 200 with the target's HTML, and `X-Request-Cost` (USD: 0.001 a basic request, 5x with
  js_render, 10x with premium_proxy, 25x with both; mode=auto bills the basic setup that
  worked), `X-Request-Id`, `Zr-Final-Url`;
- every answer carries `Concurrency-Limit` and `Concurrency-Remaining`;
- errors are a problem+json body `{"code", "detail", "instance", "status", "title", "type"}`:
  401 AUTH001/AUTH002 (no or wrong key), 400 REQS004 (bad parameters, e.g. mode=auto with
  js_render), 429 AUTH006 when more requests than the plan's concurrency are in flight, and
  whatever a test scripts for a URL (422 RESP001, 404 RESP002, 400 REQS001, RESP007, 5xx...).

Targets are served from `pages`, from a scripted list of outcomes per URL (`script`, consumed
one per request), or, with `fetch_targets=True`, fetched from the target itself as ZenRows
would (the demo's competitor sites on loopback). Every request is recorded without the key.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from shared.local.background_server import LoopbackStandIn

BASE_COST = Decimal("0.001")
ERRORS = {
    # code: (HTTP status, title)
    "AUTH001": (401, "API key missing"),
    "AUTH002": (401, "Invalid API key"),
    "AUTH004": (402, "Usage exceeded"),
    "AUTH006": (429, "Concurrency limit reached"),
    "AUTH008": (429, "Rate limit exceeded"),
    "REQS001": (400, "Requested domain is not allowed"),
    "REQS004": (400, "Invalid parameters"),
    "RESP001": (422, "Could not get content"),
    "RESP002": (404, "Page not found"),
    "RESP007": (424, "Site not found"),
}


@dataclass(frozen=True)
class Outcome:
    """One scripted answer for a URL: a page, a ZenRows error code, or a bare 5xx."""

    html: str | None = None
    code: str | None = None
    status: int | None = None  # for 5xx without a ZenRows code
    needs: str | None = None  # "js" or "premium": RESP001 unless the request has that much

    @staticmethod
    def page(html: str) -> Outcome:
        return Outcome(html=html)

    @staticmethod
    def error(code: str) -> Outcome:
        return Outcome(code=code)

    @staticmethod
    def server_error(status: int = 503) -> Outcome:
        return Outcome(status=status)


@dataclass
class RecordedRequest:
    url: str
    params: dict[str, str]  # without the apikey
    key_ok: bool
    status: int
    code: str | None
    cost: Decimal
    started: float


@dataclass
class ZenRowsStandIn(LoopbackStandIn):

    thread_name = "zenrows-stand-in"
    api_key: str = "zr-standin-key"
    concurrency_limit: int = 5
    pages: dict[str, str] = field(default_factory=dict)
    script: dict[str, list[Outcome]] = field(default_factory=dict)
    fetch_targets: bool = False
    latency_seconds: float = 0.0
    reserved_slots: int = 0  # slots held by other clients of the same key
    requests: list[RecordedRequest] = field(default_factory=list)
    most_in_flight: int = 0
    _in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def base_url(self) -> str:
        return LoopbackStandIn.base_url.fget(self) + "/v1/"  # the API's own path prefix

    def requests_for(self, url: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.url == url]

    def total_cost(self) -> Decimal:
        with self._lock:
            return sum((r.cost for r in self.requests), Decimal(0))

    # --- what the handler asks ---

    def _enter(self) -> bool:
        """Take a concurrency slot; False when the plan's limit is reached."""
        with self._lock:
            if self._in_flight + self.reserved_slots >= self.concurrency_limit:
                return False
            self._in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self._in_flight)
            return True

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _remaining(self) -> int:
        with self._lock:
            return max(self.concurrency_limit - self.reserved_slots - self._in_flight, 0)

    def _next_outcome(self, url: str) -> Outcome | None:
        with self._lock:
            queue = self.script.get(url)
            if queue:
                return queue.pop(0) if len(queue) > 1 else queue[0]  # the last outcome repeats
        if url in self.pages:
            return Outcome.page(self.pages[url])
        return None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)


def request_cost(params: dict[str, str]) -> Decimal:
    js = params.get("js_render") == "true"
    premium = params.get("premium_proxy") == "true"
    multiplier = 25 if js and premium else 10 if premium else 5 if js else 1
    return BASE_COST * multiplier


class _Handler(BaseHTTPRequestHandler):
    standin: ZenRowsStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # the query holds the key: never log it
        pass

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        started = time.monotonic()
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        key = query.pop("apikey", None)
        target = query.get("url", "")
        record = RecordedRequest(url=target, params=dict(query), key_ok=key == self.standin.api_key,
                                 status=0, code=None, cost=Decimal(0), started=started)
        if parts.path.rstrip("/") != "/v1":
            return self._finish(record, *self._error("REQS004", "unknown endpoint"))
        if not key:
            return self._finish(record, *self._error("AUTH001", "No API key was sent"))
        if key != self.standin.api_key:
            return self._finish(record, *self._error("AUTH002", "The API key is not valid"))
        if not target.startswith(("http://", "https://")):
            return self._finish(record, *self._error("REQS004", "url must be an absolute http(s) URL"))
        if query.get("mode") == "auto" and ("js_render" in query or "premium_proxy" in query):
            return self._finish(record, *self._error(
                "REQS004", "mode=auto cannot be combined with js_render or premium_proxy"))
        if not self.standin._enter():
            return self._finish(record, *self._error("AUTH006", "Concurrency limit reached for your plan"))
        try:
            if self.standin.latency_seconds:
                time.sleep(self.standin.latency_seconds)
            answer = self._answer(target, query)
        finally:
            self.standin._leave()
        self._finish(record, *answer)

    def _answer(self, target: str, query: dict[str, str]) -> tuple[int, str | None, bytes, dict[str, str]]:
        outcome = self.standin._next_outcome(target)
        if outcome is None and self.standin.fetch_targets:
            outcome = _fetch(target)
        if outcome is None:
            return self._error("RESP002", "The target answered 404")
        if outcome.status is not None:
            return outcome.status, None, b"<html><body>upstream error</body></html>", {"Content-Type": "text/html"}
        if outcome.needs and not _has(query, outcome.needs):
            return self._error("RESP001", "Could not get content; try js_render and premium_proxy")
        if outcome.code is not None:
            return self._error(outcome.code, f"{ERRORS.get(outcome.code, (0, outcome.code))[1]}")
        headers = {"Content-Type": "text/html; charset=utf-8", "X-Request-Cost": str(request_cost(query)),
                   "Zr-Final-Url": target}
        return 200, None, (outcome.html or "").encode("utf-8"), headers

    def _error(self, code: str, detail: str) -> tuple[int, str, bytes, dict[str, str]]:
        status, title = ERRORS.get(code, (400, code))
        body = {"code": code, "detail": detail, "instance": "/v1/", "status": status, "title": title,
                "type": f"https://docs.zenrows.com/api-error-codes#{code}"}
        return status, code, json.dumps(body).encode(), {"Content-Type": "application/problem+json"}

    def _finish(self, record: RecordedRequest, status: int, code: str | None, body: bytes,
                headers: dict[str, str]) -> None:
        record.status, record.code = status, code
        record.cost = Decimal(headers.get("X-Request-Cost", "0"))
        self.standin._record(record)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Concurrency-Limit", str(self.standin.concurrency_limit))
        self.send_header("Concurrency-Remaining", str(self.standin._remaining()))
        self.send_header("X-Request-Id", uuid.uuid4().hex)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _has(query: dict[str, str], needs: str) -> bool:
    """Whether the request asked for what the target needs ("js" or "premium")."""
    return query.get("premium_proxy" if needs == "premium" else "js_render") == "true"


def _fetch(target: str) -> Outcome:
    """Fetch the target as ZenRows would (loopback demo sites)."""
    try:
        with urllib.request.urlopen(target, timeout=10) as response:  # noqa: S310 - a test stand-in
            return Outcome.page(response.read().decode("utf-8", errors="replace"))
    except urllib.error.HTTPError as exc:
        return Outcome.error("RESP002") if exc.code == 404 else Outcome.server_error(502)
    except (urllib.error.URLError, OSError):
        return Outcome.error("RESP007")


ZenRowsStandIn.handler_class = _Handler  # the handler is defined below the stand-in it serves
