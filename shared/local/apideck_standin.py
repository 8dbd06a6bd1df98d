"""A loopback stand-in for Apideck's Unify Accounting API, speaking its wire format.

    with ApideckStandIn(api_key="key", app_id="app") as apideck:
        apideck.add_consumer("shop-1", "quickbooks", items)
        settings.apideck_base_url = apideck.base_url

`GET /accounting/invoice-items?limit=..&cursor=..` answers Apideck's envelope:
`{status_code, status, service, resource: "invoice-items", operation: "all", data: [...],
meta: {items_on_page, cursors: {previous, current, next}}, links: {previous, current, next}}`,
with `next` null on the last page. Headers are checked as Apideck does: `Authorization: Bearer`,
`x-apideck-app-id`, `x-apideck-consumer-id`, and `x-apideck-service-id` choosing among the
consumer's connections. Error bodies are Apideck's: `{status_code, error, type_name, message,
detail, ref}`.

What tests can make it do:
- a wrong key or app id: 401 `UnauthorizedError` ("Missing authentication" style);
- `consumer.state = "token_expired"`: 401 `UnauthorizedError` whose detail is the connector's
  `refresh_token_connector_error` (the merchant must reconnect); `"invalid_state"`: 422
  `InvalidStateError`; an unknown consumer or service: 404 `EntityNotFoundError`;
- `request_limit_reached`: 402 `RequestLimitError` (the app's plan is used up);
- `throttle_next(n, retry_after)`: the next n requests get 429 `ConnectorRateLimitError` with
  `Retry-After`, as a burst from the downstream system;
- `downstream_limit` per `downstream_window_seconds`: every answer carries
  `x-downstream-ratelimit-limit/-remaining/-reset` (reset in seconds), and a request over the
  limit inside the window gets 429. The clock is injectable so tests move it with the sleeper.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from shared.local.background_server import LoopbackStandIn

ERRORS_DOC = "https://developers.apideck.com/errors"
MAX_LIMIT = 200
DEFAULT_LIMIT = 20


@dataclass
class StandInConsumer:
    consumer_id: str
    service_id: str
    items: list[dict[str, Any]]
    state: str = "connected"  # connected | token_expired | invalid_state


@dataclass
class RecordedRequest:
    path: str
    query: dict[str, str]
    consumer_id: str | None
    service_id: str | None
    status: int
    at: float


@dataclass
class _Window:
    started: float = 0.0
    used: int = 0


@dataclass
class ApideckStandIn(LoopbackStandIn):

    thread_name = "apideck-stand-in"
    api_key: str = "apideck-standin-key-0001"
    app_id: str = "retail-ai-advisor-app"
    clock: Callable[[], float] = time.monotonic
    downstream_limit: int | None = None
    downstream_window_seconds: float = 60.0
    request_limit_reached: bool = False
    consumers: dict[tuple[str, str], StandInConsumer] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._throttle: list[float] = []  # Retry-After of each refused request to come
        self._windows: dict[tuple[str, str], _Window] = {}

    # --- set-up ------------------------------------------------------------------------------

    def add_consumer(self, consumer_id: str, service_id: str, items: Sequence[dict[str, Any]]) -> StandInConsumer:
        consumer = StandInConsumer(consumer_id, service_id, [dict(i) for i in items])
        self.consumers[(consumer_id, service_id)] = consumer
        return consumer

    def throttle_next(self, count: int, retry_after: float = 1.0) -> None:
        with self._lock:
            self._throttle.extend([retry_after] * count)

    # --- answers ---------------------------------------------------------------------------

    def answer(self, path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[int, dict[str, str], dict]:
        consumer_id, service_id = headers.get("x-apideck-consumer-id"), headers.get("x-apideck-service-id")
        status, extra, body = self._answer(path, query, headers, consumer_id, service_id)
        with self._lock:
            self.requests.append(RecordedRequest(path, query, consumer_id, service_id, status, self.clock()))
        return status, extra, body

    def _answer(self, path, query, headers, consumer_id, service_id) -> tuple[int, dict[str, str], dict]:
        if path != "/accounting/invoice-items":
            return _error(404, "Not Found", "NotFoundError", "Unknown resource", f"No route for {path}")
        if headers.get("authorization") != f"Bearer {self.api_key}" or headers.get("x-apideck-app-id") != self.app_id:
            return _error(401, "Unauthorized", "UnauthorizedError", "Unauthorized Request", "Missing authentication")
        if self.request_limit_reached:
            return _error(402, "Payment Required", "RequestLimitError", "Request Limit Reached",
                          "You have reached your limit of 2000")
        if not consumer_id:
            return _error(400, "Bad Request", "RequestValidationError", "Invalid Params",
                          "Missing required header x-apideck-consumer-id")
        candidates = [c for (cid, _), c in self.consumers.items() if cid == consumer_id]
        if service_id:
            candidates = [c for c in candidates if c.service_id == service_id]
        if not candidates:
            return _error(404, "Not Found", "EntityNotFoundError", "Unknown Connection",
                          f"No accounting connection for consumer {consumer_id}"
                          + (f" and service {service_id}" if service_id else ""))
        if len(candidates) > 1:
            return _error(400, "Bad Request", "RequestValidationError", "Service ID required",
                          "The consumer has several accounting connections: send x-apideck-service-id")
        consumer = candidates[0]
        if consumer.state == "token_expired":
            return _error(401, "Unauthorized", "UnauthorizedError", "Unauthorized Request", {
                "type": "refresh_token_connector_error",
                "message": "Token refresh failed with 401 error",
                "debug": {"response": {"statusCode": 401, "data": {"error": "invalid_grant"}}},
            })
        if consumer.state == "invalid_state":
            return _error(422, "Unprocessable Entity", "InvalidStateError", "Invalid State",
                          f"Connection {consumer.service_id} of consumer {consumer.consumer_id} is not callable: "
                          "it needs to be authorized")
        try:
            limit = int(query.get("limit", DEFAULT_LIMIT))
            offset = _decode_cursor(query["cursor"]) if query.get("cursor") else 0
        except ValueError as exc:
            return _error(400, "Bad Request", "RequestValidationError", "Invalid Params", str(exc))
        if not 1 <= limit <= MAX_LIMIT:
            return _error(400, "Bad Request", "RequestValidationError", "Invalid Params",
                          f"limit must be between 1 and {MAX_LIMIT}")
        with self._lock:
            if self._throttle:
                retry_after = self._throttle.pop(0)
                return self._throttled(retry_after, consumer)
            limits = self._take_from_window(consumer)
        if limits is None:
            window = self._windows[(consumer.consumer_id, consumer.service_id)]
            return self._throttled(window.started + self.downstream_window_seconds - self.clock(), consumer)
        page = consumer.items[offset:offset + limit]
        following = offset + limit if offset + limit < len(consumer.items) else None
        current_query = {"limit": limit, **({"cursor": query["cursor"]} if query.get("cursor") else {})}
        body = {
            "status_code": 200,
            "status": "OK",
            "service": consumer.service_id,
            "resource": "invoice-items",
            "operation": "all",
            "data": page,
            "meta": {
                "items_on_page": len(page),
                "cursors": {
                    "previous": _encode_cursor(max(0, offset - limit), consumer.service_id) if offset else None,
                    "current": query.get("cursor") or None,
                    "next": _encode_cursor(following, consumer.service_id) if following is not None else None,
                },
            },
            "links": {
                "previous": _link({"limit": limit, "cursor": _encode_cursor(max(0, offset - limit), consumer.service_id)})
                if offset else None,
                "current": _link(current_query),
                "next": _link({"limit": limit, "cursor": _encode_cursor(following, consumer.service_id)})
                if following is not None else None,
            },
        }
        return 200, limits, body

    def _take_from_window(self, consumer: StandInConsumer) -> dict[str, str] | None:
        """Rate-limit headers for this request, or None when the downstream window is used up."""
        if self.downstream_limit is None:
            return {}
        key = (consumer.consumer_id, consumer.service_id)
        now = self.clock()
        window = self._windows.setdefault(key, _Window(started=now))
        if now - window.started >= self.downstream_window_seconds:
            window.started, window.used = now, 0
        if window.used >= self.downstream_limit:
            return None
        window.used += 1
        return self._limit_headers(window, now)

    def _limit_headers(self, window: _Window, now: float) -> dict[str, str]:
        reset = max(0.0, window.started + self.downstream_window_seconds - now)
        return {
            "x-downstream-ratelimit-limit": str(self.downstream_limit),
            "x-downstream-ratelimit-remaining": str(max(0, (self.downstream_limit or 0) - window.used)),
            "x-downstream-ratelimit-reset": str(math.ceil(reset)),
        }

    def _throttled(self, retry_after: float, consumer: StandInConsumer) -> tuple[int, dict[str, str], dict]:
        status, _, body = _error(429, "Too Many Requests", "ConnectorRateLimitError", "Connector Rate Limit Error", {
            "context": f"{consumer.service_id} rate limit reached",
            "error": {"message": "Too many requests to the downstream API"},
        })
        headers = {"Retry-After": str(max(0, math.ceil(retry_after)))}
        if self.downstream_limit is not None:
            headers.update({"x-downstream-ratelimit-limit": str(self.downstream_limit),
                            "x-downstream-ratelimit-remaining": "0",
                            "x-downstream-ratelimit-reset": str(max(0, math.ceil(retry_after)))})
        return status, headers, body


def _error(status: int, error: str, type_name: str, message: str, detail: Any) -> tuple[int, dict[str, str], dict]:
    return status, {}, {"status_code": status, "error": error, "type_name": type_name, "message": message,
                        "detail": detail, "ref": f"{ERRORS_DOC}#{type_name.lower()}"}


def _encode_cursor(offset: int, service_id: str) -> str:
    return base64.b64encode(f"{service_id}::page::{offset}".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
        return int(text.rsplit("::", 1)[1])
    except (ValueError, IndexError, UnicodeDecodeError):
        raise ValueError(f"invalid cursor {cursor[:40]!r}") from None


def _link(query: dict[str, Any]) -> str:
    return "https://unify.apideck.com/accounting/invoice-items?" + urlencode(query)


class _Handler(BaseHTTPRequestHandler):
    standin: ApideckStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, extra, body = self.standin.answer(parts.path, query, headers)
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def items_from_store(store: Any, *, with_currency: bool = False) -> list[dict[str, Any]]:
    """A sample store's unit costs as the items of its books (code = SKU, name = display name).

    QuickBooks items carry no currency (the books' home currency applies); `with_currency`
    names it on every item as some connectors do.
    """
    items = []
    for product in store.products:
        for number, variant in enumerate(product.variants, start=1):
            if variant.unit_cost is None:
                continue
            name = product.title if variant.title == "Default Title" else f"{product.title} - {variant.title}"
            item: dict[str, Any] = {
                "id": f"{product.id.rsplit('/', 1)[-1]}-{number}",
                "name": name,
                "code": variant.sku,
                "type": "inventory",
                "active": True,
                "tracked": True,
                "sales_details": {"unit_price": float(variant.price), "unit_of_measure": "pc", "tax_inclusive": True},
                "purchase_details": {"unit_price": float(variant.unit_cost), "unit_of_measure": "pc",
                                     "tax_inclusive": False},
                "currency": store.currency if with_currency else None,
                "updated_at": variant.updated_at.isoformat(),
            }
            items.append(item)
    return items


ApideckStandIn.handler_class = _Handler  # the handler is defined below the stand-in it serves
