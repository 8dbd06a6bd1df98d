"""The cookie that ties an OAuth `state` to the browser that started the install.

Without it, anyone could start an install, then lure a merchant into finishing it with the
attacker's callback URL (login CSRF). The value is `state.mac`, the MAC binding the state
to the shop, under a key derived from the client secret (no extra secret to manage; during
a secret rotation the previous one still opens cookies set before it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from http.cookies import CookieError, SimpleCookie

COOKIE_NAME = "shopify_oauth_state"
_KEY_LABEL = b"retail-ai-advisor/oauth-state-cookie/v1"


def _cookie_key(client_secret: str) -> bytes:
    # A derived key: a cookie MAC never doubles as a Shopify signature.
    return hmac.new(client_secret.encode("utf-8"), _KEY_LABEL, hashlib.sha256).digest()


def _mac(client_secret: str, shop: str, state: str) -> str:
    digest = hmac.new(_cookie_key(client_secret), f"{shop}\n{state}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def cookie_value(client_secret: str, shop: str, state: str) -> str:
    return f"{state}.{_mac(client_secret, shop, state)}"


def set_cookie_header(value: str, *, path: str, max_age_seconds: int, secure: bool) -> str:
    parts = [f"{COOKIE_NAME}={value}", f"Max-Age={max_age_seconds}", f"Path={path}", "HttpOnly", "SameSite=Lax"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def clear_cookie_header(*, path: str, secure: bool) -> str:
    return set_cookie_header("", path=path, max_age_seconds=0, secure=secure)


def state_cookie(cookie_header: str | None) -> str | None:
    """This app's state cookie from a request's Cookie header, if present."""
    if not cookie_header:
        return None
    jar = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:
        return None
    morsel = jar.get(COOKIE_NAME)
    return morsel.value if morsel else None


def cookie_matches(value: str | None, *, state: str, shop: str, client_secrets: Sequence[str]) -> bool:
    """True if the cookie was set by this app for this state and shop."""
    if not value or "." not in value:
        return False
    cookie_state, _, mac = value.rpartition(".")
    same_state = hmac.compare_digest(cookie_state.encode("utf-8"), state.encode("utf-8"))
    signed = [hmac.compare_digest(_mac(s, shop, cookie_state).encode(), mac.encode("utf-8")) for s in client_secrets if s]
    return same_state and any(signed)
