"""Where telemetry goes and what it may carry: the scrubbing exporter, the log masking, the console
and the Azure Monitor set-ups (the latter against a loopback stand-in of the ingestion endpoint)."""

from __future__ import annotations

import gzip
import json
import logging
import os
import ssl
import subprocess
import sys
import textwrap
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import telemetry
from shared.local.background_server import serve_in_background, shut_down
from shared.local.key_vault_standin import _write_self_signed_certificate
from shared.telemetry_export import ScrubbingLogRecordProcessor, build_tracer_provider, install_log_scrubbing

ROOT = Path(__file__).resolve().parents[1]
SECRET = "zr-" + "k3y" * 8  # what a provider key in a query string looks like


class _Recorder(BaseHTTPRequestHandler):
    """Answers every request with 200 and keeps what it received (path, headers, body)."""

    received: list[dict] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        type(self).received.append({"path": self.path, "headers": dict(self.headers), "body": body})
        payload = b'{"itemsReceived": 1, "itemsAccepted": 1, "errors": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, format, *args):  # quiet
        pass


@pytest.fixture
def recorder():
    _Recorder.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = serve_in_background(server, "telemetry-recorder")
    yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.received
    shut_down(server, thread)


@pytest.fixture
def tls_recorder(tmp_path):
    """The same over HTTPS: the Azure SDK sends a bearer token over TLS only."""
    _Recorder.received = []
    cert, key = _write_self_signed_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = serve_in_background(server, "telemetry-tls-recorder")
    yield f"https://127.0.0.1:{server.server_address[1]}", _Recorder.received, str(cert)
    shut_down(server, thread)


def test_auto_instrumented_http_spans_leave_with_the_key_in_their_url_masked(recorder):
    base_url, _ = recorder
    telemetry.register_secret_value(SECRET)
    scrubbed = InMemorySpanExporter()
    provider = build_tracer_provider(scrubbed, batch=False)
    raw = InMemorySpanExporter()  # what an exporter without the wrapper would have been given
    provider.add_span_processor(SimpleSpanProcessor(raw))
    with httpx.Client() as client:
        HTTPXClientInstrumentor.instrument_client(client, tracer_provider=provider)
        assert client.get(f"{base_url}/v1/?apikey={SECRET}&url=https://shop.example/p").status_code == 200
    (raw_span,), (span,) = raw.get_finished_spans(), scrubbed.get_finished_spans()
    assert any(SECRET in str(v) for v in raw_span.attributes.values())  # the instrumentation does not redact it
    urls = [str(v) for k, v in span.attributes.items() if "url" in k]
    assert urls and all("apikey=***&url=" in url for url in urls)
    assert not any(SECRET in str(v) for v in span.attributes.values())


def test_every_string_of_a_span_is_masked_events_and_status_included():
    telemetry.register_secret_value(SECRET)
    exported = InMemorySpanExporter()
    provider = build_tracer_provider(exported, batch=False)
    with provider.get_tracer("t").start_as_current_span(f"call {SECRET}") as span:
        span.set_attribute("list", ["a", f"x{SECRET}y"])
        span.add_event("retry", {"detail": f"key={SECRET}"})
        span.set_status(telemetry.Status(telemetry.StatusCode.ERROR, f"failed with {SECRET}"))
    (done,) = exported.get_finished_spans()
    assert done.name == "call ***"
    assert done.attributes["list"] == ("a", "x***y")
    assert done.events[0].attributes["detail"] == "key=***"
    assert done.status.description == "failed with ***"


def test_a_log_line_never_carries_a_registered_secret(logs):
    install_log_scrubbing()
    telemetry.register_secret_value(SECRET)
    logging.getLogger("shared.test").warning("calling %s with key %s", "zenrows", SECRET)
    logging.getLogger("shared.test").info(f"inline {SECRET}")
    tail = logs[-2:]
    assert tail == ["calling zenrows with key ***", "inline ***"]


def test_log_records_sent_to_azure_monitor_are_masked():
    from opentelemetry._logs import LogRecord
    from opentelemetry.sdk._logs import ReadWriteLogRecord

    telemetry.register_secret_value(SECRET)
    record = ReadWriteLogRecord(LogRecord(body=f"token {SECRET}", attributes={"url": f"/x?k={SECRET}"}))
    ScrubbingLogRecordProcessor().on_emit(record)
    assert record.log_record.body == "token ***"
    assert record.log_record.attributes["url"] == "/x?k=***"


