"""Shop access tokens: sealed with AES-GCM before they touch the database, opened on use.

`TOKEN_ENCRYPTION_KEY` holds one or more `keyid:base64key` pairs separated by commas; the
first seals, all of them open, so a key can be rotated by prepending a new one and
re-sealing at leisure. Each ciphertext carries its key id, and the shop domain is bound in
as associated data, so a token copied onto another shop's row does not decrypt.

`get_access_token(shop)` (`get_access_token_async` in async code) is the one way to a usable token: it renews an expiring offline
token shortly before it expires, spending the (rotating) refresh token under the shop row's
lock, and marks the shop `needs_reauth` when Shopify refuses. `migrate_to_expiring_token`
moves a shop from a legacy non-expiring token to an expiring one.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import secrets as pysecrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.db.pool import transaction
from shared.db.shop_tokens import SealedTokens, StoredTokens, mark_needs_reauth, read_tokens, replace_tokens
from shared.db.shops import check_shop_domain
from shared.secrets import get_optional_secret
from shared.settings import get_settings
from shared.shopify import token_endpoint
from shared.shopify.token_endpoint import TokenGrant, TokenGrantRefusedError

log = logging.getLogger(__name__)

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


class ShopNeedsReauthError(ShopNotAuthorizedError):
    """The shop's tokens cannot be renewed (refresh refused or expired); `reason` says why."""

    def __init__(self, shop_domain: str, reason: str) -> None:
        super().__init__(f"shop {shop_domain} needs to authorise the app again: {reason}")
        self.reason = reason


# Renew this long before expiry, so a token handed out outlives the work that uses it.
REFRESH_MARGIN = timedelta(minutes=5)
# Shopify's answers that mean our own credentials are wrong, not the shop's grant.
_APP_CREDENTIAL_ERRORS = {"invalid_client", "unauthorized_client"}


def seal_grant(cipher: TokenCipher, shop_domain: str, grant: TokenGrant, issued_at: datetime) -> SealedTokens:
    """A token endpoint's answer, sealed for the shop's row."""
    refresh = grant.refresh_token.get_secret_value() if grant.refresh_token else None
    return SealedTokens(
        access_token_ciphertext=cipher.seal(grant.access_token.get_secret_value(), shop_domain),
        refresh_token_ciphertext=cipher.seal(refresh, shop_domain) if refresh else None,
        token_key_id=cipher.current_key_id,
        access_token_expires_at=grant.access_expires_at(issued_at),
        refresh_token_expires_at=grant.refresh_expires_at(issued_at),
        scopes=grant.scope or None,
    )


def get_access_token(shop_domain: str) -> str:
    """The shop's Admin API access token, renewed first when it expires within REFRESH_MARGIN.

    Every caller goes through here. A renewal happens under the shop row's lock, and the
    rotated refresh token is stored in the same transaction, so concurrent workers spend a
    refresh token once: the others wait, then find the new token. A legacy token with no
    expiry is returned as it is. Raises ShopNotAuthorizedError / ShopNeedsReauthError (the
    merchant must act; not retryable), TokenEndpointUnavailableError (retryable), or
    TokenGrantRefusedError `invalid_client` (the app's own credentials; not retryable).
    """
    domain = check_shop_domain(shop_domain)
    with transaction() as conn:
        stored = read_tokens(conn, domain)
    _require_authorized(stored, domain)
    if not _due(stored, datetime.now(timezone.utc)):
        return token_cipher().open(stored.access_token_ciphertext, domain)
    return _renew(domain, _refresh_grant)


async def get_access_token_async(shop_domain: str) -> str:
    """`get_access_token` for async callers: its database and HTTP calls block, so it runs off the event loop."""
    return await asyncio.to_thread(get_access_token, shop_domain)


def migrate_to_expiring_token(shop_domain: str) -> bool:
    """Swap a legacy non-expiring offline token for an expiring one; False if it already expires."""
    return _renew(check_shop_domain(shop_domain), _migration_grant, only_legacy=True) is not None


def _require_authorized(stored: StoredTokens | None, domain: str) -> None:
    if stored is None:
        raise ShopNotAuthorizedError(f"shop {domain} is not installed")
    if stored.status == "needs_reauth":
        raise ShopNeedsReauthError(domain, stored.reauth_reason or "its tokens could not be renewed")
    if stored.status != "active" or stored.access_token_ciphertext is None:
        raise ShopNotAuthorizedError(f"shop {domain} has no access token; it must install the app again")


def _due(stored: StoredTokens, now: datetime) -> bool:
    expires_at = stored.access_token_expires_at
    return expires_at is not None and expires_at - REFRESH_MARGIN <= now


def _refresh_grant(stored: StoredTokens, cipher: TokenCipher, now: datetime) -> TokenGrant:
    if stored.refresh_token_ciphertext is None:
        raise _Refused("the access token expires and no refresh token is stored")
    if stored.refresh_token_expires_at is not None and stored.refresh_token_expires_at <= now:
        raise _Refused("the refresh token has expired")
    refresh_token = cipher.open(stored.refresh_token_ciphertext, stored.domain)
    return token_endpoint.refresh_access_token(stored.domain, refresh_token)


def _migration_grant(stored: StoredTokens, cipher: TokenCipher, now: datetime) -> TokenGrant:
    legacy = cipher.open(stored.access_token_ciphertext, stored.domain)
    return token_endpoint.migrate_to_expiring(stored.domain, legacy)


class _Refused(Exception):
    """Renewal cannot work without the merchant: the shop is marked and the caller told."""


def _renew(
    domain: str, grant_for: Callable[[StoredTokens, TokenCipher, datetime], TokenGrant], *, only_legacy: bool = False
) -> str | None:
    cipher = token_cipher()
    failure: ShopNeedsReauthError | None = None
    with transaction() as conn:
        stored = read_tokens(conn, domain, for_update=True)  # waits while another worker renews
        _require_authorized(stored, domain)
        now = datetime.now(timezone.utc)
        if only_legacy and stored.access_token_expires_at is not None:
            return None
        if not only_legacy and not _due(stored, now):
            return cipher.open(stored.access_token_ciphertext, domain)  # renewed while we waited
        try:
            # A network error propagates (retryable) and rolls back. Had Shopify rotated the token
            # before the answer was lost, it keeps the old one usable until the new one is used.
            grant = grant_for(stored, cipher, now)
        except _Refused as exc:
            reason = str(exc)
        except TokenGrantRefusedError as exc:
            if exc.error in _APP_CREDENTIAL_ERRORS:
                raise  # the app's client id or secret is wrong: no shop is to blame
            reason = f"Shopify refused the renewal ({exc.error})"
        else:
            replace_tokens(conn, stored.shop_id, seal_grant(cipher, domain, grant, now), now=now)
            log.info("renewed the access token of %s", domain)
            return grant.access_token.get_secret_value()
        mark_needs_reauth(conn, stored.shop_id, reason)
        log.warning("shop %s needs to authorise again: %s", domain, reason)
        failure = ShopNeedsReauthError(domain, reason)
    raise failure
