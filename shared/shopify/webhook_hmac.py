"""Shopify's webhook signature, checked by Shopify's own `shopify_app` package.

`X-Shopify-Hmac-Sha256` is base64 of HMAC-SHA256 over the raw body, keyed with the client
secret. The package hashes a `str` body as UTF-8, so the raw bytes are decoded strictly: valid
UTF-8 decodes and re-encodes to the very same bytes, and a body that is not UTF-8 (Shopify
sends JSON, which is) cannot have been signed by Shopify and matches nothing. During a
client-secret rotation Shopify keeps signing with the old secret for up to an hour, so the
previous secret is accepted too; the package is asked once per secret, so the caller learns
which one matched.
"""

from __future__ import annotations

from collections.abc import Sequence

import shopify_app

_HEADER = "X-Shopify-Hmac-Sha256"


def matching_secret(body: bytes, header: str | None, secrets: Sequence[tuple[str, str]]) -> str | None:
    """The label of the first (label, secret) under which `header` is the signature of `body`; None if none."""
    if not header:
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    request = {"method": "POST", "headers": {_HEADER: header.strip()}, "body": text, "url": ""}
    for label, secret in secrets:
        if not secret:
            continue
        verdict = shopify_app.verify_webhook_req(request, {"client_id": "", "client_secret": secret,
                                                           "old_client_secret": None})
        if verdict.ok:
            return label
    return None
