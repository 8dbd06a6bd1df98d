"""Shopify's webhook signature: base64 of HMAC-SHA256 over the raw request body, keyed with the client secret.

The body is hashed exactly as received (bytes, never decoded and re-encoded: a re-encoded body
is another body). During a client-secret rotation Shopify keeps signing with the old secret for
up to an hour, so the previous secret is accepted too, and the caller learns which one matched.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence


def webhook_signature(body: bytes, secret: str) -> str:
    """The `X-Shopify-Hmac-Sha256` value Shopify sends for this body."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def matching_secret(body: bytes, header: str | None, secrets: Sequence[tuple[str, str]]) -> str | None:
    """The label of the first (label, secret) whose signature of `body` is `header`; None if none is.

    Digests are compared as bytes in constant time. A header that is not base64 of 32 bytes
    matches nothing.
    """
    if not header:
        return None
    try:
        received = base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(received) != hashlib.sha256().digest_size:
        return None
    matched = None
    for label, secret in secrets:
        if not secret:
            continue
        expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
        # Every secret is tried, so the time taken does not tell which one matched.
        if hmac.compare_digest(expected, received) and matched is None:
            matched = label
    return matched
