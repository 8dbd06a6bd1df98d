"""A small client for Apideck's Unify Accounting API: the items of a merchant's books, page by page.

    client = ApideckClient(api_key, app_id, consumer_id="shop-1", service_id="quickbooks")
    for item in client.invoice_items():
        ...

Every request carries `Authorization: Bearer <key>`, `x-apideck-app-id`, `x-apideck-consumer-id`
and `x-apideck-service-id`. `GET /accounting/invoice-items` is read with `limit` up to 200 and
followed by `meta.cursors.next` until it is null.

Pacing: Apideck passes the downstream system's limits on as `x-downstream-ratelimit-limit`,
`-remaining` and `-reset`. When `remaining` reaches 0 the next page waits for the reset. A 429
(`ConnectorRateLimitError`) waits `Retry-After` (or the reset, or an exponential backoff) and
tries again, a bounded number of times. The sleeper is injectable so tests do not wait.

Errors (each has `retryable`; none carries the API key):

    ApideckError                    base
    ├── ApideckReconnectNeeded      the merchant's connection is gone or unauthorised (401 from the
    │                               connector, 404 unknown connection, 422 invalid state): only the
    │                               merchant can fix it, by reconnecting. Not retryable.
    ├── ApideckAuthError            the app's own key or app id is refused. Not retryable.
    ├── ApideckRequestLimitError    402: the app's Apideck plan is used up. Not retryable today.
    ├── ApideckRateLimitedError     429 still after the bounded attempts. Retryable.
    ├── ApideckUnavailableError     5xx, timeouts, network errors, a body that is not the envelope. Retryable.
    └── ApideckRequestError         any other 4xx: a bug on our side. Not retryable.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.retry_after import retry_after_seconds
from shared.telemetry import external_call

log = logging.getLogger(__name__)

ServiceId = Literal["quickbooks", "xero"]
SERVICE_NAMES = {"quickbooks": "QuickBooks", "xero": "Xero"}
MAX_PAGE_SIZE = 200
RECONNECT_MESSAGE = "reconnect your accounting system"
_EPOCH_SECONDS = 1_000_000_000  # a reset above this is a moment, not a number of seconds
_EPOCH_MILLISECONDS = 1_000_000_000_000


# --- errors ----------------------------------------------------------------------------------------


class ApideckError(RuntimeError):
    retryable: bool = True

    def __init__(self, message: str, *, status: int | None = None, type_name: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.type_name = type_name


class ApideckReconnectNeeded(ApideckError):
    retryable = False


class ApideckAuthError(ApideckError):
    retryable = False


class ApideckRequestLimitError(ApideckError):
    retryable = False


class ApideckRateLimitedError(ApideckError):
    retryable = True


class ApideckUnavailableError(ApideckError):
    retryable = True


class ApideckRequestError(ApideckError):
    retryable = False


# --- the wire format ---------------------------------------------------------------------------------


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PriceDetails(_Lenient):
    unit_price: Decimal | None = None
    unit_of_measure: str | None = None
    tax_inclusive: bool | None = None


class InvoiceItem(_Lenient):
    """The fields of Apideck's `InvoiceItem` that costing reads."""

    id: str
    name: str | None = None
    code: str | None = None
    type: str | None = None
    active: bool | None = None
    currency: str | None = None
    purchase_details: PriceDetails | None = None
    sales_details: PriceDetails | None = None
    updated_at: str | None = None

    @property
    def unit_cost(self) -> Decimal | None:
        return self.purchase_details.unit_price if self.purchase_details else None


class _Cursors(_Lenient):
    previous: str | None = None
    current: str | None = None
    next: str | None = None


class _Meta(_Lenient):
    items_on_page: int | None = None
    cursors: _Cursors = Field(default_factory=_Cursors)


class InvoiceItemsPage(_Lenient):
    status_code: int
    status: str
    service: str
    resource: str
    operation: str
    data: list[InvoiceItem]
    meta: _Meta = Field(default_factory=_Meta)


class RateLimit(BaseModel):
    """The downstream connector's limit as Apideck reports it; reset is seconds from when it was seen."""

    limit: int | None = None
    remaining: int | None = None
    reset_seconds: float | None = None


