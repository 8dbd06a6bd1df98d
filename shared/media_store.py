"""Where a run's media (narration, video, briefing page) is kept, and the links a browser fetches.

Two stores behind one interface, chosen by settings (`MEDIA_STORE`):

- `LocalMediaStore`: a folder under LOCAL_DATA_DIR. Writes go to a temporary name and are
  renamed into place, so a reader never sees half a file. It has no public URL of its own;
  the app serves its files on a signed route (`media_url` returns None).
- `BlobMediaStore`: Azure Blob Storage (Azurite locally). A blob upload is committed whole or
  not at all. Links are short-lived read-only SAS URLs: from a user delegation key when the app
  signs in with its identity (Azure), from the account key when it has one (Azurite).

Every file sits at `<shop>/<run_id>/<name>` in both stores; that relative name is the "media
uri" the briefing record keeps. Links are minted from it when a page is rendered, because a
SAS link stored in the record would be dead by the time someone opens an old briefing.
"""

from __future__ import annotations

import mimetypes
import os
import re
import shutil
import tempfile
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import quote

from shared.settings import get_settings

_SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")

# The Functions host's own storage connection (read by the host, not declared in Settings):
# a connection string, or identity-based as `AzureWebJobsStorage__blobServiceUri` / `__accountName`.
HOST_STORAGE = "AzureWebJobsStorage"
HOST_STORAGE_BLOB_URI = "AzureWebJobsStorage__blobServiceUri"
HOST_STORAGE_ACCOUNT_NAME = "AzureWebJobsStorage__accountName"

CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
}


class MediaStoreError(RuntimeError):
    """The file is missing or the request was refused: trying again will not help."""

    retryable = False


class MediaStoreUnavailableError(MediaStoreError):
    """The storage service could not be reached or was busy: a retry may help."""

    retryable = True


@runtime_checkable
class MediaStore(Protocol):
    kind: str

    def put_file(self, shop: str, run_id: str, name: str, source: Path) -> str: ...
    def put_bytes(self, shop: str, run_id: str, name: str, data: bytes) -> str: ...
    def read_bytes(self, uri: str) -> bytes: ...
    def download_to(self, uri: str, target: Path) -> Path: ...
    def media_url(self, uri: str, now: datetime, valid_for: timedelta) -> str | None:
        """An absolute, read-only, expiring URL a browser can fetch; None if the app must serve it."""
        ...


def _check_part(value: str, what: str) -> str:
    if not _SAFE_PART.fullmatch(value) or ".." in value:
        raise MediaStoreError(f"{what} is not a safe path component: {value[:60]!r}")
    return value


def media_uri(shop: str, run_id: str, name: str) -> str:
    return f"{_check_part(shop, 'shop')}/{_check_part(run_id, 'run id')}/{_check_part(name, 'file name')}"


def split_media_uri(uri: str) -> tuple[str, str, str]:
    parts = uri.split("/")
    if len(parts) != 3:
        raise MediaStoreError(f"not a media uri: {uri[:80]!r}")
    shop, run_id, name = parts
    media_uri(shop, run_id, name)
    return shop, run_id, name


