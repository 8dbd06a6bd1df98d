"""Query strings Shopify signs with `hmac` (the OAuth callback, the install link).

Shopify's recipe: every pair but `hmac` and `signature`, sorted by key, joined as `k=v`
with `&`, HMAC-SHA256 with the app's client secret, lowercase hex. The pairs are taken
exactly as received, still percent-encoded: the official libraries disagree on how to
re-encode decoded values (a padded `host` gives different digests), and a query that
someone re-encoded on the way then fails instead of being read differently than it was
signed. The values the app then uses are decoded from those same verified pairs.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import unquote_plus

UNSIGNED_KEYS = frozenset({"hmac", "signature"})


class SignedQueryError(ValueError):
    """The query is malformed, unsigned, wrongly signed or stale. Not retryable."""

    retryable = False

    def __init__(self, reason: str, *, status: int = 403) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def raw_pairs(raw_query: str) -> list[tuple[str, str]]:
    """The `k=v` pairs of a query string, still percent-encoded."""
    pairs = []
    for piece in raw_query.lstrip("?").split("&"):
        if piece:
            key, _, value = piece.partition("=")
            pairs.append((key, value))
    return pairs


def parse_query(raw_query: str) -> dict[str, str]:
    """Decoded parameters; a key given twice is refused (which one a framework keeps varies)."""
    params: dict[str, str] = {}
    for key, value in raw_pairs(raw_query):
        name = unquote_plus(key)
        if name in params:
            raise SignedQueryError(f"query parameter {name[:40]!r} appears more than once", status=400)
        params[name] = unquote_plus(value)
    return params


def signing_message(pairs: Sequence[tuple[str, str]]) -> str:
    """What Shopify signs: the pairs other than hmac/signature, sorted by key, as `k=v&...`."""
    kept = [(key, value) for key, value in pairs if unquote_plus(key) not in UNSIGNED_KEYS]
    return "&".join(f"{key}={value}" for key, value in sorted(kept))


def query_digest(secret: str, message: str) -> str:
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def verify_query_hmac(raw_query: str, secrets: Sequence[str]) -> dict[str, str]:
    """The decoded parameters if `hmac` verifies under one of `secrets` (current, then previous)."""
    usable = [s for s in secrets if s]
    if not usable:
        raise ValueError("no client secret to verify the query with")
    params = parse_query(raw_query)
    received = params.get("hmac")
    if not received:
        raise SignedQueryError("the hmac parameter is missing", status=400)
    message = signing_message(raw_pairs(raw_query))
    # Every secret is tried (no early exit): which one matched is not worth a timing signal.
    matched = [hmac.compare_digest(query_digest(s, message).encode(), received.encode("utf-8")) for s in usable]
    if not any(matched):
        raise SignedQueryError("the hmac does not verify")
    return params


def check_timestamp(params: dict[str, str], now: datetime, *, max_age: timedelta, max_skew: timedelta) -> None:
    """Refuse a signed query older than `max_age` or more than `max_skew` in the future."""
    raw = params.get("timestamp", "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise SignedQueryError("the timestamp parameter is missing or not a number", status=400)
    age = now.timestamp() - int(raw)
    if age > max_age.total_seconds():
        raise SignedQueryError("the request has expired (timestamp too old); start the install again")
    if -age > max_skew.total_seconds():
        raise SignedQueryError("the request's timestamp is in the future")
