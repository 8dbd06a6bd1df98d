"""Signed, expiring links to a shop's briefing page: what a merchant's browser can open.

A browser cannot send a function key, so the page is served to whoever holds a link signed
with a key derived from the app's client secret; the link names the shop and an expiry,
much as a storage SAS does. Either the current or the previous client secret verifies it,
so a secret rotation does not break links already sent.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from urllib.parse import quote, urlencode

from shared.db.shops import check_shop_domain
from shared.secrets import get_optional_secret, get_secret
from shared.settings import get_settings

_KEY_LABEL = b"retail-ai-advisor/briefing-link/v1"


class BriefingLinkError(ValueError):
    """The link is missing, malformed, expired or forged. Says which, never the expected value."""

    retryable = False


def _signature(secret: str, shop: str, expires: int) -> str:
    key = hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()
    return hmac.new(key, f"{shop}\n{expires}".encode(), hashlib.sha256).hexdigest()


def signed_query(shop: str, expires_at: datetime) -> str:
    """`expires=...&sig=...` for the shop's briefing routes (the page and its media)."""
    shop = check_shop_domain(shop)
    expires = int(expires_at.timestamp())
    return urlencode({"expires": expires, "sig": _signature(get_secret("SHOPIFY_CLIENT_SECRET"), shop, expires)})


def briefing_link(shop: str, now: datetime, valid_for: timedelta | None = None, run_id: str | None = None) -> str:
    """The URL of the shop's latest briefing (or of one run's), signed until now + valid_for."""
    shop = check_shop_domain(shop)
    settings = get_settings()
    query = signed_query(shop, now + (valid_for or timedelta(hours=settings.briefing_link_hours)))
    which = quote(run_id, safe="") if run_id else "latest"
    return f"{settings.app_base_url.rstrip('/')}/api/shops/{shop}/briefings/{which}?{query}"


def verify_briefing_link(shop: str, expires: str | None, sig: str | None, now: datetime) -> None:
    """Raise BriefingLinkError unless (expires, sig) is a valid, unexpired link for this shop."""
    if not expires or not sig:
        raise BriefingLinkError("this page needs a signed link (expires and sig)")
    try:
        expires_at = int(expires)
    except ValueError:
        raise BriefingLinkError("the link's expiry is not a number") from None
    if expires_at < now.timestamp():
        raise BriefingLinkError("the link has expired; open the briefing from the app again")
    secrets = [get_secret("SHOPIFY_CLIENT_SECRET"), get_optional_secret("SHOPIFY_CLIENT_SECRET_PREVIOUS")]
    shop = check_shop_domain(shop)
    if not any(hmac.compare_digest(_signature(s, shop, expires_at), sig) for s in secrets if s):
        raise BriefingLinkError("the link's signature does not match")