def content_type_of(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


class LocalMediaStore:
    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, shop: str, run_id: str, name: str) -> Path:
        return self.root / _check_part(shop, "shop") / _check_part(run_id, "run id") / _check_part(name, "file name")

    def put_file(self, shop: str, run_id: str, name: str, source: Path) -> str:
        target = self._path(shop, run_id, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.")
        os.close(fd)
        shutil.copyfile(source, temp)
        os.replace(temp, target)
        return media_uri(shop, run_id, name)

    def put_bytes(self, shop: str, run_id: str, name: str, data: bytes) -> str:
        target = self._path(shop, run_id, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, target)
        return media_uri(shop, run_id, name)

    def local_path(self, uri: str) -> Path:
        return self._path(*split_media_uri(uri))

    def read_bytes(self, uri: str) -> bytes:
        path = self.local_path(uri)
        if not path.is_file():
            raise MediaStoreError(f"no media at {uri}")
        return path.read_bytes()

    def download_to(self, uri: str, target: Path) -> Path:
        path = self.local_path(uri)
        if not path.is_file():
            raise MediaStoreError(f"no media at {uri}")
        shutil.copyfile(path, target)
        return target

    def media_url(self, uri: str, now: datetime, valid_for: timedelta) -> str | None:
        split_media_uri(uri)
        return None  # a folder has no URL: the app serves it on its signed media route


class BlobMediaStore:
    """Media as block blobs in one container. `service` is an `azure.storage.blob.BlobServiceClient`."""

    kind = "blob"
    # Ask for a user delegation key that outlives many links; a new one when a link would outlive it.
    DELEGATION_KEY_LIFETIME = timedelta(hours=6)
    CLOCK_SKEW = timedelta(minutes=5)

    def __init__(self, service, container: str) -> None:
        self.service = service
        self.container = container
        self._container_ready = False
        self._delegation_key = None
        self._delegation_key_expiry: datetime | None = None
        self._lock = threading.Lock()

    @property
    def account_url(self) -> str:
        return self.service.url.rstrip("/")

    def _blob(self, uri: str):
        split_media_uri(uri)
        return self.service.get_blob_client(self.container, uri)

    def _ensure_container(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        from shared.telemetry import external_call

        if self._container_ready:
            return
        with external_call("blob_storage", "create_container") as call:
            try:
                self.service.create_container(self.container)
            except ResourceExistsError:
                call.set_outcome("exists")
        self._container_ready = True

    def _upload(self, uri: str, data, length: int) -> str:
        from azure.core.exceptions import ResourceNotFoundError
        from azure.storage.blob import ContentSettings

        from shared.telemetry import external_call

        blob = self._blob(uri)
        settings = ContentSettings(content_type=content_type_of(uri), cache_control="private, max-age=3600")
        for attempt in (1, 2):
            if hasattr(data, "seek"):
                data.seek(0)
            try:
                with _translated(uri), external_call("blob_storage", "upload", bytes=length) as call:
                    blob.upload_blob(data, length=length, overwrite=True, content_settings=settings)
                    call.add_cost("bytes_uploaded", length)
                return uri
            except MediaStoreError as exc:
                # The container is made on first use (infra may already have made it).
                if attempt == 1 and isinstance(exc.__cause__, ResourceNotFoundError):
                    self._ensure_container()
                    continue
                raise
        raise AssertionError("unreachable")

    def put_file(self, shop: str, run_id: str, name: str, source: Path) -> str:
        uri = media_uri(shop, run_id, name)
        with source.open("rb") as handle:
            return self._upload(uri, handle, source.stat().st_size)

    def put_bytes(self, shop: str, run_id: str, name: str, data: bytes) -> str:
        return self._upload(media_uri(shop, run_id, name), data, len(data))

    def read_bytes(self, uri: str) -> bytes:
        from shared.telemetry import external_call

        blob = self._blob(uri)
        with _translated(uri), external_call("blob_storage", "download"):
            return blob.download_blob().readall()

    def download_to(self, uri: str, target: Path) -> Path:
        from shared.telemetry import external_call

        blob = self._blob(uri)
        with _translated(uri), external_call("blob_storage", "download"), target.open("wb") as handle:
            blob.download_blob().readinto(handle)
        return target

    def _user_delegation_key(self, now: datetime, needed_until: datetime):
        """A user delegation key valid until at least `needed_until`, reused across links."""
        from shared.telemetry import external_call

        with self._lock:
            if self._delegation_key is None or self._delegation_key_expiry < needed_until:
                # Azure issues these keys for at most seven days.
                expiry = min(max(now + self.DELEGATION_KEY_LIFETIME, needed_until + timedelta(hours=1)),
                             now + timedelta(days=7))
                with _translated("user delegation key"), external_call("blob_storage", "user_delegation_key"):
                    self._delegation_key = self.service.get_user_delegation_key(now - self.CLOCK_SKEW, expiry)
                self._delegation_key_expiry = expiry
            return self._delegation_key, self._delegation_key_expiry

    def media_url(self, uri: str, now: datetime, valid_for: timedelta) -> str | None:
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        split_media_uri(uri)
        expiry = now + valid_for
        signing: dict = {}
        credential = self.service.credential
        account_key = getattr(credential, "account_key", None)
        if account_key:
            # Azurite or a key-based account: a service SAS from the account key.
            signing["account_key"] = account_key
        else:
            # Identity (Azure): a user delegation SAS, which the app's role assignment bounds.
            key, key_expiry = self._user_delegation_key(now, expiry)
            expiry = min(expiry, key_expiry)
            signing["user_delegation_key"] = key
        sas = generate_blob_sas(
            account_name=self.service.account_name,
            container_name=self.container,
            blob_name=uri,
            permission=BlobSasPermissions(read=True),
            start=now - self.CLOCK_SKEW,
            expiry=expiry,
            protocol="https" if self.account_url.startswith("https://") else "https,http",
            **signing,
        )
        return f"{self.account_url}/{quote(self.container)}/{quote(uri)}?{sas}"


class _translated:
    """Map the SDK's errors to the store's: missing is permanent, throttling and outages retry."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if exc is None:
            return False
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
            ServiceResponseError,
        )

        if isinstance(exc, ResourceNotFoundError):
            raise MediaStoreError(f"no media at {self.what}") from exc
        if isinstance(exc, ClientAuthenticationError):
            raise MediaStoreError(f"blob storage refused the app's credentials ({self.what})") from exc
        if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
            raise MediaStoreUnavailableError(f"blob storage unreachable ({self.what}): {type(exc).__name__}") from exc
        if isinstance(exc, HttpResponseError):
            status = exc.status_code or 0
            error = MediaStoreUnavailableError if status in (408, 429) or status >= 500 else MediaStoreError
            raise error(f"blob storage answered {status} ({self.what})") from exc
        return False


# --- choosing the store -------------------------------------------------------------------------

def blob_service_from_connection_string(connection_string: str):
    """A BlobServiceClient for a connection string, Azurite's `UseDevelopmentStorage=true` included.

    The SDK knows the development account and its published key; `DevelopmentStorageProxyUri`
    (the documented way to move the emulator off port 10000) is honoured by keeping that
    credential and pointing the client at the proxy's account URL.
    """
    from azure.storage.blob import BlobServiceClient

    fields = dict(part.split("=", 1) for part in connection_string.strip().rstrip(";").split(";") if "=" in part)
    fields = {k.strip().lower(): v.strip() for k, v in fields.items()}
    if fields.get("usedevelopmentstorage", "").lower() == "true":
        development = BlobServiceClient.from_connection_string("UseDevelopmentStorage=true")
        proxy = fields.get("developmentstorageproxyuri")
        if not proxy:
            return development
        if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+/?", proxy):
            raise MediaStoreError("DevelopmentStorageProxyUri must be an origin such as http://127.0.0.1:10000")
        return BlobServiceClient(f"{proxy.rstrip('/')}/{development.account_name}", credential=development.credential)
    try:
        return BlobServiceClient.from_connection_string(connection_string)
    except ValueError as exc:
        # The SDK's message names what is missing; the string itself may hold a key, so it is not quoted.
        raise MediaStoreError(f"the blob storage connection string is not usable: {exc}") from None


def blob_service_from_account_url(account_url: str, credential=None, **client_options):
    """A BlobServiceClient that signs in with a token credential (the app's identity by default)."""
    from azure.storage.blob import BlobServiceClient

    if not account_url.startswith("https://"):
        raise MediaStoreError("MEDIA_BLOB_ACCOUNT_URL must be an https:// URL (identity needs TLS)")
    if credential is None:
        from azure.identity import DefaultAzureCredential

        # Managed identity in Azure (AZURE_CLIENT_ID picks a user-assigned one), developer sign-in locally.
        credential = DefaultAzureCredential()
    return BlobServiceClient(account_url, credential=credential, **client_options)


def _identity_account_url() -> str | None:
    account_name = os.environ.get(HOST_STORAGE_ACCOUNT_NAME)
    if account_name and not re.fullmatch(r"[a-z0-9]{3,24}", account_name):
        raise MediaStoreError(f"{HOST_STORAGE_ACCOUNT_NAME} is not a storage account name")
    return (get_settings().media_blob_account_url or os.environ.get(HOST_STORAGE_BLOB_URI)
            or (f"https://{account_name}.blob.core.windows.net" if account_name else None))


def _connection_string() -> str | None:
    from shared.secrets import get_optional_secret

    return get_optional_secret("MEDIA_BLOB_CONNECTION_STRING") or os.environ.get(HOST_STORAGE) or None


def chosen_store_kind() -> str:
    """`local` or `blob`. `auto` picks blob only when a storage account is named for it: the
    host's `AzureWebJobsStorage=UseDevelopmentStorage=true` alone does not, since the sample
    settings carry it and Azurite need not be running for the demo."""
    settings = get_settings()
    if settings.media_store != "auto":
        return settings.media_store
    from shared.secrets import get_optional_secret

    named = _identity_account_url() or get_optional_secret("MEDIA_BLOB_CONNECTION_STRING")
    return "blob" if named else "local"


_cache: dict[tuple, MediaStore] = {}
_cache_lock = threading.Lock()


def media_store() -> MediaStore:
    settings = get_settings()
    kind = chosen_store_kind()
    if kind == "local":
        return LocalMediaStore(settings.media_dir)
    account_url = _identity_account_url()
    connection = None if account_url else _connection_string()
    if not account_url and not connection:
        raise MediaStoreError(
            "MEDIA_STORE=blob needs MEDIA_BLOB_ACCOUNT_URL, AzureWebJobsStorage__blobServiceUri, "
            "MEDIA_BLOB_CONNECTION_STRING or AzureWebJobsStorage")
    # One client per configuration: it keeps its connections and its user delegation key.
    key = (account_url, connection, settings.media_blob_container)
    with _cache_lock:
        store = _cache.get(key)
        if store is None:
            service = (blob_service_from_account_url(account_url) if account_url
                       else blob_service_from_connection_string(connection))
            store = _cache[key] = BlobMediaStore(service, settings.media_blob_container)
        return store


def media_link_lifetime() -> timedelta:
    return timedelta(minutes=get_settings().media_link_minutes)
