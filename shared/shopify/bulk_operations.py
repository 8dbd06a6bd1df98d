"""Bulk query operations, from the app's side: start one, read its status, download its result.

    operation = await start_bulk_query(client, QUERY)        # idempotent: adopts our own running copy
    operation = await bulk_operation(client, operation.id)   # node(id:) { ... on BulkOperation }
    lines = await download_result(operation, client, path)  # streamed to a file, never held in memory

Waiting is not done here: the orchestrator polls `bulk_operation` between durable timers.

Errors (all `ShopifyError`s, each with `retryable`):

    BulkOperationInProgressError  another bulk query of this app and shop is running. Retryable.
    BulkOperationFailedError      the operation ended FAILED (INTERNAL_SERVER_ERROR, TIMEOUT:
                                  retryable with a new operation), CANCELED or EXPIRED (retryable).
                                  ACCESS_DENIED is raised as ShopifyMissingScopeError instead.
    BulkResultIncompleteError     the file has fewer lines than `objectCount`, or a broken line,
                                  or a child without its parent. Retryable (read it again).
    ShopifyInvalidQueryError      userErrors INVALID: the query breaks a bulk restriction.

The result URL is a signed, time-limited link to the shop's data: it is fetched without the
access token, never logged (a filter redacts its query string from httpx's request log), and
never returned to an orchestrator.
"""

from __future__ import annotations

import logging
import re
from enum import Enum
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.shopify.admin_api import (
    USER_AGENT,
    AdminApiClient,
    ShopifyError,
    ShopifyInvalidQueryError,
    ShopifyMissingScopeError,
    ShopifyUnavailableError,
)
from shared.telemetry import external_call

logger = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_SECONDS = 120.0


class BulkOperationStatus(str, Enum):
    CREATED = "CREATED"
    RUNNING = "RUNNING"
    CANCELING = "CANCELING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"

    @property
    def finished(self) -> bool:
        return self in (BulkOperationStatus.COMPLETED, BulkOperationStatus.FAILED, BulkOperationStatus.CANCELED,
                        BulkOperationStatus.EXPIRED)


class BulkOperation(BaseModel):
    """What Shopify reports about one bulk operation (UnsignedInt64 counts arrive as strings)."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    id: str
    status: BulkOperationStatus
    error_code: str | None = Field(None, alias="errorCode")
    query: str | None = None
    created_at: AwareDatetime | None = Field(None, alias="createdAt")
    completed_at: AwareDatetime | None = Field(None, alias="completedAt")
    object_count: int = Field(0, alias="objectCount")
    root_object_count: int = Field(0, alias="rootObjectCount")
    file_size: int | None = Field(None, alias="fileSize")
    # Signed links to the shop's data: kept out of repr, logs and orchestrator payloads.
    url: str | None = Field(None, repr=False)
    partial_data_url: str | None = Field(None, alias="partialDataUrl", repr=False)


class BulkOperationError(ShopifyError):
    retryable = True


class BulkOperationInProgressError(BulkOperationError):
    """Another bulk query of this app is running on the shop; wait for it (or cancel it)."""


class BulkOperationFailedError(BulkOperationError):
    def __init__(self, message: str, *, error_code: str | None, status: BulkOperationStatus) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.operation_status = status
        # INTERNAL_SERVER_ERROR and TIMEOUT are Shopify's own trouble; a new operation may well work.
        self.retryable = error_code in (None, "INTERNAL_SERVER_ERROR", "TIMEOUT")


class BulkResultIncompleteError(BulkOperationError):
    """The result could not be read whole; nothing of it may be trusted."""


_FIELDS = "id status errorCode query createdAt completedAt objectCount rootObjectCount fileSize url partialDataUrl"

RUN_QUERY = f"""
mutation StartBulkQuery($query: String!) {{
  bulkOperationRunQuery(query: $query, groupObjects: false) {{
    bulkOperation {{ {_FIELDS} }}
    userErrors {{ code field message }}
  }}
}}"""

STATUS_QUERY = f"""
query BulkOperationStatus($id: ID!) {{
  node(id: $id) {{ ... on BulkOperation {{ {_FIELDS} }} }}
}}"""

CURRENT_QUERY = f"""
query CurrentBulkOperation {{
  currentBulkOperation(type: QUERY) {{ {_FIELDS} }}
}}"""

CANCEL_MUTATION = f"""
mutation CancelBulkOperation($id: ID!) {{
  bulkOperationCancel(id: $id) {{
    bulkOperation {{ {_FIELDS} }}
    userErrors {{ field message }}
  }}
}}"""


def _normalised(query: str) -> str:
    return " ".join(query.split())


async def current_bulk_operation(client: AdminApiClient) -> BulkOperation | None:
    data = await client.execute(CURRENT_QUERY, operation_name="CurrentBulkOperation")
    raw = data.get("currentBulkOperation")
    return BulkOperation.model_validate(raw) if raw else None


async def start_bulk_query(client: AdminApiClient, query: str) -> BulkOperation:
    """Start a bulk query; if our identical query is already running (a retried start), adopt it."""
    data = await client.execute(RUN_QUERY, {"query": query}, operation_name="StartBulkQuery")
    payload = data.get("bulkOperationRunQuery") or {}
    errors = payload.get("userErrors") or []
    if not errors and payload.get("bulkOperation"):
        operation = BulkOperation.model_validate(payload["bulkOperation"])
        logger.info("%s: bulk operation %s started", client.shop_domain, operation.id)
        return operation
    codes = [e.get("code") for e in errors]
    messages = "; ".join(str(e.get("message")) for e in errors) or "no operation and no error"
    if "OPERATION_IN_PROGRESS" in codes:
        current = await current_bulk_operation(client)
        if current and not current.status.finished and current.query and _normalised(current.query) == _normalised(query):
            logger.info("%s: adopting the running bulk operation %s", client.shop_domain, current.id)
            return current
        raise BulkOperationInProgressError(f"{client.shop_domain}: {messages}")
    if "INVALID" in codes:
        raise ShopifyInvalidQueryError(f"{client.shop_domain}: bulk query refused: {messages}", codes=codes, errors=errors)
    raise BulkOperationError(f"{client.shop_domain}: bulk query not started: {messages}")


async def bulk_operation(client: AdminApiClient, operation_id: str) -> BulkOperation:
    data = await client.execute(STATUS_QUERY, {"id": operation_id}, operation_name="BulkOperationStatus")
    raw = data.get("node")
    if not raw:
        raise BulkOperationFailedError(f"{client.shop_domain}: bulk operation {operation_id} not found",
                                       error_code=None, status=BulkOperationStatus.EXPIRED)
    return BulkOperation.model_validate(raw)


async def cancel_bulk_operation(client: AdminApiClient, operation_id: str) -> BulkOperation | None:
    data = await client.execute(CANCEL_MUTATION, {"id": operation_id}, operation_name="CancelBulkOperation")
    raw = (data.get("bulkOperationCancel") or {}).get("bulkOperation")
    return BulkOperation.model_validate(raw) if raw else None


def raise_for_outcome(domain: str, operation: BulkOperation) -> None:
    """A finished operation that did not complete, as the typed error it stands for."""
    if operation.status is BulkOperationStatus.COMPLETED:
        return
    if operation.error_code == "ACCESS_DENIED":
        raise ShopifyMissingScopeError(
            f"{domain}: bulk operation {operation.id} was denied access: a scope it needs is missing",
            required_scopes=())
    raise BulkOperationFailedError(
        f"{domain}: bulk operation {operation.id} ended {operation.status.value}"
        + (f" ({operation.error_code})" if operation.error_code else ""),
        error_code=operation.error_code, status=operation.status,
    )


# --- the result file ----------------------------------------------------------------------------


class _RedactSignedUrls(logging.Filter):
    """httpx logs every request's URL at INFO; a signed result URL must not reach the logs."""

    _SIGNED = re.compile(r"(?i)(signature|x-goog-signature|sig)=")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(self._SIGNED.search(str(a)) for a in record.args):
            record.args = tuple(_redacted(str(a)) if self._SIGNED.search(str(a)) else a for a in record.args)
        return True


