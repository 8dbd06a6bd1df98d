"""The external-call span: attributes, costs, the run's ledger and secret masking."""

from __future__ import annotations

import pytest

from shared import telemetry


def test_span_carries_service_operation_outcome_and_cost(spans):
    with telemetry.cost_ledger() as ledger:
        with telemetry.external_call("zenrows", "scrape", domain="shop.example") as call:
            call.add_cost("request_cost", 5)
            call.add_cost("request_cost", 1)
    (span,) = spans.get_finished_spans()
    assert span.name == "zenrows scrape"
    assert span.attributes["external.service"] == "zenrows"
    assert span.attributes["external.outcome"] == "ok"
    assert span.attributes["cost.request_cost"] == 6.0
    assert span.attributes["external.duration_ms"] >= 0
    assert ledger.as_rows() == [{"service": "zenrows", "unit": "request_cost", "amount": 6.0}]
    assert ledger.calls == {"zenrows": 1}


def test_failure_marks_outcome_and_keeps_only_the_exception_type(spans):
    with pytest.raises(ValueError):
        with telemetry.external_call("shopify", "graphql"):
            raise ValueError("token shpat_secret in message")
    (span,) = spans.get_finished_spans()
    assert span.attributes["external.outcome"] == "error"
    assert span.attributes["error.type"] == "ValueError"
    assert all("shpat_secret" not in str(v) for v in span.attributes.values())
    assert not span.events


def test_known_secret_values_are_masked_in_attributes(spans):
    telemetry.register_secret_value("s3cr3t-api-key-value")
    with telemetry.external_call("zenrows", "scrape", url="https://api.example/?apikey=s3cr3t-api-key-value"):
        pass
    (span,) = spans.get_finished_spans()
    assert span.attributes["url"] == "https://api.example/?apikey=***"
