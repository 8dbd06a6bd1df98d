"""The one way the app reads a secret.

With `KEY_VAULT_URL` set, secrets come from Key Vault (`SecretClient` with
`DefaultAzureCredential`); the vault name is the setting name with dashes
(`SHOPIFY_CLIENT_SECRET` -> `SHOPIFY-CLIENT-SECRET`), cached for a time-to-live so a rotation
is picked up without a restart. Otherwise they come from the environment (local.settings.json).
Values never appear in an error message or a log line: errors name the secret, not its value.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from shared.settings import Settings, get_settings, secret_setting_names
from shared.telemetry import external_call, register_secret_value

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential


class MissingSecretError(RuntimeError):
    """A required secret has no value. Not retryable: someone has to set it."""

    retryable = False

    def __init__(self, name: str, where: str) -> None:
        super().__init__(f"required secret {name} is not set ({where})")
        self.name = name


class SecretSource(Protocol):
    def read(self, name: str) -> str | None: ...


def key_vault_name(setting_name: str) -> str:
    """Key Vault allows letters, digits and dashes only."""
    return setting_name.upper().replace("_", "-")


class EnvironmentSecrets:
    """Secrets from the environment, through the settings model (local.settings.json locally)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def read(self, name: str) -> str | None:
        value = getattr(self._settings, name.lower(), None)
        if value is None:
            return None
        return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)


class KeyVaultSecrets:
    """Secrets from Key Vault. `credential` defaults to `DefaultAzureCredential`; `client_kwargs`
    go to `SecretClient` (tests against the local stand-in pass `connection_verify` and
    `verify_challenge_resource=False`)."""

    def __init__(self, vault_url: str, credential: TokenCredential | None = None, **client_kwargs: Any) -> None:
        # Imported here: the Azure SDK is only needed when a vault is configured.
        from azure.keyvault.secrets import SecretClient

        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        self._client = SecretClient(vault_url=vault_url, credential=credential, **client_kwargs)

    def read(self, name: str) -> str | None:
        from azure.core.exceptions import ResourceNotFoundError

        vault_name = key_vault_name(name)
        # The span names the secret, never its value; Key Vault bills per operation.
        with external_call("key_vault", "get_secret", secret=vault_name) as call:
            call.add_cost("operations", 1)
            try:
                value = self._client.get_secret(vault_name).value
            except ResourceNotFoundError:
                call.set_attribute("key_vault.found", False)  # an optional secret left unset: normal
                return None
            call.set_attribute("key_vault.found", True)
            return value


@dataclass
class _Cached:
    value: str | None
    expires_at: float


class SecretStore:
    """Reads secrets from a source, caching each for `ttl_seconds`."""

    def __init__(self, source: SecretSource, where: str, ttl_seconds: float) -> None:
        self._source = source
        self._where = where
        self._ttl = ttl_seconds
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> str:
        value = self.get_optional(name)
        if value is None or value == "":
            raise MissingSecretError(name.upper(), self._where)
        return value

    def get_optional(self, name: str) -> str | None:
        name = name.upper()
        if name not in secret_setting_names():
            raise KeyError(f"{name} is not declared as a secret in shared.settings.Settings")
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(name)
            if cached and cached.expires_at > now:
                return cached.value
        value = self._source.read(name)
        register_secret_value(value)  # so telemetry can mask it wherever it turns up
        with self._lock:
            self._cache[name] = _Cached(value, now + self._ttl)
        return value

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


_store: SecretStore | None = None
_store_lock = threading.Lock()


def secret_store() -> SecretStore:
    global _store
    with _store_lock:
        if _store is None:
            settings = get_settings()
            if settings.key_vault_url:
                _store = SecretStore(
                    KeyVaultSecrets(settings.key_vault_url),
                    f"Key Vault secret in {settings.key_vault_url}",
                    settings.secret_cache_ttl_seconds,
                )
            else:
                # The environment cannot change under us, so there is nothing to expire.
                _store = SecretStore(EnvironmentSecrets(settings), "environment / local.settings.json", float("inf"))
        return _store


def get_secret(name: str) -> str:
    """The value of a required secret; MissingSecretError names it when absent."""
    return secret_store().get(name)


def get_optional_secret(name: str) -> str | None:
    """The value of an optional secret (a cloud provider's key), or None."""
    return secret_store().get_optional(name)


def reset_secret_store() -> None:
    """Forget the store and its cache (tests, and after settings change)."""
    global _store
    with _store_lock:
        _store = None
