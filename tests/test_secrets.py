from __future__ import annotations

import pytest

from shared.secrets import MissingSecretError, SecretStore, get_secret, key_vault_name, reset_secret_store
from shared.settings import Settings, get_settings, secret_setting_names


class CountingSource:
    def __init__(self, values):
        self.values = values
        self.reads = 0

    def read(self, name):
        self.reads += 1
        return self.values.get(name)


def test_secret_names_map_to_key_vault_names():
    assert key_vault_name("SHOPIFY_CLIENT_SECRET") == "SHOPIFY-CLIENT-SECRET"
    assert {"DATABASE_URL", "SHOPIFY_CLIENT_SECRET", "TOKEN_ENCRYPTION_KEY"} <= set(secret_setting_names())


def test_missing_secret_error_names_the_secret(monkeypatch):
    monkeypatch.delenv("SHOPIFY_CLIENT_SECRET", raising=False)
    get_settings.cache_clear()
    reset_secret_store()
    with pytest.raises(MissingSecretError, match="SHOPIFY_CLIENT_SECRET"):
        get_secret("SHOPIFY_CLIENT_SECRET")


def test_secret_from_environment_and_never_in_settings_repr(monkeypatch):
    monkeypatch.setenv("SHOPIFY_CLIENT_SECRET", "s3cr3t-value")
    get_settings.cache_clear()
    reset_secret_store()
    try:
        assert get_secret("SHOPIFY_CLIENT_SECRET") == "s3cr3t-value"
        assert "s3cr3t-value" not in repr(Settings()) and "s3cr3t-value" not in str(Settings().model_dump())
    finally:
        monkeypatch.delenv("SHOPIFY_CLIENT_SECRET")
        get_settings.cache_clear()
        reset_secret_store()


def test_cached_for_the_ttl_then_read_again(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("shared.secrets.time.monotonic", lambda: clock[0])
    source = CountingSource({"SHOPIFY_CLIENT_SECRET": "v1"})
    store = SecretStore(source, "test vault", ttl_seconds=60)
    assert store.get("SHOPIFY_CLIENT_SECRET") == "v1"
    source.values["SHOPIFY_CLIENT_SECRET"] = "v2"  # rotated in the vault
    clock[0] += 59
    assert store.get("SHOPIFY_CLIENT_SECRET") == "v1" and source.reads == 1
    clock[0] += 2
    assert store.get("SHOPIFY_CLIENT_SECRET") == "v2" and source.reads == 2


def test_only_declared_secrets_can_be_read():
    store = SecretStore(CountingSource({}), "test", 60)
    with pytest.raises(KeyError, match="not declared"):
        store.get("SHOPIFY_SCOPES")
