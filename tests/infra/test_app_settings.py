"""One source of truth for settings: the pydantic model in shared/settings.py. The Bicep's app
settings and local.settings.sample.json must list what it declares, nothing missing, nothing extra.

The rule for secrets: they are never app settings. Each is a Key Vault secret (named like the
setting, with dashes) that the app reads at run time through KEY_VAULT_URL (shared/secrets.py);
only secrets that make sense on a developer's machine alone are exempt, by name.
"""

from __future__ import annotations

import json
import shutil

import pytest

import bicep_checks as checks
from bicep_checks import INFRA, ROOT
from shared.secrets import key_vault_name
from shared.settings import Settings, secret_setting_names

SAMPLE_HOST_SETTINGS = {"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage"}
# Literal settings whose Azure value is not the model's (local) default.
AZURE_VALUES = {"LOCAL_DATA_DIR"}


def test_the_bicep_sets_every_setting_of_the_model_and_secrets_live_in_key_vault():
    assert checks.settings_problems() == []


def test_model_bicep_and_sample_agree():
    groups = checks.app_settings()
    secrets = set(secret_setting_names())
    sample = set(json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]) - SAMPLE_HOST_SETTINGS
    model = {name.upper() for name in Settings.model_fields}
    assert sample == model == set(groups["app"]) | secrets
    vault = checks.key_vault_secret_names()
    assert vault == {key_vault_name(s) for s in secrets - checks.LOCAL_ONLY_SECRETS}
    assert checks.LOCAL_ONLY_SECRETS <= secrets  # the exemption names real secrets only


def test_the_literal_values_in_the_bicep_are_valid_settings(monkeypatch, restore_environment):
    literal = {k: v for k, v in checks.app_settings()["app"].items() if v is not None}
    assert len(literal) > 25
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    for key, value in literal.items():
        monkeypatch.setenv(key, value)
    settings = Settings()  # raises, naming the field, if a value does not fit the model
    # A literal in the Bicep repeats the model's default, except where Azure needs another value.
    differs = {key for key in literal
               if getattr(settings, key.lower()) != Settings.model_fields[key.lower()].default}
    assert differs == AZURE_VALUES
    assert str(settings.local_data_dir).startswith("/tmp/")  # scratch space: the deployed package is read-only


@pytest.fixture
def infra_copy(tmp_path):
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy)
    return copy


def _drop_line(path, line):
    text = path.read_text()
    assert line in text
    path.write_text(text.replace(line, "", 1))


def test_removing_an_app_setting_is_caught(infra_copy):
    _drop_line(infra_copy / "app" / "function.bicep", "  TRENDS_GEO: 'GB'\n")
    assert checks.settings_problems(infra_copy) == [
        "app setting TRENDS_GEO is in the settings model but not set by infra/app/function.bicep"]


def test_a_setting_the_model_does_not_know_is_caught(infra_copy):
    path = infra_copy / "app" / "function.bicep"
    path.write_text(path.read_text().replace("  TRENDS_GEO: 'GB'\n", "  TRENDS_GEO: 'GB'\n  TRENDS_REGION: 'GB'\n"))
    assert checks.settings_problems(infra_copy) == [
        "app setting TRENDS_REGION is set by the Bicep but is not in shared/settings.py"]


def test_a_secret_as_an_app_setting_or_missing_from_key_vault_is_caught(infra_copy):
    path = infra_copy / "app" / "function.bicep"
    path.write_text(path.read_text().replace("  TRENDS_GEO: 'GB'\n", "  TRENDS_GEO: 'GB'\n  SHOPIFY_CLIENT_SECRET: ''\n"))
    _drop_line(infra_copy / "main.bicep", "      'TOKEN-ENCRYPTION-KEY': tokenEncryptionKey\n")
    problems = checks.settings_problems(infra_copy)
    assert "secret SHOPIFY_CLIENT_SECRET is an app setting; secrets are read from Key Vault at run time" in problems
    assert "secret TOKEN_ENCRYPTION_KEY has no Key Vault secret (TOKEN-ENCRYPTION-KEY) in infra/main.bicep" in problems


def test_a_flex_deprecated_or_unknown_platform_setting_is_caught(infra_copy):
    path = infra_copy / "app" / "function.bicep"
    path.write_text(path.read_text().replace("  AZURE_TOKEN_CREDENTIALS: 'prod'\n",
                                             "  AZURE_TOKEN_CREDENTIALS: 'prod'\n  FUNCTIONS_WORKER_RUNTIME: 'python'\n"))
    problems = checks.settings_problems(infra_copy)
    assert "FUNCTIONS_WORKER_RUNTIME must not be set on a Flex Consumption app" in problems
    assert "FUNCTIONS_WORKER_RUNTIME is neither in the settings model nor an allowed platform setting" in problems


def test_a_settings_group_left_out_of_the_appsettings_resource_is_caught(infra_copy):
    path = infra_copy / "app" / "function.bicep"
    path.write_text(path.read_text().replace("union(platformSettings, durableTaskSchedulerSettings, appSettings)",
                                             "union(platformSettings, durableTaskSchedulerSettings)"))
    assert checks.settings_problems(infra_copy) == ["appSettings is not applied by the appsettings resource"]