def parse_rate_limit(headers: httpx.Headers, now: float | None = None) -> RateLimit:
    def number(name: str) -> float | None:
        try:
            return float(headers[name])
        except (KeyError, ValueError):
            return None

    limit, remaining, reset = (number(f"x-downstream-ratelimit-{n}") for n in ("limit", "remaining", "reset"))
    if reset is not None:
        # Connectors differ: some give seconds to wait, some a Unix time (seconds or milliseconds).
        wall = time.time() if now is None else now
        if reset >= _EPOCH_MILLISECONDS:
            reset = reset / 1000 - wall
        elif reset >= _EPOCH_SECONDS:
            reset = reset - wall
        reset = max(0.0, reset)
    return RateLimit(limit=int(limit) if limit is not None else None,
                     remaining=int(remaining) if remaining is not None else None, reset_seconds=reset)




# --- the client ----------------------------------------------------------------------------------------


class ApideckClient:
    def __init__(
        self,
        api_key: str,
        app_id: str,
        *,
        consumer_id: str,
        service_id: ServiceId,
        base_url: str = "https://unify.apideck.com",
        page_size: int = MAX_PAGE_SIZE,
        max_attempts: int = 5,
        backoff_seconds: float = 1.0,
        max_wait_seconds: float = 120.0,
        timeout_seconds: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        http_client: httpx.Client | None = None,
    ) -> None:
        if not api_key or not app_id:
            raise ValueError("an Apideck API key and app id are required")
        if not consumer_id:
            raise ValueError("consumer_id is required")
        if service_id not in SERVICE_NAMES:
            raise ValueError(f"service_id must be one of {', '.join(SERVICE_NAMES)}, not {service_id!r}")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}")
        self.consumer_id = consumer_id
        self.service_id = service_id
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.max_attempts = max(1, max_attempts)
        self.backoff_seconds = backoff_seconds
        self.max_wait_seconds = max_wait_seconds
        self._key = api_key
        self._sleep = sleep
        self._http = http_client or httpx.Client(timeout=httpx.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds)))
        self._owns_http = http_client is None
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "x-apideck-app-id": app_id,
            "x-apideck-consumer-id": consumer_id,
            "x-apideck-service-id": service_id,
            "Accept": "application/json",
        }
        self._jitter = random.Random()
        self.rate_limit = RateLimit()
        self.requests = 0
        self.throttled = 0
        self.waited_seconds = 0.0

    def __repr__(self) -> str:
        return f"ApideckClient(consumer_id={self.consumer_id!r}, service_id={self.service_id!r})"

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> ApideckClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def service_name(self) -> str:
        return SERVICE_NAMES[self.service_id]

    def invoice_items(self) -> Iterator[InvoiceItem]:
        """Every item of the books, following `meta.cursors.next` until it is null."""
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = self.invoice_items_page(cursor)
            yield from page.data
            following = page.meta.cursors.next
            if not following:
                return
            if following in seen:
                raise ApideckUnavailableError("Apideck repeated a cursor: pagination did not advance")
            seen.add(following)
            cursor = following

    def invoice_items_page(self, cursor: str | None = None) -> InvoiceItemsPage:
        params: dict[str, str | int] = {"limit": self.page_size}
        if cursor:
            params["cursor"] = cursor
        body = self._get("/accounting/invoice-items", params, operation="list_invoice_items")
        try:
            return InvoiceItemsPage.model_validate(body)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"])
            raise ApideckUnavailableError(f"Apideck sent an invoice-items page that does not fit: {where}: {problem['msg']}") from None

    # --- one request, with pacing and retries ------------------------------------------------------

    def _get(self, path: str, params: dict[str, str | int], *, operation: str) -> dict[str, Any]:
        last: ApideckError | None = None
        for attempt in range(1, self.max_attempts + 1):
            self._wait_for_downstream()
            try:
                return self._attempt(path, params, operation)
            except ApideckError as error:
                if not error.retryable:
                    raise
                last = error
                delay = self._delay_for(error, attempt)
                if attempt == self.max_attempts or delay > self.max_wait_seconds:
                    break
                log.info("Apideck %s: %s; retrying in %.1f s (attempt %d of %d)", operation, error, delay, attempt,
                         self.max_attempts)
                self._pause(delay)
                self.rate_limit = RateLimit(limit=self.rate_limit.limit)  # the wait above covered the window
        assert last is not None
        raise type(last)(f"{last} (gave up after {attempt} attempts)", status=last.status, type_name=last.type_name)

    def _wait_for_downstream(self) -> None:
        # The connector said there is nothing left in this window: wait for it to reset instead of earning a 429.
        if self.rate_limit.remaining == 0 and self.rate_limit.reset_seconds:
            self._pause(min(self.rate_limit.reset_seconds, self.max_wait_seconds))
            self.rate_limit = RateLimit(limit=self.rate_limit.limit)

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self.waited_seconds += seconds
            self._sleep(seconds)

    def _delay_for(self, error: ApideckError, attempt: int) -> float:
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return retry_after
        base = self.backoff_seconds * 2 ** (attempt - 1)
        return base / 2 + self._jitter.uniform(0, base / 2)

    def _attempt(self, path: str, params: dict[str, str | int], operation: str) -> dict[str, Any]:
        with external_call("apideck", operation, service_id=self.service_id) as call:
            self.requests += 1
            call.add_cost("requests", 1)
            try:
                response = self._http.get(self.base_url + path, params=params, headers=self._headers)
            except httpx.TimeoutException as exc:
                call.set_outcome("timeout")
                raise ApideckUnavailableError(f"Apideck timed out ({type(exc).__name__})") from None
            except httpx.TransportError as exc:
                call.set_outcome("unreachable")
                raise ApideckUnavailableError(f"Apideck unreachable ({type(exc).__name__})") from None
            self.rate_limit = parse_rate_limit(response.headers)
            call.set_attribute("http.status_code", response.status_code)
            if response.status_code == 200:
                try:
                    body = json.loads(response.content)
                except ValueError:
                    call.set_outcome("error")
                    raise ApideckUnavailableError("Apideck sent a body that is not JSON", status=200) from None
                if not isinstance(body, dict):
                    call.set_outcome("error")
                    raise ApideckUnavailableError("Apideck sent an unexpected body", status=200)
                return body
            error = self._error_for(response)
            call.set_outcome("throttled" if isinstance(error, ApideckRateLimitedError)
                             else "reconnect_needed" if isinstance(error, ApideckReconnectNeeded) else "error")
            raise error

    def _error_for(self, response: httpx.Response) -> ApideckError:
        status = response.status_code
        try:
            body = json.loads(response.content)
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        type_name = str(body.get("type_name") or "")
        message = self._scrub(str(body.get("message") or body.get("error") or f"HTTP {status}"))
        detail = body.get("detail")
        detail_text = self._scrub(json.dumps(detail) if isinstance(detail, (dict, list)) else str(detail or ""))[:300]
        said = f"{type_name or 'HTTP ' + str(status)}: {message}" + (f" ({detail_text})" if detail_text else "")
        where = f"{self.service_name} connection of consumer {self.consumer_id}"
        if status == 429:
            self.throttled += 1
            error = ApideckRateLimitedError(f"Apideck rate limited the {where}: {said}", status=status, type_name=type_name)
            retry_after = retry_after_seconds(response.headers)
            error.retry_after = retry_after if retry_after is not None else self.rate_limit.reset_seconds  # type: ignore[attr-defined]
            return error
        if status >= 500:
            return ApideckUnavailableError(f"Apideck answered HTTP {status}: {said}", status=status, type_name=type_name)
        if status == 402:
            return ApideckRequestLimitError(f"Apideck request limit reached for this app: {said}", status=status,
                                            type_name=type_name)
        if self._is_connection_problem(status, type_name, message, detail):
            return ApideckReconnectNeeded(f"{RECONNECT_MESSAGE} ({self.service_name}): {said}", status=status,
                                          type_name=type_name)
        if status in (401, 403):
            return ApideckAuthError(f"Apideck refused the app's credentials: {said}", status=status, type_name=type_name)
        return ApideckRequestError(f"Apideck refused the request (HTTP {status}): {said}", status=status, type_name=type_name)

    @staticmethod
    def _is_connection_problem(status: int, type_name: str, message: str, detail: Any) -> bool:
        """The merchant's connection, not the app: a connector's token failed, or there is no usable connection."""
        text = f"{type_name} {message} {json.dumps(detail) if isinstance(detail, (dict, list)) else detail or ''}".lower()
        if status == 401:
            # The app's own bad key says "missing/invalid API key"; a connector's failure names the connector or connection.
            return isinstance(detail, dict) or any(w in text for w in ("connector", "connection", "token refresh", "consumer"))
        if status == 404:
            return "connection" in text or "consumer" in text
        if status == 422:
            return type_name in ("InvalidStateError", "ConnectionSettingsError") or "connection" in text
        return False

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "[redacted]") if self._key else text
