"""The meta-tag layer: OpenGraph and product meta tags (product:price:amount, og:price:amount, ...)."""

from __future__ import annotations

from selectolax.lexbor import LexborNode

from shared.market.extraction.amounts import parse_amount
from shared.market.extraction.availability import availability_from
from shared.market.extraction.currency import currency_code
from shared.market.extraction.model import Found, Page


_META_PRICE_KEYS = (
    "product:sale_price:amount", "og:sale_price:amount", "product:price:amount", "og:price:amount",
    "product:price", "og:price", "twitter:data1:price", "price",
)
_META_CURRENCY_KEYS = (
    "product:sale_price:currency", "product:price:currency", "og:price:currency", "product:currency", "currency",
)
_META_AVAILABILITY_KEYS = ("product:availability", "og:availability", "availability")


def from_meta(page: Page, metas: list[LexborNode]) -> Found:
    values: dict[str, str] = {}
    for node in metas:
        attrs = node.attributes
        key = (attrs.get("property") or attrs.get("name") or "").strip().lower()
        content = attrs.get("content")
        if key and content is not None and key not in values:
            values[key] = content
    found = Found()
    if values.get("twitter:label1", "").strip().lower().startswith("price"):
        values["twitter:data1:price"] = values.get("twitter:data1", "")
    for key in _META_CURRENCY_KEYS:
        if values.get(key, "").strip():
            found.currency = values[key].strip()
            break
    for key in _META_PRICE_KEYS:
        if key in values:
            code = currency_code(found.currency, expected=page.expected_currency)
            amount, written = parse_amount(values[key], currency=code, structured=":amount" in key)
            if amount is not None:
                found.price = amount
                found.currency = found.currency or written
                break
    for key in _META_AVAILABILITY_KEYS:
        if key in values:
            found.availability = availability_from(values[key])
            if found.availability:
                break
    return found
