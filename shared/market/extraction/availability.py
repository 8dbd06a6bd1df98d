"""Stock state from schema.org values ("https://schema.org/InStock") and the words shops use."""

from __future__ import annotations

import re
from typing import Any

from shared.market.extraction.model import Availability


_OUT_OF_STOCK_WORDS = ("outofstock", "soldout", "discontinued", "out of stock", "sold out", "unavailable")
_IN_STOCK_WORDS = ("instock", "in stock", "instoreonly", "limitedavailability", "onlineonly", "preorder", "presale", "backorder")


def availability_from(value: Any) -> Availability | None:
    if value is None:
        return None
    if isinstance(value, list):
        value = value[0] if value else None
        if value is None:
            return None
    if isinstance(value, dict):
        value = value.get("@id") or value.get("name") or ""
    text = str(value).strip().lower()
    if not text:
        return None
    tail = re.split(r"[/#:]", text)[-1].replace("_", "").replace("-", "")
    for word in _OUT_OF_STOCK_WORDS:
        if word in tail or word in text:
            return Availability.out_of_stock
    for word in _IN_STOCK_WORDS:
        if word.replace(" ", "") in tail or word in text:
            return Availability.in_stock
    if tail in ("oos", "false", "0"):
        return Availability.out_of_stock
    if tail in ("true", "1", "available", "yes"):
        return Availability.in_stock
    return None