def _redacted(url: str) -> str:
    return url.split("?", 1)[0] + "?[redacted]"


logging.getLogger("httpx").addFilter(_RedactSignedUrls())


def _check_result_url(url: str, client: AdminApiClient) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    # Plain http only from the Admin API's own origin: the local emulator.
    admin = urlsplit(client.url)
    if parts.scheme == "http" and (parts.hostname, parts.port) == (admin.hostname, admin.port):
        return
    raise BulkResultIncompleteError(f"{client.shop_domain}: refusing a bulk result URL that is not https")


async def download_result(
    operation: BulkOperation, client: AdminApiClient, destination: Path, *, http: httpx.AsyncClient | None = None
) -> int:
    """Stream the JSONL result into `destination` and return its line count, checked against objectCount."""
    if operation.status is not BulkOperationStatus.COMPLETED:
        raise_for_outcome(client.shop_domain, operation)
    if not operation.url:  # Shopify gives no file when nothing matched
        if operation.object_count:
            raise BulkResultIncompleteError(f"{client.shop_domain}: {operation.id} reports objects but no URL")
        destination.write_bytes(b"")
        return 0
    _check_result_url(operation.url, client)
    own = http is None
    http = http or httpx.AsyncClient(timeout=httpx.Timeout(DOWNLOAD_TIMEOUT_SECONDS, connect=10.0),
                                     headers={"User-Agent": USER_AGENT})
    lines = 0
    last = b"\n"
    try:
        # No access token here: the URL carries its own signature, so the span names only the host.
        with external_call("shopify", "bulk_result_download", shop=client.shop_domain,
                           host=urlsplit(operation.url).hostname or "") as call:
            async with http.stream("GET", operation.url) as response:
                call.set_attribute("http.response.status_code", response.status_code)
                if response.status_code != 200:
                    raise BulkResultIncompleteError(
                        f"{client.shop_domain}: the result of {operation.id} answered HTTP {response.status_code}")
                size = 0
                with destination.open("wb") as handle:
                    async for chunk in response.aiter_bytes():
                        handle.write(chunk)
                        size += len(chunk)
                        lines += chunk.count(b"\n")
                        last = chunk[-1:] or last
                call.set_attribute("download.bytes", size)
    except httpx.HTTPError as exc:
        raise ShopifyUnavailableError(f"{client.shop_domain}: downloading {operation.id} failed ({type(exc).__name__})") from None
    finally:
        if own:
            await http.aclose()
    if last != b"\n":
        lines += 1  # a last line without its newline
    if lines != operation.object_count:
        raise BulkResultIncompleteError(
            f"{client.shop_domain}: the result of {operation.id} has {lines} lines, Shopify reported "
            f"{operation.object_count} objects")
    return lines
