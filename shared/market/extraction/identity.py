"""What product a page is about: its GTIN, SKU, MPN, brand and title, for matching it to a variant.

Read from the page's main JSON-LD Product (related products skipped), then microdata, then
product meta tags; the title falls back to og:title, the h1 and the <title>.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from selectolax.lexbor import LexborHTMLParser

from shared.market.extraction.jsonld import json_ld_scripts, load_json_ld, node_types, walk_items

_PRODUCT_TYPES = {"product", "productgroup", "individualproduct", "productmodel"}
_GTIN_KEYS = ("gtin13", "gtin12", "gtin14", "gtin8", "gtin", "ean", "isbn", "upc")
_META_KEYS = {
    "gtin": ("product:ean", "product:upc", "product:gtin", "product:isbn", "og:ean", "og:upc"),
    "sku": ("product:retailer_item_id", "product:sku", "og:sku"),
    "mpn": ("product:mfr_part_no", "product:mpn"),
    "brand": ("product:brand", "og:brand"),
}


class ProductIdentity(BaseModel):
    model_config = ConfigDict(frozen=True)

    title: str | None = None
    gtin: str | None = None
    sku: str | None = None
    mpn: str | None = None
    brand: str | None = None


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        value = next((v for v in value if v not in (None, "")), None)
    if isinstance(value, dict):
        value = value.get("name") or value.get("@value")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(int(value)) if float(value).is_integer() else str(value)
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value[:300] or None


def _from_json_ld(html: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for script in json_ld_scripts(html):
        for document in load_json_ld(script):
            for node, related in walk_items(document):
                if related or not node_types(node) & _PRODUCT_TYPES:
                    continue
                offers = node.get("offers")
                offer = offers[0] if isinstance(offers, list) and offers else offers if isinstance(offers, dict) else {}
                sources = (node, offer if isinstance(offer, dict) else {})
                candidates = {
                    "title": _text(node.get("name")),
                    "gtin": next((_text(s.get(k)) for s in sources for k in _GTIN_KEYS if _text(s.get(k))), None),
                    "sku": next((_text(s.get("sku")) for s in sources if _text(s.get("sku"))), None),
                    "mpn": next((_text(s.get("mpn")) for s in sources if _text(s.get("mpn"))), None),
                    "brand": _text(node.get("brand")),
                }
                for key, value in candidates.items():
                    if value and key not in found:
                        found[key] = value
                if "title" in found:
                    return found  # the first product that names itself is the page's product
    return found


def extract_identity(html: str) -> ProductIdentity:
    found = _from_json_ld(html)
    if len(found) < 5:
        tree = LexborHTMLParser(html)
        for node in tree.css("[itemprop]"):
            name = (node.attributes.get("itemprop") or "").strip().lower()
            key = "gtin" if name in _GTIN_KEYS else name if name in ("sku", "mpn", "brand") else \
                "title" if name == "name" else None
            if key is None or key in found:
                continue
            value = _text(node.attributes.get("content") or node.text(deep=True, separator=" ", strip=True))
            if value:
                found[key] = value
        metas = {(n.attributes.get("property") or n.attributes.get("name") or "").lower(): n.attributes.get("content")
                 for n in tree.css("meta[property], meta[name]")}
        for key, names in _META_KEYS.items():
            if key not in found:
                value = next((_text(metas.get(name)) for name in names if _text(metas.get(name))), None)
                if value:
                    found[key] = value
        if "title" not in found:
            h1 = tree.css_first("h1")
            title = tree.css_first("title")
            found_title = _text(metas.get("og:title")) or (_text(h1.text(deep=True, separator=" ")) if h1 else None) \
                or (_text(title.text()) if title else None)
            if found_title:
                found["title"] = found_title
    return ProductIdentity(**found)
