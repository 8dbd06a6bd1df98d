"""One source of truth: the settings model, and the sample settings file that documents it."""

from __future__ import annotations

import json
from pathlib import Path

from shared.settings import Settings, load_local_settings_file

SAMPLE = Path(__file__).resolve().parents[1] / "local.settings.sample.json"
# Read by the Functions host itself, not by the app's code.
HOST_SETTINGS = {"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage"}


def test_the_sample_lists_every_setting_and_nothing_else():
    values = json.loads(SAMPLE.read_text())["Values"]
    assert set(values) - HOST_SETTINGS == {name.upper() for name in Settings.model_fields}


def test_the_sample_values_are_valid_settings(monkeypatch):
    values = json.loads(SAMPLE.read_text())["Values"]
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.shopify_api_version == "2026-10"
    assert settings.database_url is None  # empty means unset: the embedded database


def test_local_settings_file_fills_the_environment_without_overriding_it(tmp_path, monkeypatch):
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"Values": {"TRENDS_GEO": "IE", "TASKHUB_NAME": "fromfile"}}))
    monkeypatch.setenv("TASKHUB_NAME", "fromshell")
    monkeypatch.delenv("TRENDS_GEO", raising=False)
    load_local_settings_file(path)
    settings = Settings()
    assert (settings.trends_geo, settings.taskhub_name) == ("IE", "fromshell")


def test_a_broken_local_settings_file_is_named(tmp_path):
    path = tmp_path / "local.settings.json"
    path.write_text("{not json")
    try:
        load_local_settings_file(path)
    except ValueError as error:
        assert str(path) in str(error)
    else:
        raise AssertionError("a broken file was accepted")
