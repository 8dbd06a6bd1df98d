"""One span per external call, and the bill of the run it belongs to.

Every client that leaves the app (Shopify, ZenRows, Apideck, Trends, Azure OpenAI, ElevenLabs,
VEED, Blob Storage) wraps each request in `external_call(service, operation)`. The span carries
the service, the operation, the duration, the outcome and what the call cost in the
provider's own unit (`call.add_cost("query_points", 12)`). The same costs are added to the
`CostLedger` of the step that is running, if any, so that a run's cost summary can be stored.

Attribute values pass through `scrub` first: a value that holds a secret the app has read is
masked before it reaches any exporter.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

TRACER_NAME = "retail_ai_advisor"
MASK = "***"
MIN_SECRET_LENGTH = 6  # shorter values (flags, ids) would mask ordinary text

_secret_values: set[str] = set()
_secret_lock = threading.Lock()


def register_secret_value(value: str | None) -> None:
    """Remember a secret's value so that `scrub` masks it wherever it turns up."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        with _secret_lock:
            _secret_values.add(value)


def scrub(value: object) -> object:
    """The value with every known secret masked; non-strings pass through."""
    if not isinstance(value, str):
        return value
    # A snapshot, longest first: another thread may register a secret meanwhile, and a secret
    # that contains another must be masked whole.
    with _secret_lock:
        known = sorted(_secret_values, key=len, reverse=True)
    for secret in known:
        if secret in value:
            value = value.replace(secret, MASK)
    return value


@dataclass
class CostLedger:
    """Costs of the external calls made while it is active, keyed by (service, unit)."""

    totals: dict[tuple[str, str], float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    # A ledger opened inside another (a provider's share of a step) also bills the outer one.
    parent: CostLedger | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, service: str, unit: str, amount: float) -> None:
        with self._lock:
            key = (service, unit)
            self.totals[key] = self.totals.get(key, 0.0) + float(amount)
        if self.parent is not None:
            self.parent.add(service, unit, amount)

    def count_call(self, service: str) -> None:
        with self._lock:
            self.calls[service] = self.calls.get(service, 0) + 1
        if self.parent is not None:
            self.parent.count_call(service)

    def as_rows(self) -> list[dict[str, object]]:
        with self._lock:
            return [
                {"service": service, "unit": unit, "amount": amount}
                for (service, unit), amount in sorted(self.totals.items())
            ]


_current_ledger: contextvars.ContextVar[CostLedger | None] = contextvars.ContextVar("cost_ledger", default=None)


@contextmanager
def cost_ledger() -> Iterator[CostLedger]:
    """Collect the costs of the external calls made inside the block (and in tasks it starts)."""
    ledger = CostLedger(parent=_current_ledger.get())
    token = _current_ledger.set(ledger)
    try:
        yield ledger
    finally:
        _current_ledger.reset(token)


def record_cost(service: str, unit: str, amount: float | int) -> None:
    """Bill work done in-process (espeak-ng characters, ffmpeg video seconds) to the current ledger:
    no call left the app, but the run shows what a cloud provider would have charged for it."""
    ledger = _current_ledger.get()
    if ledger is not None:
        ledger.add(service, unit, float(amount))


class ExternalCall:
    """The handle `external_call` yields: set the outcome, add costs and attributes."""

    def __init__(self, span: trace.Span, service: str) -> None:
        self.span = span
        self.service = service
        self.outcome = "ok"
        self.costs: dict[str, float] = {}

    def add_cost(self, unit: str, amount: float | int | None) -> None:
        if amount is None:
            return
        self.costs[unit] = self.costs.get(unit, 0.0) + float(amount)
        self.span.set_attribute(f"cost.{unit}", self.costs[unit])
        ledger = _current_ledger.get()
        if ledger is not None:
            ledger.add(self.service, unit, float(amount))

    def set_outcome(self, outcome: str) -> None:
        self.outcome = outcome

    def set_attribute(self, key: str, value: str | int | float | bool) -> None:
        self.span.set_attribute(key, scrub(value))


@contextmanager
def external_call(service: str, operation: str, **attributes: str | int | float | bool) -> Iterator[ExternalCall]:
    """A CLIENT span around one request to an outside service.

    An exception marks the outcome `error` (unless the caller set another) and is re-raised;
    the span records the exception's type only, since messages can quote what was sent.
    """
    tracer = trace.get_tracer(TRACER_NAME)
    started = time.perf_counter()
    with tracer.start_as_current_span(
        f"{service} {operation}", kind=SpanKind.CLIENT, record_exception=False, set_status_on_exception=False
    ) as span:
        call = ExternalCall(span, service)
        span.set_attribute("external.service", service)
        span.set_attribute("external.operation", operation)
        for key, value in attributes.items():
            call.set_attribute(key, value)
        ledger = _current_ledger.get()
        if ledger is not None:
            ledger.count_call(service)
        try:
            yield call
        except BaseException as exc:
            if call.outcome == "ok":
                call.outcome = "error"
            span.set_attribute("error.type", type(exc).__name__)
            raise
        finally:
            span.set_attribute("external.outcome", call.outcome)
            span.set_attribute("external.duration_ms", round((time.perf_counter() - started) * 1000, 3))
            if call.outcome != "ok":
                span.set_status(Status(StatusCode.ERROR))
