"""The emulator's webhook sender: signs and delivers webhooks as Shopify does, and re-delivers on failure.

    sender = ShopifyWebhookSender(f"{host.base_url}/api/webhooks/shopify", secret)
    report = sender.send("products/update", store.domain, product_payload(store, product))
    reports = sender.send_concurrently(sender.build(...), copies=10)   # the same delivery, ten times at once

Each delivery carries Shopify's headers: X-Shopify-Topic, X-Shopify-Hmac-Sha256 (base64 HMAC-SHA256
of the exact body bytes under the client secret), X-Shopify-Shop-Domain, X-Shopify-Webhook-Id,
X-Shopify-Event-Id, X-Shopify-API-Version and X-Shopify-Triggered-At. A delivery answered with
anything but 2xx, or not answered within the timeout, is sent again, byte for byte with the same
webhook id, after an exponential backoff, up to `max_attempts` (Shopify: 8 retries over 4 hours;
here seconds, so tests stay fast). The signature is computed here with hmac/hashlib, not with the
app's own code, so a bug in one is not hidden by the other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import httpx

from shared.settings import DEFAULT_SHOPIFY_API_VERSION


@dataclass(frozen=True)
class WebhookDelivery:
    """One delivery, ready to send: the exact body bytes and the headers that go with them."""

    topic: str
    shop_domain: str
    webhook_id: str
    event_id: str
    triggered_at: datetime
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class DeliveryAttempt:
    attempt: int
    status: int | None  # None: no answer (timeout, refused connection)
    error: str | None
    seconds: float


@dataclass
class DeliveryReport:
    delivery: WebhookDelivery
    attempts: list[DeliveryAttempt] = field(default_factory=list)

    @property
    def delivered(self) -> bool:
        return bool(self.attempts) and self.attempts[-1].status is not None and 200 <= self.attempts[-1].status < 300

    @property
    def last_status(self) -> int | None:
        return self.attempts[-1].status if self.attempts else None


def shopify_signature(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


class ShopifyWebhookSender:
    def __init__(
        self,
        url: str,
        secret: str,
        *,
        api_version: str = DEFAULT_SHOPIFY_API_VERSION,
        max_attempts: int = 5,
        backoff_seconds: float = 0.2,
        max_backoff_seconds: float = 5.0,
        timeout_seconds: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        http_client: httpx.Client | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.url = url
        self.secret = secret
        self.api_version = api_version
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self._sleep = sleep
        self._http = http_client or httpx.Client(timeout=timeout_seconds, follow_redirects=False)
        self._owns_http = http_client is None

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> ShopifyWebhookSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- building -----------------------------------------------------------------------------

    def build(
        self,
        topic: str,
        shop_domain: str,
        payload: dict[str, Any] | bytes,
        *,
        webhook_id: str | None = None,
        event_id: str | None = None,
        triggered_at: datetime | None = None,
        secret: str | None = None,
    ) -> WebhookDelivery:
        """A signed delivery; `payload` as a dict is serialised compactly, as bytes it is sent as is."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode("utf-8")
        webhook_id = webhook_id or str(uuid.uuid4())
        event_id = event_id or str(uuid.uuid4())
        triggered_at = (triggered_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Shopify-Captain-Hook",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": shopify_signature(body, secret or self.secret),
            "X-Shopify-Shop-Domain": shop_domain,
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-Event-Id": event_id,
            "X-Shopify-API-Version": self.api_version,
            "X-Shopify-Triggered-At": triggered_at.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        }
        return WebhookDelivery(topic, shop_domain, webhook_id, event_id, triggered_at, body, headers)

    # --- sending ------------------------------------------------------------------------------

    def deliver(self, delivery: WebhookDelivery) -> DeliveryReport:
        """Send until a 2xx answer or `max_attempts`, backing off between tries."""
        report = DeliveryReport(delivery)
        for attempt in range(1, self.max_attempts + 1):
            started = time.perf_counter()
            try:
                response = self._http.post(self.url, content=delivery.body, headers=delivery.headers)
                status, error = response.status_code, None
            except httpx.TimeoutException as exc:
                status, error = None, f"timeout ({type(exc).__name__})"
            except httpx.TransportError as exc:
                status, error = None, f"no answer ({type(exc).__name__})"
            report.attempts.append(DeliveryAttempt(attempt, status, error, time.perf_counter() - started))
            if status is not None and 200 <= status < 300:
                break
            if attempt < self.max_attempts:
                self._sleep(self.backoff_for(attempt))
        return report

    def backoff_for(self, attempt: int) -> float:
        """Seconds before try `attempt + 1`: doubling from `backoff_seconds`, at most `max_backoff_seconds`."""
        return min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1))

    def send(self, topic: str, shop_domain: str, payload: dict[str, Any] | bytes, **build_options: Any) -> DeliveryReport:
        return self.deliver(self.build(topic, shop_domain, payload, **build_options))

    def send_concurrently(self, delivery: WebhookDelivery, copies: int) -> list[DeliveryReport]:
        """The same delivery `copies` times at once (Shopify does send duplicates)."""
        with ThreadPoolExecutor(max_workers=copies) as pool:
            return list(pool.map(lambda _: self.deliver(delivery), range(copies)))
