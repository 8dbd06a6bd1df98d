"""The Key Vault path of shared.secrets, end to end against a loopback stand-in that speaks Key
Vault's REST protocol (challenge authentication, secret bundles, Key Vault's errors) over HTTPS.
The real `SecretClient` and azure-core pipeline run; only the token credential is a test one."""

from __future__ import annotations

import time

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError
from azure.keyvault.secrets import SecretClient
from azure.keyvault.secrets._shared import http_challenge_cache

import shared.secrets
from shared.local.key_vault_standin import KeyVaultStandIn
from shared.secrets import KeyVaultSecrets, MissingSecretError, SecretStore, get_optional_secret, get_secret
from shared.settings import get_settings

KEY_VAULT_SCOPE = "https://vault.azure.net/.default"
CLIENT_SECRET = "shpss_0123456789abcdef-client-secret"
ENCRYPTION_KEY = "k1:q83vEjRWeJCrze8SNFZ4mg0Tmhw9zK7rZh1X4s0bWqM="


class StaticTokenCredential:
    """azure-core's TokenCredential protocol: issues one bearer token and records what it is asked for."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.requests: list[tuple[tuple[str, ...], dict]] = []

    def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        self.requests.append((scopes, kwargs))
        return AccessToken(self.token, int(time.time()) + 3600)

    @property
    def scopes(self) -> list[tuple[str, ...]]:
        return [scopes for scopes, _ in self.requests]


@pytest.fixture()
def vault():
    with KeyVaultStandIn() as standin:
        # The SDK caches challenges per host:port for the process; a port reused from an earlier
        # stand-in must not skip this one's challenge.
        http_challenge_cache.remove_challenge_for_url(standin.vault_url)
        yield standin
        http_challenge_cache.remove_challenge_for_url(standin.vault_url)


@pytest.fixture()
def credential(vault):
    return StaticTokenCredential(vault.token)


def standin_client_kwargs(vault: KeyVaultStandIn) -> dict:
    # Trust the stand-in's self-signed certificate (verification stays on), and accept its challenge
    # for https://vault.azure.net although the vault is on 127.0.0.1.
    return {"connection_verify": vault.certificate_path, "verify_challenge_resource": False}


def key_vault_store(vault: KeyVaultStandIn, credential, ttl: float = 300) -> SecretStore:
    source = KeyVaultSecrets(vault.vault_url, credential=credential, **standin_client_kwargs(vault))
    return SecretStore(source, f"Key Vault secret in {vault.vault_url}", ttl)


def test_reads_the_dashed_vault_name_through_the_challenge_flow(vault, credential):
    vault.set_secret("SHOPIFY-CLIENT-SECRET", CLIENT_SECRET)
    store = key_vault_store(vault, credential)

    assert store.get("SHOPIFY_CLIENT_SECRET") == CLIENT_SECRET

    # Key Vault's challenge protocol: a bare request, the 401 challenge, then the request with a token.
    assert [(r.path, r.bearer, r.status) for r in vault.requests] == [
        ("/secrets/SHOPIFY-CLIENT-SECRET/", False, 401),
        ("/secrets/SHOPIFY-CLIENT-SECRET/", True, 200),
    ]
    assert all(r.api_version for r in vault.requests)
    # The token was asked for Key Vault's scope, in the tenant named by the challenge.
    assert credential.scopes == [(KEY_VAULT_SCOPE,)]
    assert credential.requests[0][1].get("tenant_id") == vault.tenant_id


def test_missing_secret_names_it_and_shows_no_value(vault, credential):
    vault.set_secret("TOKEN-ENCRYPTION-KEY", ENCRYPTION_KEY)
    store = key_vault_store(vault, credential)

    with pytest.raises(MissingSecretError) as raised:
        store.get("SHOPIFY_CLIENT_SECRET")

    message = str(raised.value)
    assert raised.value.name == "SHOPIFY_CLIENT_SECRET" and "SHOPIFY_CLIENT_SECRET" in message
    assert vault.vault_url in message
    assert ENCRYPTION_KEY not in message and ENCRYPTION_KEY not in repr(raised.value)
    assert credential.token not in message
    assert vault.requests[-1].path == "/secrets/SHOPIFY-CLIENT-SECRET/" and vault.requests[-1].status == 404
    assert store.get("TOKEN_ENCRYPTION_KEY") == ENCRYPTION_KEY  # the same client still reads the others


def test_cached_within_the_ttl_and_a_rotation_is_read_after_it(vault, credential, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("shared.secrets.time.monotonic", lambda: clock[0])
    vault.set_secret("SHOPIFY-CLIENT-SECRET", "first-value")
    store = key_vault_store(vault, credential, ttl=60)

    assert store.get("SHOPIFY_CLIENT_SECRET") == "first-value"
    seen = len(vault.requests)

    vault.set_secret("SHOPIFY-CLIENT-SECRET", "rotated-value")
    clock[0] += 59
    assert store.get("SHOPIFY_CLIENT_SECRET") == "first-value"
    assert len(vault.requests) == seen  # no request within the TTL

    clock[0] += 2
    assert store.get("SHOPIFY_CLIENT_SECRET") == "rotated-value"
    # The challenge is cached by the SDK: the re-read is one request, with the token it already has.
    assert [(r.path, r.authorized, r.status) for r in vault.requests[seen:]] == [
        ("/secrets/SHOPIFY-CLIENT-SECRET/", True, 200)
    ]
    assert credential.scopes == [(KEY_VAULT_SCOPE,)]


def test_a_wrong_token_is_refused_and_nothing_is_cached(vault, monkeypatch):
    vault.set_secret("SHOPIFY-CLIENT-SECRET", CLIENT_SECRET)
    wrong = StaticTokenCredential("not-the-vaults-token")
    store = key_vault_store(vault, wrong)

    with pytest.raises(ClientAuthenticationError) as raised:
        store.get("SHOPIFY_CLIENT_SECRET")

    assert raised.value.status_code == 401
    assert CLIENT_SECRET not in str(raised.value)
    assert all(r.status == 401 for r in vault.requests) and any(r.bearer for r in vault.requests)
    assert wrong.scopes and all(scopes == (KEY_VAULT_SCOPE,) for scopes in wrong.scopes)

    # The refusal was not cached as "no value": with a valid token the next read gets the secret.
    wrong.token = vault.token
    assert store.get("SHOPIFY_CLIENT_SECRET") == CLIENT_SECRET


def test_through_secret_store_with_key_vault_url_set(vault, credential, monkeypatch):
    vault.set_secret("SHOPIFY-CLIENT-SECRET", CLIENT_SECRET)
    built_for: list[str] = []

    def key_vault_secrets(vault_url: str) -> KeyVaultSecrets:
        # secret_store() builds the source from settings; the test only adds its credential and TLS trust.
        built_for.append(vault_url)
        return KeyVaultSecrets(vault_url, credential=credential, **standin_client_kwargs(vault))

    monkeypatch.setattr(shared.secrets, "KeyVaultSecrets", key_vault_secrets)
    monkeypatch.setenv("KEY_VAULT_URL", vault.vault_url)
    monkeypatch.setenv("SHOPIFY_CLIENT_SECRET", "from-the-environment-not-the-vault")
    monkeypatch.delenv("TOKEN_ENCRYPTION_KEY", raising=False)
    get_settings.cache_clear()
    shared.secrets.reset_secret_store()
    try:
        assert get_secret("SHOPIFY_CLIENT_SECRET") == CLIENT_SECRET
        assert get_optional_secret("TOKEN_ENCRYPTION_KEY") is None
        with pytest.raises(MissingSecretError, match=r"TOKEN_ENCRYPTION_KEY .*Key Vault secret in https://127"):
            get_secret("TOKEN_ENCRYPTION_KEY")
        assert get_secret("SHOPIFY_CLIENT_SECRET") == CLIENT_SECRET
        assert built_for == [vault.vault_url]
        assert [r.path for r in vault.requests if r.authorized] == [
            "/secrets/SHOPIFY-CLIENT-SECRET/",
            "/secrets/TOKEN-ENCRYPTION-KEY/",
        ]  # the second reads came from the cache
    finally:
        get_settings.cache_clear()
        shared.secrets.reset_secret_store()


def test_without_a_credential_it_uses_default_azure_credential(vault, monkeypatch):
    vault.set_secret("SHOPIFY-CLIENT-SECRET", CLIENT_SECRET)
    made: list[StaticTokenCredential] = []

    def default_azure_credential(**kwargs) -> StaticTokenCredential:
        made.append(StaticTokenCredential(vault.token))
        return made[-1]

    monkeypatch.setattr("azure.identity.DefaultAzureCredential", default_azure_credential)
    source = KeyVaultSecrets(vault.vault_url, **standin_client_kwargs(vault))

    assert source.read("SHOPIFY_CLIENT_SECRET") == CLIENT_SECRET
    assert len(made) == 1 and made[0].scopes == [(KEY_VAULT_SCOPE,)]


def test_the_sdk_checks_the_challenge_resource_unless_told_not_to(vault, credential):
    vault.set_secret("SHOPIFY-CLIENT-SECRET", CLIENT_SECRET)
    source = KeyVaultSecrets(vault.vault_url, credential=credential, connection_verify=vault.certificate_path)

    with pytest.raises(ValueError, match="verify_challenge_resource"):
        source.read("SHOPIFY_CLIENT_SECRET")
    assert credential.requests == []  # no token was asked for a resource that is not this host's


def test_the_certificate_is_verified(vault, credential):
    vault.set_secret("SHOPIFY-CLIENT-SECRET", CLIENT_SECRET)
    source = KeyVaultSecrets(vault.vault_url, credential=credential, verify_challenge_resource=False, retry_total=0)

    with pytest.raises(ServiceRequestError):
        source.read("SHOPIFY_CLIENT_SECRET")
    assert vault.requests == [] and credential.requests == []


def test_names_key_vault_refuses(vault, credential):
    with pytest.raises(ValueError, match="letters, digits and dashes"):
        vault.set_secret("SHOPIFY_CLIENT_SECRET", CLIENT_SECRET)
    vault.set_secret("SHOPIFY-CLIENT-SECRET", CLIENT_SECRET)
    client = SecretClient(vault.vault_url, credential, **standin_client_kwargs(vault))

    with pytest.raises(HttpResponseError) as raised:
        client.get_secret("SHOPIFY_CLIENT_SECRET")  # the setting name, not its vault name
    assert raised.value.status_code == 400 and raised.value.error.code == "BadParameter"

    bundle = client.get_secret("shopify-client-secret")  # Key Vault names are case-insensitive
    assert bundle.value == CLIENT_SECRET and bundle.name == "SHOPIFY-CLIENT-SECRET"
    assert bundle.id == f"{vault.vault_url}/secrets/SHOPIFY-CLIENT-SECRET/{bundle.properties.version}"
    assert bundle.properties.enabled and bundle.properties.recovery_level == "Recoverable+Purgeable"


def test_versions_and_key_vault_not_found_body(vault, credential):
    first = vault.set_secret("SHOPIFY-CLIENT-SECRET", "old")
    vault.set_secret("SHOPIFY-CLIENT-SECRET", "new")
    client = SecretClient(vault.vault_url, credential, **standin_client_kwargs(vault))

    assert client.get_secret("SHOPIFY-CLIENT-SECRET").value == "new"
    assert client.get_secret("SHOPIFY-CLIENT-SECRET", version=first).value == "old"
    with pytest.raises(HttpResponseError) as raised:
        client.get_secret("NO-SUCH-SECRET")
    assert raised.value.status_code == 404 and raised.value.error.code == "SecretNotFound"
