"""An async client for one shop's GraphQL Admin API.

    async with AdminApiClient("x.myshopify.com", token) as client:
        data = await client.execute(QUERY, {"first": 50})
        async for page in client.paginate(QUERY, {"first": 50}, "products"):
            ...

The URL comes from `SHOPIFY_ADMIN_BASE_URL` (a template with `{shop}`) and the pinned API
version. The client keeps a local estimate of the shop's leaky bucket from each response's
`extensions.cost` and waits before sending a query that would not fit, rather than letting
Shopify refuse it; it remembers each query's requested cost for that.

Errors (every one has `retryable`; none ever contains the access token):

    ShopifyError                     base
    ├── ShopifyAuthError             401, or a 403 that names no scope: the token is invalid or
    │                                revoked. Not retryable; the shop must authorise again.
    ├── ShopifyMissingScopeError     ACCESS_DENIED, or a 403 naming a scope: the token is good but
    │                                lacks a scope. Not retryable; `required_scopes` names them.
    ├── ShopifyThrottledError        THROTTLED (HTTP 200) or HTTP 429 still failing after the
    │                                bounded attempts. Retryable; `retry_after` in seconds.
    ├── ShopifyUnavailableError      503, other 5xx, network errors, timeouts. Retryable.
    ├── ShopifyGraphQLError          errors while running the query. Not retryable; `codes`
    │   │                            lists Shopify's error codes.
    │   └── ShopifyInvalidQueryError the query was refused before it ran: syntax, validation,
    │                                MAX_COST_EXCEEDED. A bug on our side; never retryable.
    └── ShopifyRequestError          other 4xx (402 frozen shop, 404, 423 locked). Not retryable.

The token is sent only in the request header: no message, log line or repr carries it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from shared.retry_after import retry_after_seconds
from shared.settings import get_settings
from shared.telemetry import ExternalCall, external_call, register_secret_value

logger = logging.getLogger(__name__)

SHOP_DOMAIN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]*\.myshopify\.com$")
USER_AGENT = "RetailAIAdvisor/0.1 (+https://retail-ai-advisor.example)"


# --- errors ---------------------------------------------------------------------------------------


class ShopifyError(Exception):
    retryable: bool = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ShopifyAuthError(ShopifyError):
    retryable = False


class ShopifyMissingScopeError(ShopifyError):
    """The token works but lacks an access scope; the merchant must grant it (not the same as a bad token)."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None, required_scopes: Sequence[str] = ()) -> None:
        super().__init__(message, status=status)
        self.required_scopes = tuple(required_scopes)


