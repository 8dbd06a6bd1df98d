"""Shop access tokens: sealed with AES-GCM before they touch the database, opened on use.

`TOKEN_ENCRYPTION_KEY` holds one or more `keyid:base64key` pairs separated by commas; the
first seals, all of them open, so a key can be rotated by prepending a new one and
re-sealing at leisure. Each ciphertext carries its key id, and the shop domain is bound in
as associated data, so a token copied onto another shop's row does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets as pysecrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.secrets import get_optional_secret
from shared.settings import get_settings

_FORMAT = b"t1"
_NONCE_BYTES = 12


class TokenKeyError(RuntimeError):
    """The token key is missing or malformed. Not retryable. Never carries key material."""

    retryable = False


class TokenDecryptError(RuntimeError):
    retryable = False


@dataclass(frozen=True)
class _Key:
    key_id: str
    aead: AESGCM


def parse_keys(spec: str) -> list[_Key]:
    keys = []
    for position, part in enumerate(p.strip() for p in spec.split(",") if p.strip()):
        key_id, sep, encoded = part.partition(":")
        if not sep:
            key_id, encoded = "k1", part  # a bare key: one key, id k1
        if not key_id.isalnum() or len(key_id) > 32:
            raise TokenKeyError(f"TOKEN_ENCRYPTION_KEY entry {position + 1}: key id must be 1-32 letters or digits")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise TokenKeyError(f"TOKEN_ENCRYPTION_KEY entry {position + 1} ({key_id}): not valid base64") from None
        if len(raw) != 32:
            raise TokenKeyError(f"TOKEN_ENCRYPTION_KEY entry {position + 1} ({key_id}): must decode to 32 bytes")
        keys.append(_Key(key_id, AESGCM(raw)))
    if not keys:
        raise TokenKeyError("TOKEN_ENCRYPTION_KEY is empty")
    return keys


class TokenCipher:
    def __init__(self, key_spec: str) -> None:
        self._keys = parse_keys(key_spec)
        self._by_id = {k.key_id: k for k in self._keys}

    @property
    def current_key_id(self) -> str:
        return self._keys[0].key_id

    def seal(self, plaintext: str, shop_domain: str) -> bytes:
        key = self._keys[0]
        nonce = os.urandom(_NONCE_BYTES)
        kid = key.key_id.encode()
        body = key.aead.encrypt(nonce, plaintext.encode(), shop_domain.encode())
        return _FORMAT + bytes([len(kid)]) + kid + nonce + body

    def open(self, sealed: bytes, shop_domain: str) -> str:
        sealed = bytes(sealed)
        if not sealed.startswith(_FORMAT) or len(sealed) < 3:
            raise TokenDecryptError(f"stored token for {shop_domain} is not in a known format")
        kid_len = sealed[2]
        kid = sealed[3 : 3 + kid_len].decode(errors="replace")
        nonce = sealed[3 + kid_len : 3 + kid_len + _NONCE_BYTES]
        body = sealed[3 + kid_len + _NONCE_BYTES :]
        key = self._by_id.get(kid)
        if key is None:
            raise TokenDecryptError(f"stored token for {shop_domain} was sealed with key {kid!r}, which is not configured")
        try:
            return key.aead.decrypt(nonce, body, shop_domain.encode()).decode()
        except InvalidTag:
            raise TokenDecryptError(f"stored token for {shop_domain} does not decrypt with key {kid!r}") from None

    def key_id_of(self, sealed: bytes) -> str:
        sealed = bytes(sealed)
        return sealed[3 : 3 + sealed[2]].decode(errors="replace")


def _local_development_key() -> str:
    """A key kept beside the embedded database, for the local stand-ins only."""
    path = Path(get_settings().local_data_dir) / "token-encryption-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("local1:" + base64.b64encode(pysecrets.token_bytes(32)).decode())
    return path.read_text().strip()


def token_cipher() -> TokenCipher:
    spec = get_optional_secret("TOKEN_ENCRYPTION_KEY")
    if not spec:
        if get_optional_secret("DATABASE_URL") or get_settings().key_vault_url:
            raise TokenKeyError("required secret TOKEN_ENCRYPTION_KEY is not set")
        # With the embedded database everything is local; keep a generated key beside it.
        spec = _local_development_key()
    return TokenCipher(spec)


class ShopNotAuthorizedError(RuntimeError):
    """The shop has no usable token: it must install (or reinstall) the app. Not retryable."""

    retryable = False


def get_access_token(shop_domain: str) -> str:
    """The shop's Admin API access token, opened from its sealed form in the database."""
    from shared.db.pool import transaction
    from shared.db.shops import sealed_access_token

    with transaction() as conn:
        sealed = sealed_access_token(conn, shop_domain)
    if sealed is None:
        raise ShopNotAuthorizedError(f"shop {shop_domain} has no access token; it must install the app again")
    return token_cipher().open(sealed, shop_domain)
