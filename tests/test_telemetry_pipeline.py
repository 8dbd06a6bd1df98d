"""A daily run on the sample shop, watched the way Azure Monitor would see it: every call to
Shopify is one span with its cost, the run's cost summary is stored and shown in runs/latest and on
the briefing page, and no secret value is in any exported span or any log line."""

from __future__ import annotations

import os

import httpx
import pytest
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import telemetry
from shared.db.pool import transaction
from shared.local.demo import apply_settings, install_sample_shop, local_functions, run_and_wait, sample_store_stand_ins
from shared.media_store import media_store
from shared.settings import get_settings, secret_setting_names
from shared.telemetry_export import build_tracer_provider, install_log_scrubbing


@pytest.fixture(scope="module")
def exporter():
    """Spans go through the app's scrubbing exporter into memory; httpx is auto-instrumented as in Azure."""
    memory = InMemorySpanExporter()
    provider = build_tracer_provider(memory, batch=False)
    patch = pytest.MonkeyPatch()
    patch.setattr(telemetry.trace, "get_tracer", lambda name, *args, **kwargs: provider.get_tracer(name))
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    install_log_scrubbing()
    yield memory
    HTTPXClientInstrumentor().uninstrument()
    patch.undo()


@pytest.fixture(scope="module")
def run(local_data_dir, logs, exporter):
    saved = dict(os.environ)
    with sample_store_stand_ins(n_products=12) as stand_ins:
        install_sample_shop(stand_ins, progress=lambda line: None)
        shop = stand_ins.store.domain
        before = len(stand_ins.emulator.records(shop))
        exporter.clear()
        with local_functions(lambda line: None) as (runner, host, key):
            outcome = run_and_wait(runner, host, key, shop, lambda line: None)
            latest = httpx.get(f"{host.base_url}/api/shops/{shop}/runs/latest", headers={"x-functions-key": key},
                               timeout=30).json()
        requests = stand_ins.emulator.records(shop)[before:]
        yield {"outcome": outcome, "latest": latest, "requests": requests, "spans": exporter.get_finished_spans(),
               "access_token": stand_ins.access_token, "shop": shop}
    os.environ.clear()
    os.environ.update(saved)
    apply_settings({})


def external_spans(spans, service):
    return [s for s in spans if s.attributes.get("external.service") == service]


def test_one_span_per_shopify_request_with_its_query_points(run):
    assert run["outcome"].ok, run["outcome"]
    spans = [s for s in external_spans(run["spans"], "shopify") if s.attributes["external.operation"] == "graphql"]
    requests = run["requests"]
    assert len(requests) >= 3
    assert len(spans) == len(requests)  # one span per request the Admin API received
    for span in spans:
        assert span.kind.name == "CLIENT"
        assert span.attributes["shop"] == run["shop"]
        assert span.attributes["external.outcome"] in ("ok", "throttled")
        assert span.attributes["external.duration_ms"] >= 0
        assert span.attributes["http.response.status_code"] == 200
        assert "cost.query_points" in span.attributes
    charged = sum(r.actual_cost or 0 for r in requests)
    assert charged > 0
    assert sum(s.attributes["cost.query_points"] for s in spans) == charged
    # The Admin API call is the parent of the auto-instrumented HTTP span, as Application Insights shows it.
    http_children = [s for s in run["spans"] if s.parent is not None and s.parent.span_id in
                     {span.context.span_id for span in spans}]
    assert len(http_children) == len(spans)


def test_the_runs_cost_summary_is_stored_and_shown_in_runs_latest_and_on_the_page(run):
    run_id = run["outcome"].run_id
    charged = sum(r.actual_cost or 0 for r in run["requests"])
    with transaction() as conn:
        rows = conn.execute("SELECT step, service, unit, amount FROM run_costs WHERE run_id = %s", (run_id,)).fetchall()
        page_uri = conn.execute("SELECT page_uri FROM briefings WHERE run_id = %s", (run_id,)).fetchone()["page_uri"]
    by_unit = {}
    for row in rows:
        by_unit[(row["service"], row["unit"])] = by_unit.get((row["service"], row["unit"]), 0) + float(row["amount"])
    assert by_unit[("shopify", "query_points")] == charged
    assert by_unit[("shopify", "calls")] == len(run["requests"])
    assert {r["step"] for r in rows if r["service"] == "shopify"} == {"sync_shopify"}
    total = {(c["service"], c["unit"]): c["amount"] for c in run["latest"]["costs"]["total"]}
    assert run["latest"]["id"] == run_id
    assert total[("shopify", "query_points")] == charged
    page = media_store().read_bytes(page_uri).decode("utf-8")
    section = page[page.index('<section id="run-costs">'):]
    section = section[:section.index("</section>")]
    assert "Shopify query points" in section and f">{charged:,}<" in section


def test_no_secret_value_in_any_exported_span_or_log_line(run, logs):
    secrets = [run["access_token"]]
    secrets += [os.environ[name] for name in secret_setting_names() if os.environ.get(name)]
    key_file = get_settings().local_data_dir / "token-encryption-key"
    if key_file.is_file():
        secrets.append(key_file.read_text().strip())
    secrets = [s for s in secrets if len(s) >= telemetry.MIN_SECRET_LENGTH]
    assert run["access_token"] in telemetry._secret_values  # registered, so masking would catch a leak
    exported = []
    for span in run["spans"]:
        exported.append(span.name)
        exported += [str(v) for v in span.attributes.values()]
        exported += [str(v) for event in span.events for v in (event.attributes or {}).values()]
    assert len(run["spans"]) > 10 and len(logs) > 10
    for secret in secrets:
        assert not [text for text in exported if secret in text]
        assert not [line for line in logs if secret in line]
