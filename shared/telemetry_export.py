"""Where spans and logs go, and the masking that every exported value passes through first.

`configure_telemetry()` runs once at start-up (function_app.py):

- `APPLICATIONINSIGHTS_CONNECTION_STRING` set: spans go to Application Insights through the Azure
  Monitor exporter, wrapped so that every exported value is scrubbed; azure-monitor-opentelemetry
  adds logs, metrics and the auto-instrumentation of HTTP libraries (httpx included). Local
  authentication is off on the resource, so the exporters authenticate with the managed identity
  (`AZURE_CLIENT_ID`).
- otherwise: spans are printed to the console when `TELEMETRY_CONSOLE_EXPORT` is true (the demo),
  and kept quiet when not (tests).

Masking happens in three places, so a secret the app has read (`register_secret_value`) cannot
leave the process in telemetry: `ScrubbingSpanExporter` (span name, attributes, events, links,
status text: auto-instrumented httpx spans carry full URLs, and a provider key can sit in a query
string), `ScrubbingLogRecordProcessor` (log records sent to Azure Monitor) and a log record
factory that masks every Python log line before any handler formats it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.sdk._logs import LogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Link, Status

from shared.settings import Settings, get_settings
from shared.telemetry import scrub

log = logging.getLogger(__name__)

SERVICE_NAME = "retail-ai-advisor"

_configured: str | None = None
_lock = threading.Lock()


def scrub_attributes(attributes):
    """Attributes with every string (and string in a sequence) scrubbed; None stays None."""
    if not attributes:
        return attributes
    cleaned = {}
    for key, value in attributes.items():
        if isinstance(value, (list, tuple)):
            cleaned[key] = type(value)(scrub(item) for item in value)
        else:
            cleaned[key] = scrub(value)
    return cleaned


def scrubbed_span(span: ReadableSpan) -> ReadableSpan:
    """A copy of the finished span with known secret values masked everywhere a string can be."""
    status = span.status
    if status.description:
        status = Status(status.status_code, scrub(status.description))
    return ReadableSpan(
        name=scrub(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=scrub_attributes(span.attributes),
        events=[Event(e.name, scrub_attributes(e.attributes), e.timestamp) for e in span.events],
        links=[Link(link.context, scrub_attributes(link.attributes)) for link in span.links],
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class ScrubbingSpanExporter(SpanExporter):
    """Wraps an exporter: it receives only scrubbed copies of the spans."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([scrubbed_span(span) for span in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class ScrubbingLogRecordProcessor(LogRecordProcessor):
    """First log record processor of the Azure Monitor pipeline: masks the body and attributes in place,
    before the exporting processor (registered after it) sees the record."""

    def on_emit(self, log_record) -> None:
        record = getattr(log_record, "log_record", log_record)
        if isinstance(record.body, str):
            record.body = scrub(record.body)
        if record.attributes:
            record.attributes = scrub_attributes(dict(record.attributes))

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


_base_factory = logging.getLogRecordFactory()


def _scrubbing_record_factory(*args, **kwargs) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string is the logging module's to report
        return record
    cleaned = scrub(message)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    return record


def install_log_scrubbing() -> None:
    """Mask known secret values in every log record, whatever handler later formats or ships it."""
    if logging.getLogRecordFactory() is not _scrubbing_record_factory:
        logging.setLogRecordFactory(_scrubbing_record_factory)


def build_tracer_provider(exporter: SpanExporter | None, *, batch: bool = True) -> TracerProvider:
    """A tracer provider whose one exporter (if any) sees scrubbed spans only."""
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    if exporter is not None:
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        wrapped = ScrubbingSpanExporter(exporter)
        provider.add_span_processor(BatchSpanProcessor(wrapped) if batch else SimpleSpanProcessor(wrapped))
    return provider


def azure_monitor_credential():
    """The managed identity the exporters authenticate with (local auth is off on the resource)."""
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    client_id = os.environ.get("AZURE_CLIENT_ID")
    return ManagedIdentityCredential(client_id=client_id) if client_id else DefaultAzureCredential()


def configure_telemetry(settings: Settings | None = None, *, credential=None) -> str:
    """Set up export once per process; returns where spans go: "azure_monitor", "console" or "none"."""
    global _configured
    with _lock:
        if _configured is not None:
            return _configured
        settings = settings or get_settings()
        install_log_scrubbing()
        if settings.applicationinsights_connection_string:
            try:
                _configure_azure_monitor(settings.applicationinsights_connection_string,
                                         credential or azure_monitor_credential())
                _configured = "azure_monitor"
            except Exception as exc:  # noqa: BLE001 - an exception here would hide every function from the host
                log.error("telemetry export to Application Insights is off: %s (check "
                          "APPLICATIONINSIGHTS_CONNECTION_STRING)", type(exc).__name__)
                _configured = "none"
        elif settings.telemetry_console_export:
            trace.set_tracer_provider(build_tracer_provider(ConsoleSpanExporter()))
            _configured = "console"
        else:
            _configured = "none"  # spans are made and dropped: nothing to print, nowhere to send
        return _configured


def _configure_azure_monitor(connection_string: str, credential) -> None:
    # Imported here: heavy, and only needed in Azure (Flex gives start-up 30 seconds).
    from azure.monitor.opentelemetry import configure_azure_monitor
    from azure.monitor.opentelemetry.exporter import AzureMonitorTraceExporter

    exporter = AzureMonitorTraceExporter(connection_string=connection_string, credential=credential)
    trace.set_tracer_provider(build_tracer_provider(exporter))
    # Tracing is ours (above, with the scrubbing exporter); the distro adds logs, metrics and the
    # instrumentations, which use the tracer provider just set. The distro decides `disable_tracing`
    # from OTEL_TRACES_EXPORTER alone (1.8.11 overwrites the keyword argument).
    os.environ["OTEL_TRACES_EXPORTER"] = "none"
    configure_azure_monitor(
        connection_string=connection_string,
        credential=credential,
        log_record_processors=[ScrubbingLogRecordProcessor()],
    )


def reset_for_tests() -> None:
    global _configured
    with _lock:
        _configured = None
