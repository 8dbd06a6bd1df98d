"""The media store: the local folder, Blob Storage against a real Azurite, and how settings choose."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from shared.local.demo import apply_settings
from shared.media_store import (
    BlobMediaStore,
    LocalMediaStore,
    MediaStoreError,
    blob_service_from_connection_string,
    media_store,
)

SHOP = "media-test.myshopify.com"
NOW = datetime.now(timezone.utc)
VIDEO = os.urandom(300_000)  # bigger than one request's worth in some clients; random so nothing compresses


@pytest.fixture(scope="module")
def blob_store(azurite) -> BlobMediaStore:
    return BlobMediaStore(blob_service_from_connection_string(azurite.connection_string), "media-store-test")


# --- local folder ----------------------------------------------------------------------------

def test_local_store_round_trip_and_no_url_of_its_own(tmp_path: Path):
    store = LocalMediaStore(tmp_path)
    source = tmp_path / "in.mp4"
    source.write_bytes(VIDEO)
    uri = store.put_file(SHOP, "run-1", "briefing.mp4", source)
    assert uri == f"{SHOP}/run-1/briefing.mp4"
    assert store.read_bytes(uri) == VIDEO
    assert store.download_to(uri, tmp_path / "out.mp4").read_bytes() == VIDEO
    assert store.media_url(uri, NOW, timedelta(minutes=5)) is None
    assert sorted(p.name for p in (tmp_path / SHOP / "run-1").iterdir()) == ["briefing.mp4"]  # no temp files left


@pytest.mark.parametrize("shop, run_id, name", [("..", "r", "a.mp4"), ("s", "a/b", "a.mp4"), ("s", "r", ".hidden"),
                                                ("s", "r", "a..mp4"), ("s", "r", "")])
def test_unsafe_names_are_refused_by_both_stores(tmp_path: Path, blob_store, shop, run_id, name):
    for store in (LocalMediaStore(tmp_path), blob_store):
        with pytest.raises(MediaStoreError, match="not a safe path component"):
            store.put_bytes(shop, run_id, name, b"x")
    assert list(tmp_path.iterdir()) == []


# --- Blob Storage on Azurite -------------------------------------------------------------------

def test_blob_store_uploads_reads_and_links_a_file(blob_store, tmp_path: Path, spans):
    source = tmp_path / "briefing.mp4"
    source.write_bytes(VIDEO)
    uri = blob_store.put_file(SHOP, "run-1", "briefing.mp4", source)
    assert uri == f"{SHOP}/run-1/briefing.mp4"
    assert blob_store.read_bytes(uri) == VIDEO
    assert blob_store.download_to(uri, tmp_path / "copy.mp4").read_bytes() == VIDEO
    properties = blob_store.service.get_blob_client("media-store-test", uri).get_blob_properties()
    assert properties.content_settings.content_type == "video/mp4" and properties.size == len(VIDEO)

    url = blob_store.media_url(uri, datetime.now(timezone.utc), timedelta(minutes=10))
    assert url.startswith(f"{blob_store.account_url}/media-store-test/{SHOP}/run-1/briefing.mp4?")
    fetched = httpx.get(url)
    assert fetched.status_code == 200 and fetched.content == VIDEO
    assert fetched.headers["content-type"] == "video/mp4"
    # The link reads and nothing more, and without its signature the blob is private.
    assert httpx.get(url.split("?")[0]).status_code in (401, 403, 404)
    overwrite = httpx.put(url, content=b"evil", headers={"x-ms-blob-type": "BlockBlob"})
    assert overwrite.status_code == 403
    assert blob_store.read_bytes(uri) == VIDEO

    uploads = [s for s in spans.get_finished_spans() if s.name == "blob_storage upload"]
    assert uploads and uploads[-1].attributes["external.outcome"] == "ok"
    assert uploads[-1].attributes["bytes"] == len(VIDEO)


def test_an_expired_link_is_refused(blob_store):
    uri = blob_store.put_bytes(SHOP, "run-2", "narration.wav", b"RIFF....WAVE")
    long_ago = datetime.now(timezone.utc) - timedelta(hours=3)
    stale = blob_store.media_url(uri, long_ago, timedelta(minutes=30))
    assert httpx.get(stale).status_code == 403
    fresh = blob_store.media_url(uri, datetime.now(timezone.utc), timedelta(minutes=30))
    assert httpx.get(fresh).content == b"RIFF....WAVE"


def test_overwriting_replaces_the_whole_blob(blob_store):
    uri = blob_store.put_bytes(SHOP, "run-3", "briefing.html", b"<p>first, and longer</p>")
    blob_store.put_bytes(SHOP, "run-3", "briefing.html", b"<p>second</p>")
    assert blob_store.read_bytes(uri) == b"<p>second</p>"


def test_a_missing_blob_is_a_permanent_error(blob_store):
    with pytest.raises(MediaStoreError, match="no media at") as caught:
        blob_store.read_bytes(f"{SHOP}/run-404/briefing.mp4")
    assert caught.value.retryable is False


def test_an_unreachable_account_is_a_retryable_error(tmp_path):
    closed = blob_service_from_connection_string(
        "UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://127.0.0.1:9")
    closed._config.retry_policy.total_retries = 0
    store = BlobMediaStore(closed, "nowhere")
    with pytest.raises(MediaStoreError) as caught:
        store.put_bytes(SHOP, "run-1", "briefing.html", b"x")
    assert caught.value.retryable is True and "unreachable" in str(caught.value)


# --- settings choose the store ---------------------------------------------------------------

def _clear(*names):
    for name in names:
        os.environ.pop(name, None)


STORE_SETTINGS = ("MEDIA_STORE", "MEDIA_BLOB_ACCOUNT_URL", "MEDIA_BLOB_CONNECTION_STRING", "AzureWebJobsStorage",
                  "AzureWebJobsStorage__blobServiceUri", "AzureWebJobsStorage__accountName")


def test_auto_is_the_local_folder_even_with_the_hosts_development_storage(restore_environment, local_data_dir):
    _clear(*STORE_SETTINGS)
    apply_settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    store = media_store()
    assert isinstance(store, LocalMediaStore) and store.root == local_data_dir / "media"


def test_blob_with_development_storage_is_azurite_on_its_default_port(restore_environment):
    _clear(*STORE_SETTINGS)
    apply_settings({"MEDIA_STORE": "blob", "AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    store = media_store()
    assert isinstance(store, BlobMediaStore)
    assert store.account_url == "http://127.0.0.1:10000/devstoreaccount1"
    assert store.container == "briefings"


def test_an_account_url_means_the_apps_identity_and_user_delegation_links(restore_environment):
    _clear(*STORE_SETTINGS)
    apply_settings({"MEDIA_BLOB_ACCOUNT_URL": "https://advisormedia.blob.core.windows.net",
                    "AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    store = media_store()  # auto: an account is named
    assert isinstance(store, BlobMediaStore)
    assert store.account_url == "https://advisormedia.blob.core.windows.net"
    assert getattr(store.service.credential, "account_key", None) is None  # a token credential, no key
    assert type(store.service.credential).__name__ == "DefaultAzureCredential"


def test_the_hosts_identity_based_connection_is_used_too(restore_environment):
    _clear(*STORE_SETTINGS)
    apply_settings({"AzureWebJobsStorage__blobServiceUri": "https://hoststore.blob.core.windows.net"})
    store = media_store()
    assert isinstance(store, BlobMediaStore) and store.account_url == "https://hoststore.blob.core.windows.net"


def test_the_hosts_identity_based_account_name_is_used_too(restore_environment):
    _clear(*STORE_SETTINGS)
    apply_settings({"AzureWebJobsStorage__accountName": "advisorfunc"})
    store = media_store()
    assert isinstance(store, BlobMediaStore) and store.account_url == "https://advisorfunc.blob.core.windows.net"


def test_blob_without_an_account_names_the_settings_to_set(restore_environment):
    _clear(*STORE_SETTINGS)
    apply_settings({"MEDIA_STORE": "blob"})
    with pytest.raises(MediaStoreError, match="MEDIA_BLOB_ACCOUNT_URL"):
        media_store()


def test_a_plain_http_account_url_is_refused(restore_environment):
    _clear(*STORE_SETTINGS)
    apply_settings({"MEDIA_BLOB_ACCOUNT_URL": "http://advisormedia.blob.core.windows.net"})
    with pytest.raises(MediaStoreError, match="https"):
        media_store()


def test_a_broken_connection_string_is_named_without_quoting_it(restore_environment):
    _clear(*STORE_SETTINGS)
    secret = "AccountKey=c2VjcmV0LWtleS12YWx1ZQ=="
    apply_settings({"MEDIA_STORE": "blob", "MEDIA_BLOB_CONNECTION_STRING": f"NotAField;{secret}"})
    with pytest.raises(MediaStoreError, match="connection string") as caught:
        media_store()
    assert secret not in str(caught.value)


# --- identity: a user delegation SAS, on an Azurite that takes tokens --------------------------

class UnsignedTokenCredential:
    """Stands in for Entra ID: a token Azurite's `--oauth basic` accepts. Azurite checks its
    audience, issuer and lifetime but not a signature, so none is made."""

    TENANT = "ab1f708d-50f6-404c-a006-d71b2ac7a606"
    OBJECT_ID = "23657296-5cd5-45b0-a809-d972a7f4dfe1"

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes, **kwargs):
        import base64
        import json
        import time

        from azure.core.credentials import AccessToken

        self.scopes.append(scopes)
        now = int(time.time())
        claims = {"aud": "https://storage.azure.com", "iss": f"https://sts.windows.net/{self.TENANT}/",
                  "iat": now - 60, "nbf": now - 60, "exp": now + 3600, "oid": self.OBJECT_ID, "tid": self.TENANT}
        part = lambda data: base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()  # noqa: E731
        return AccessToken(f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.", now + 3600)


def _self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def identity_store(tmp_path_factory):
    from shared.local.azurite import running_azurite
    from shared.media_store import blob_service_from_account_url

    cert, key = _self_signed_certificate(tmp_path_factory.mktemp("azurite-tls"))
    with running_azurite(extra_args=("--oauth", "basic", "--cert", str(cert), "--key", str(key))) as server:
        credential = UnsignedTokenCredential()
        service = blob_service_from_account_url(f"{server.blob_origin}/devstoreaccount1", credential,
                                                connection_verify=cert)
        yield BlobMediaStore(service, "identity-media"), credential, cert


def test_with_an_identity_links_are_user_delegation_sas(identity_store, spans):
    import ssl

    store, credential, cert_path = identity_store
    cert = ssl.create_default_context(cafile=str(cert_path))
    assert getattr(store.service.credential, "account_key", None) is None
    uri = store.put_bytes(SHOP, "run-1", "briefing.mp4", VIDEO)
    assert credential.scopes and all(s == ("https://storage.azure.com/.default",) for s in credential.scopes)
    now = datetime.now(timezone.utc)
    first = store.media_url(uri, now, timedelta(minutes=15))
    second = store.media_url(uri, now + timedelta(minutes=1), timedelta(minutes=15))
    for url in (first, second):
        query = dict(part.split("=", 1) for part in url.split("?", 1)[1].split("&"))
        # Signed with a user delegation key issued to the app's identity, read-only, https only.
        assert query["skoid"] == UnsignedTokenCredential.OBJECT_ID and query["sktid"] == UnsignedTokenCredential.TENANT
        assert query["sp"] == "r" and query["spr"] == "https"
        assert httpx.get(url, verify=cert).content == VIDEO
    assert httpx.get(first.replace("sig=", "sig=A"), verify=cert).status_code == 403
    # One delegation key serves many links; a link that would outlive it gets a new, longer one.
    assert [s.name for s in spans.get_finished_spans()].count("blob_storage user_delegation_key") == 1
    day = store.media_url(uri, now, timedelta(hours=20))
    assert httpx.get(day, verify=cert).content == VIDEO
    assert [s.name for s in spans.get_finished_spans()].count("blob_storage user_delegation_key") == 2
    expiry = dict(part.split("=", 1) for part in day.split("?", 1)[1].split("&"))["se"]
    assert expiry.startswith((now + timedelta(hours=20)).strftime("%Y-%m-%dT%H"))
