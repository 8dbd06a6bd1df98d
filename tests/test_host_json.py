"""host.json as production needs it: Durable's chatty categories at Warning, requests never sampled
away, the task hub from the setting that the Bicep and the DTS option both set."""

from __future__ import annotations

import json
from pathlib import Path

from shared.settings import Settings

HOST = json.loads((Path(__file__).resolve().parents[1] / "host.json").read_text())


def test_durable_logs_at_warning():
    levels = HOST["logging"]["logLevel"]
    for category in ("DurableTask.Core", "DurableTask.AzureStorage", "Host.Triggers.DurableTask"):
        assert levels[category] == "Warning", category


def test_sampling_keeps_every_request():
    sampling = HOST["logging"]["applicationInsights"]["samplingSettings"]
    assert sampling["isEnabled"] is True
    assert "Request" in sampling["excludedTypes"].split(";")


def test_durable_hub_and_bundle():
    durable = HOST["extensions"]["durableTask"]
    assert durable["hubName"] == "%TASKHUB_NAME%" and "taskhub_name" in Settings.model_fields
    assert HOST["extensionBundle"] == {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"}
    assert HOST["extensions"]["http"]["routePrefix"] == "api"
