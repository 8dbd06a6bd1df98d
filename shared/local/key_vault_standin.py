"""A loopback stand-in for Azure Key Vault that speaks the REST protocol `SecretClient` uses.

    with KeyVaultStandIn(token="t0k3n") as vault:
        vault.set_secret("SHOPIFY-CLIENT-SECRET", "value")
        client = SecretClient(vault.vault_url, credential,
                              connection_verify=vault.certificate_path,
                              verify_challenge_resource=False)

HTTPS on 127.0.0.1 (port 0), with a self-signed certificate for 127.0.0.1/localhost generated
at start into a temporary folder (`certificate_path`, for the client to trust).

- `GET /secrets/{name}[/{version}]?api-version=...`: the secret bundle, as Key Vault returns it:
  `value`, `id` = `{vault}/secrets/{name}/{version}`, `attributes` (`enabled`, `created`,
  `updated`, `recoveryLevel`, `recoverableDays`), `tags`. No version (or an empty one): the latest.
- `404 SecretNotFound` for an unknown secret or version; `400 BadParameter` for a name Key Vault
  would refuse (1-127 letters, digits and dashes) or a missing `api-version`.
- Challenge authentication, as Key Vault does it: a request without `Authorization: Bearer` gets
  `401` with `WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/{tenant}",
  resource="https://vault.azure.net"`; a bearer token other than `token` gets the same 401. The
  resource does not match a loopback host, so clients pass `verify_challenge_resource=False`.

`requests` records every request (method, path, api-version, whether a bearer token came and
was accepted, status); tokens and secret values are never recorded.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import secrets as _secrets
import shutil
import ssl
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit
from shared.local.background_server import serve_in_background, shut_down

KEY_VAULT_RESOURCE = "https://vault.azure.net"
DEFAULT_TENANT_ID = "72f988bf-0000-4000-8000-00000000cafe"
_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    api_version: str | None
    bearer: bool  # an Authorization: Bearer header came with the request
    authorized: bool  # ... and its token was the accepted one
    status: int


@dataclass(frozen=True)
class _Version:
    version: str
    value: str
    created: int


class KeyVaultStandIn:
    """A Key Vault on loopback HTTPS; a context manager."""

    def __init__(self, token: str | None = None, tenant_id: str = DEFAULT_TENANT_ID) -> None:
        self.token = token or _secrets.token_urlsafe(32)
        self.tenant_id = tenant_id
        self.requests: list[LoggedRequest] = []
        self._secrets: dict[str, tuple[str, list[_Version]]] = {}  # lower-case name -> (name, versions)
        self._lock = threading.Lock()
        self._dir: Path | None = None
        self._server: _TLSServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---

    def start(self) -> KeyVaultStandIn:
        self._dir = Path(tempfile.mkdtemp(prefix="key-vault-standin-"))
        cert_path, key_path = _write_self_signed_certificate(self._dir)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert_path, key_path)
        self._server = _TLSServer(("127.0.0.1", 0), _Handler, context, self)
        self._thread = serve_in_background(self._server, "key-vault-standin")
        return self

    def stop(self) -> None:
        shut_down(self._server, self._thread)
        self._server, self._thread = None, None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> KeyVaultStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- what tests use ---

    @property
    def vault_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stand-in is not running")
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    @property
    def certificate_path(self) -> str:
        """The self-signed certificate (PEM) to trust: `connection_verify=...`."""
        if self._dir is None:
            raise RuntimeError("the stand-in is not running")
        return str(self._dir / "cert.pem")

    def set_secret(self, name: str, value: str) -> str:
        """Add a secret, or a new version of it (a rotation). Returns the new version's id."""
        if not _NAME.match(name):
            raise ValueError(f"Key Vault refuses the secret name {name!r}: 1-127 letters, digits and dashes")
        version = _Version(uuid.uuid4().hex, value, int(time.time()))
        with self._lock:
            stored_name, versions = self._secrets.get(name.lower(), (name, []))
            versions.append(version)
            self._secrets[name.lower()] = (stored_name, versions)
        return version.version

    def requests_for(self, path_prefix: str) -> list[LoggedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(path_prefix)]

    # --- what the handler uses ---

    def _lookup(self, name: str, version: str | None) -> tuple[str, _Version] | None:
        with self._lock:
            entry = self._secrets.get(name.lower())
            if entry is None:
                return None
            stored_name, versions = entry
            if not version:
                return stored_name, versions[-1]
            for candidate in versions:
                if candidate.version == version.lower():
                    return stored_name, candidate
            return None

    def _log(self, entry: LoggedRequest) -> None:
        with self._lock:
            self.requests.append(entry)


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, handler, context: ssl.SSLContext, vault: KeyVaultStandIn) -> None:
        self.tls_context = context
        self.vault = vault
        super().__init__(address, handler)

    def finish_request(self, request, client_address) -> None:
        # The TLS handshake runs here, in the request's thread, so a slow client holds up no other.
        request.settimeout(30)
        try:
            tls = self.tls_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # e.g. a client that does not trust the certificate hangs up
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()

    def handle_error(self, request, client_address) -> None:
        pass  # a client that goes away mid-request is not the stand-in's problem


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _TLSServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        vault = self.server.vault
        url = urlsplit(self.path)
        path = unquote(url.path)
        api_version = (parse_qs(url.query).get("api-version") or [None])[0]
        authorization = self.headers.get("Authorization", "")
        bearer = authorization[:7].lower() == "bearer "
        authorized = bearer and _secrets.compare_digest(authorization[7:].strip(), vault.token)

        def reply(status: int, body: dict, headers: dict[str, str] | None = None) -> None:
            vault._log(LoggedRequest("GET", path, api_version, bearer, authorized, status))
            self._send_json(status, body, headers)

        if not authorized:
            if bearer:
                message = "AKV10022: Invalid audience or token."
            else:
                message = "AKV10000: Request is missing a Bearer or PoP token."
            challenge = (
                f'Bearer authorization="https://login.microsoftonline.com/{vault.tenant_id}", '
                f'resource="{KEY_VAULT_RESOURCE}"'
            )
            return reply(401, _error("Unauthorized", message), {"WWW-Authenticate": challenge})
        if not api_version:
            return reply(400, _error("BadParameter", "The 'api-version' query parameter is missing."))

        parts = path.split("/")  # "", "secrets", name[, version]
        if len(parts) not in (3, 4) or parts[1] != "secrets":
            return reply(404, _error("NotFound", f"The requested path {path} was not found."))
        name, version = parts[2], (parts[3] if len(parts) == 4 else "")
        if not _NAME.match(name):
            return reply(400, _error("BadParameter", f"The request URI contains an invalid name: {name}"))
        found = vault._lookup(name, version or None)
        if found is None:
            secret_id = f"{name}/{version}" if version else name
            return reply(
                404,
                _error(
                    "SecretNotFound",
                    f"A secret with (name/id) {secret_id} was not found in this key vault. "
                    "If you recently deleted this secret you may be able to recover it using the correct "
                    "recovery command. For help resolving this issue, please see "
                    "https://go.microsoft.com/fwlink/?linkid=2125182",
                ),
            )
        stored_name, secret = found
        reply(
            200,
            {
                "value": secret.value,
                "id": f"{vault.vault_url}/secrets/{stored_name}/{secret.version}",
                "attributes": {
                    "enabled": True,
                    "created": secret.created,
                    "updated": secret.created,
                    "recoveryLevel": "Recoverable+Purgeable",
                    "recoverableDays": 90,
                },
                "tags": {},
            },
        )

    def _send_json(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        self.send_header("x-ms-keyvault-service-version", "1.9.0.0")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)


def _error(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def _write_self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed server certificate for 127.0.0.1 and localhost, valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Key Vault stand-in")])
    now = dt.datetime.now(dt.UTC)
    public_key = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path