# --- configure_telemetry in a fresh process (the global tracer provider can be set once) --------

SCRIPT = textwrap.dedent(f"""
    import logging, sys
    logging.basicConfig(level=logging.WARNING)  # the exporter says why, should an export fail
    from datetime import datetime, timedelta, timezone
    from azure.core.credentials import AccessToken
    from opentelemetry import trace
    from shared import telemetry
    from shared.telemetry_export import configure_telemetry

    class StandInCredential:  # the managed identity, which a test process does not have
        def get_token(self, *scopes, **kwargs):
            return AccessToken("stand-in-token", int((datetime.now(timezone.utc) + timedelta(hours=1)).timestamp()))
        def get_token_info(self, *scopes, **kwargs):
            from azure.core.credentials import AccessTokenInfo
            return AccessTokenInfo("stand-in-token", int((datetime.now(timezone.utc) + timedelta(hours=1)).timestamp()))

    print("MODE", configure_telemetry(credential=StandInCredential()), flush=True)
    telemetry.register_secret_value({SECRET!r})
    with telemetry.external_call("zenrows", "scrape", url="https://api.example/?apikey={SECRET}") as call:
        call.add_cost("request_cost", 5)
    getattr(trace.get_tracer_provider(), "force_flush", lambda timeout_millis: True)(60000)
""")


def run_configured(env: dict[str, str]) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("APPLICATIONINSIGHTS_CONNECTION_STRING",
                                                                     "TELEMETRY_CONSOLE_EXPORT")}
    environment.update(env)
    return subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=120)


def test_quiet_by_default():
    result = run_configured({})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "MODE none"


def test_console_export_prints_spans_with_costs_and_masked_values():
    result = run_configured({"TELEMETRY_CONSOLE_EXPORT": "true"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("MODE console")
    span = json.loads(result.stdout[result.stdout.index("{"):])
    assert span["name"] == "zenrows scrape"
    assert span["attributes"]["cost.request_cost"] == 5.0
    assert span["attributes"]["url"] == "https://api.example/?apikey=***"
    assert SECRET not in result.stdout + result.stderr


def test_azure_monitor_export_uses_the_identity_and_sends_masked_spans(tls_recorder):
    base_url, received, certificate = tls_recorder
    connection = (f"InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint={base_url}/;"
                  f"LiveEndpoint={base_url}/")
    result = run_configured({
        "APPLICATIONINSIGHTS_CONNECTION_STRING": connection,
        # Nothing may leave this machine: no statsbeat, no control plane, no instance-metadata lookups.
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
        "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
        "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel",
        "REQUESTS_CA_BUNDLE": certificate,  # trust the stand-in's self-signed certificate
    })
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("MODE azure_monitor")
    tracks = [r for r in received if r["path"].endswith("/track")]
    envelopes = [json.loads(line) for r in tracks for line in r["body"].decode().splitlines() if line.strip()]
    envelopes = [e for item in envelopes for e in (item if isinstance(item, list) else [item])]
    dependencies = [e for e in envelopes if e["data"]["baseType"] == "RemoteDependencyData"]
    assert [d["data"]["baseData"]["name"] for d in dependencies] == ["zenrows scrape"], (
        [r["path"] for r in received], result.stderr[-2000:])
    properties = dependencies[0]["data"]["baseData"]["properties"]
    assert properties["url"] == "https://api.example/?apikey=***"
    assert properties["external.service"] == "zenrows"
    assert all(r["headers"].get("Authorization") == "Bearer stand-in-token" for r in tracks)
    assert not any(SECRET.encode() in r["body"] for r in received)


def test_a_secret_containing_another_is_masked_whole():
    telemetry.register_secret_value("abcdef")
    telemetry.register_secret_value("xxabcdefyy-long-secret")
    assert telemetry.scrub("k=xxabcdefyy-long-secret") == "k=***"


def test_a_broken_connection_string_turns_export_off_instead_of_stopping_the_app():
    result = run_configured({"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=not-a-key;IngestionEndpoint=x",
                             "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
                             "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
                             "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("MODE none")
    assert "telemetry export to Application Insights is off: ValueError" in result.stderr
    assert "not-a-key" not in result.stderr