class ShopifyThrottledError(ShopifyError):
    retryable = True

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class ShopifyUnavailableError(ShopifyError):
    retryable = True

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class ShopifyGraphQLError(ShopifyError):
    retryable = False

    def __init__(self, message: str, *, codes: Sequence[str | None] = (), errors: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(message, status=200)
        self.codes = [c for c in codes if c]
        self.errors = list(errors)


class ShopifyInvalidQueryError(ShopifyGraphQLError):
    """Shopify refused the query itself (syntax, validation, cost cap): retrying cannot help."""


class ShopifyRequestError(ShopifyError):
    retryable = False


# Codes Shopify gives a query it refuses before running it (validation and static cost checks).
INVALID_QUERY_CODES = frozenset({
    "GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED", "MAX_COST_EXCEEDED", "undefinedField", "undefinedType",
    "argumentNotAccepted", "argumentLiteralsIncompatible", "missingRequiredArguments", "variableMismatch",
    "variableNotUsed", "variableNotDefined", "selectionMismatch", "fieldNotDefined", "parseError",
})
_SCOPE_NAME = re.compile(r"\b(?:unauthenticated_)?(?:read|write)_[a-z_]+\b")


def scopes_named_in(text: str) -> tuple[str, ...]:
    """Access scope names mentioned in an error message ("Required access: `read_orders` access scope.")."""
    return tuple(dict.fromkeys(_SCOPE_NAME.findall(text)))


def is_invalid_query(errors: Sequence[Any], codes: Sequence[str | None], data: Any) -> bool:
    if any(code in INVALID_QUERY_CODES for code in codes):
        return True
    # Errors of a query that ran carry a `path`; a refused query has neither a path nor data.
    return data is None and not any(isinstance(e, dict) and e.get("path") for e in errors)


# --- what Shopify reports about cost --------------------------------------------------------------


class ThrottleStatus(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True)

    maximum_available: float = Field(alias="maximumAvailable")
    currently_available: float = Field(alias="currentlyAvailable")  # sometimes an int, sometimes a float
    restore_rate: float = Field(alias="restoreRate")


class QueryCost(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True)

    requested_query_cost: int | None = Field(None, alias="requestedQueryCost")
    actual_query_cost: int | None = Field(None, alias="actualQueryCost")
    throttle_status: ThrottleStatus | None = Field(None, alias="throttleStatus")


@dataclass
class ClientStats:
    requests: int = 0
    points_requested: int = 0
    points_spent: int = 0  # actual query cost, summed: what the shop's bucket really paid
    throttled_responses: int = 0  # THROTTLED answers and HTTP 429s
    budget_waits: int = 0  # waits before sending, because the local estimate said "does not fit"
    wait_seconds: float = 0.0  # all waiting: budget, throttling, Retry-After, backoff
    retries: int = 0
    pages: int = 0

    @property
    def throttle_waits(self) -> int:
        return self.budget_waits + self.throttled_responses

    def snapshot(self) -> ClientStats:
        return ClientStats(**self.__dict__)


@dataclass(frozen=True)
class Page:
    nodes: list[dict[str, Any]]
    has_next_page: bool
    end_cursor: str | None
    number: int  # 1-based
    cost: QueryCost | None = None


class CostBudget:
    """The client's estimate of the shop's bucket, from the last throttleStatus seen."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.maximum: float | None = None
        self.rate: float | None = None
        self._available: float | None = None
        self._at = 0.0

    def observe(self, status: ThrottleStatus) -> None:
        self.maximum, self.rate = status.maximum_available, status.restore_rate
        self._available, self._at = status.currently_available, self._clock()

    def available(self) -> float | None:
        if self._available is None or self.rate is None or self.maximum is None:
            return None
        return min(self.maximum, self._available + (self._clock() - self._at) * self.rate)

    def seconds_until(self, cost: float) -> float:
        available = self.available()
        # A hair's shortfall is float noise, not a reason to sleep for nothing.
        if available is None or not self.rate or cost <= available + 1e-6:
            return 0.0
        if self.maximum is not None and cost > self.maximum:
            return 0.0  # never fits: let Shopify answer (MAX_COST_EXCEEDED or THROTTLED)
        # One point of margin, so that the query does not arrive a float's width too early.
        return max(0.001, (cost + 1 - available) / self.rate)

    def reserve(self, cost: float) -> None:
        available = self.available()
        if available is not None:
            self._available, self._at = available - cost, self._clock()


# --- the client ---------------------------------------------------------------------------------


class AdminApiClient:
    def __init__(
        self,
        shop_domain: str,
        access_token: str,
        *,
        api_version: str | None = None,
        base_url_template: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        timeout_seconds: float = 30.0,
        max_attempts: int = 6,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 30.0,
        max_retry_after_seconds: float = 120.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not SHOP_DOMAIN.match(shop_domain or ""):
            raise ValueError("shop_domain must look like name.myshopify.com")
        if not access_token:
            raise ValueError("access_token is required")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        settings = get_settings()
        template = base_url_template or settings.shopify_admin_base_url
        if "{shop}" not in template:
            raise ValueError("the Admin API base URL template must contain {shop}")
        self.shop_domain = shop_domain
        self.api_version = api_version or settings.shopify_api_version
        self.url = f"{template.format(shop=shop_domain).rstrip('/')}/admin/api/{self.api_version}/graphql.json"
        self._token = access_token
        register_secret_value(access_token)  # telemetry masks it should it ever turn up in a span or log
        self._http = http_client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds)),
            headers={"User-Agent": USER_AGENT},
        )
        self._owns_http = http_client is None
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.max_retry_after_seconds = max_retry_after_seconds
        self._sleep = sleep
        self._clock = clock
        self.budget = CostBudget(clock)
        self.stats = ClientStats()
        self.last_cost: QueryCost | None = None
        self._known_costs: dict[tuple, int] = {}
        self._budget_lock = asyncio.Lock()
        self._jitter = random.Random()

    def __repr__(self) -> str:
        return f"AdminApiClient({self.shop_domain!r}, api_version={self.api_version!r})"

    async def __aenter__(self) -> AdminApiClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # --- one query ----------------------------------------------------------------------------

    async def execute(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        operation_name: str | None = None,
        estimated_cost: int | None = None,
    ) -> dict[str, Any]:
        """Run a query and return its `data`; waits for budget and retries what can be retried."""
        variables = dict(variables or {})
        cost_key = _cost_key(query, variables)
        payload: dict[str, Any] = {"query": query, "variables": variables}
        if operation_name:
            payload["operationName"] = operation_name
        last_error: ShopifyError | None = None
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1:
                self.stats.retries += 1
            # Known after the first answer (or a THROTTLED one): Shopify reports requestedQueryCost.
            expected = estimated_cost or self._known_costs.get(cost_key)
            if expected:
                await self._wait_for_budget(expected)
            try:
                # One span per request sent: retries and throttled answers are calls too.
                with external_call("shopify", "graphql", shop=self.shop_domain, api_version=self.api_version,
                                   graphql_operation=operation_name or "", attempt=attempt) as call:
                    return await self._attempt(payload, cost_key, call)
            except ShopifyError as error:
                if not error.retryable:
                    raise
                last_error = error
                delay = self._delay_for(error, attempt)
                if attempt == self.max_attempts or delay > self.max_retry_after_seconds:
                    break
                logger.info("%s: %s; retrying in %.2f s (attempt %d of %d)", self.shop_domain, error, delay, attempt,
                            self.max_attempts)
                self.stats.wait_seconds += delay
                await self._sleep(delay)
        assert last_error is not None
        last_error.args = (f"{last_error.args[0]} (gave up after {attempt} attempt{'s' if attempt > 1 else ''})",)
        raise last_error

    async def _wait_for_budget(self, cost: int) -> None:
        async with self._budget_lock:
            while (delay := self.budget.seconds_until(cost)) > 0:
                self.stats.budget_waits += 1
                self.stats.wait_seconds += delay
                await self._sleep(delay)
            self.budget.reserve(cost)

    def _delay_for(self, error: ShopifyError, attempt: int) -> float:
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return max(0.0, retry_after)
        base = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1))
        return base / 2 + self._jitter.uniform(0, base / 2)

    async def _attempt(self, payload: dict[str, Any], cost_key: tuple, call: ExternalCall) -> dict[str, Any]:
        """Send the query once. `call` is its span: the HTTP status, the query points and the outcome."""
        try:
            return await self._send(payload, cost_key, call)
        except ShopifyThrottledError:
            call.set_outcome("throttled")
            raise
        except ShopifyError as error:
            call.set_outcome("error" if not error.retryable else "unavailable")
            raise

    async def _send(self, payload: dict[str, Any], cost_key: tuple, call: ExternalCall) -> dict[str, Any]:
        self.stats.requests += 1
        try:
            response = await self._http.post(
                self.url,
                json=payload,
                headers={"X-Shopify-Access-Token": self._token, "Content-Type": "application/json",
                         "Accept": "application/json"},
            )
        except httpx.TimeoutException as exc:
            raise ShopifyUnavailableError(f"{self.shop_domain}: Admin API timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise ShopifyUnavailableError(f"{self.shop_domain}: Admin API unreachable ({type(exc).__name__})") from None
        status = response.status_code
        call.set_attribute("http.response.status_code", status)
        if status in (401, 403):
            message = self._server_message(response)
            scopes = scopes_named_in(message) if status == 403 else ()
            if scopes:
                raise ShopifyMissingScopeError(
                    f"{self.shop_domain}: the app lacks the access scope {', '.join(scopes)} (HTTP 403): {message}",
                    status=status, required_scopes=scopes,
                )
            raise ShopifyAuthError(
                f"{self.shop_domain}: Admin API refused the access token (HTTP {status}): {message}", status=status
            )
        if status == 429:
            self.stats.throttled_responses += 1
            raise ShopifyThrottledError(f"{self.shop_domain}: HTTP 429 Too Many Requests", status=status,
                                        retry_after=retry_after_seconds(response.headers))
        if status >= 500:
            raise ShopifyUnavailableError(f"{self.shop_domain}: Admin API answered HTTP {status}", status=status,
                                          retry_after=retry_after_seconds(response.headers) if status == 503 else None)
        if status != 200:
            raise ShopifyRequestError(
                f"{self.shop_domain}: Admin API answered HTTP {status}: {self._server_message(response)}", status=status
            )
        try:
            body = json.loads(response.content)
        except ValueError:
            raise ShopifyUnavailableError(f"{self.shop_domain}: Admin API sent a body that is not JSON", status=status) from None
        if not isinstance(body, dict):
            raise ShopifyUnavailableError(f"{self.shop_domain}: Admin API sent an unexpected body", status=status)
        cost = self._observe_cost(body, cost_key)
        if cost is not None:
            # What the bucket was charged: the actual cost once the query ran, else what it asked for
            # (a THROTTLED answer reports only the requested cost and charges nothing).
            charged = cost.actual_query_cost if cost.actual_query_cost is not None else (
                0 if _throttled(body) else cost.requested_query_cost)
            call.add_cost("query_points", charged)
            if cost.requested_query_cost is not None:
                call.set_attribute("shopify.requested_query_cost", cost.requested_query_cost)
        errors = body.get("errors")
        if errors:
            errors = errors if isinstance(errors, list) else [{"message": str(errors)}]
            codes = [(e.get("extensions") or {}).get("code") if isinstance(e, dict) else None for e in errors]
            if "THROTTLED" in codes:
                self.stats.throttled_responses += 1
                raise ShopifyThrottledError(f"{self.shop_domain}: query throttled", status=200,
                                            retry_after=self._throttle_wait(cost))
            messages = self._scrub("; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors))
            if "ACCESS_DENIED" in codes:
                required = " ".join(
                    str((e.get("extensions") or {}).get("requiredAccess", "")) for e in errors if isinstance(e, dict)
                )
                scopes = scopes_named_in(f"{required} {messages}")
                raise ShopifyMissingScopeError(
                    f"{self.shop_domain}: access denied, missing scope {', '.join(scopes) or '(not named)'}: {messages[:400]}",
                    status=200, required_scopes=scopes,
                )
            error_type = ShopifyInvalidQueryError if is_invalid_query(errors, codes, body.get("data")) else ShopifyGraphQLError
            raise error_type(f"{self.shop_domain}: {messages[:500]}", codes=codes, errors=errors)
        data = body.get("data")
        if not isinstance(data, dict):
            raise ShopifyUnavailableError(f"{self.shop_domain}: Admin API answered without data", status=status)
        return data

    def _observe_cost(self, body: dict[str, Any], cost_key: tuple) -> QueryCost | None:
        raw = (body.get("extensions") or {}).get("cost")
        if not isinstance(raw, dict):
            return None
        cost = QueryCost.model_validate(raw)
        self.last_cost = cost
        if cost.throttle_status is not None:
            self.budget.observe(cost.throttle_status)
        if cost.requested_query_cost:
            self._known_costs[cost_key] = cost.requested_query_cost
        if cost.actual_query_cost is not None:
            self.stats.points_requested += cost.requested_query_cost or 0
            self.stats.points_spent += cost.actual_query_cost
        return cost

    @staticmethod
    def _throttle_wait(cost: QueryCost | None) -> float | None:
        if cost is None or cost.throttle_status is None or not cost.requested_query_cost:
            return None
        status = cost.throttle_status
        missing = cost.requested_query_cost - status.currently_available
        # A whole point of margin: Shopify reports currentlyAvailable rounded down.
        return max(0.0, (missing + 1) / status.restore_rate) if status.restore_rate else None

    def _server_message(self, response: httpx.Response) -> str:
        try:
            body = json.loads(response.content)
            message = body.get("errors", body) if isinstance(body, dict) else body
        except ValueError:
            message = response.text
        return self._scrub(str(message))[:300]

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "[redacted]") if self._token else text

    # --- pages ----------------------------------------------------------------------------------

    async def paginate(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        path: str | Sequence[str] = ("products",),
        *,
        cursor_variable: str = "after",
        estimated_cost: int | None = None,
    ) -> AsyncIterator[Page]:
        """Yield each page of the Relay connection at `path` ("products" or "location.inventoryLevels").

        The query must declare `$<cursor_variable>: String` and select `pageInfo { hasNextPage endCursor }`
        and `nodes` (or `edges { node }`).
        """
        keys = path.split(".") if isinstance(path, str) else list(path)
        current = dict(variables or {})
        number = 0
        while True:
            data = await self.execute(query, current, estimated_cost=estimated_cost)
            connection: Any = data
            for key in keys:
                connection = connection.get(key) if isinstance(connection, dict) else None
            if not isinstance(connection, dict) or "pageInfo" not in connection:
                raise ShopifyGraphQLError(f"{self.shop_domain}: no connection with pageInfo at {'.'.join(keys)}")
            if "nodes" in connection:
                nodes = connection["nodes"]
            else:
                nodes = [edge["node"] for edge in connection.get("edges", [])]
            info = connection["pageInfo"]
            number += 1
            self.stats.pages += 1
            has_next = bool(info.get("hasNextPage"))
            end_cursor = info.get("endCursor")
            yield Page(nodes, has_next, end_cursor, number, self.last_cost)
            if not has_next:
                return
            if not end_cursor or end_cursor == current.get(cursor_variable):
                raise ShopifyGraphQLError(f"{self.shop_domain}: pagination at {'.'.join(keys)} did not advance")
            current[cursor_variable] = end_cursor


def _throttled(body: dict[str, Any]) -> bool:
    errors = body.get("errors")
    return isinstance(errors, list) and any(
        isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors)


def _cost_key(query: str, variables: Mapping[str, Any]) -> tuple:
    # A query's cost depends on its text and its page sizes (integers), not on cursors or filters.
    return (query, tuple(sorted((k, v) for k, v in variables.items() if isinstance(v, int) and not isinstance(v, bool))))


