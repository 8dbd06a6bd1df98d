"""The JSON-LD layer: Product, Offer, AggregateOffer, ProductGroup, @graph and nested offers.

Related products (isRelatedTo, isSimilarTo, reviews, ...) are skipped; in a priceSpecification
the list or strike-through price is skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from shared.market.extraction.amounts import parse_amount
from shared.market.extraction.availability import availability_from
from shared.market.extraction.currency import currency_code
from shared.market.extraction.model import Availability, Found, Page
from shared.market.extraction.offers import Offer, choose_offer


# JSON-LD is read straight from the source, so a page that states its price there is never parsed.
_JSON_LD_SCRIPT = re.compile(r"<script\b[^>]*?ld\+json[^>]*>(.*?)</script\s*>", re.S | re.I)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_JSON_COMMENT = re.compile(r"^\s*//[^\n]*$|/\*.*?\*/", re.S | re.M)

# Keys under which other products hang: their offers are not this page's price.
_RELATED_KEYS = frozenset(
    {"isrelatedto", "issimilarto", "isaccessoryorsparepartfor", "isconsumablefor", "itemlistelement",
     "subjectof", "review", "reviews", "isvariantof", "related", "relatedproducts", "itemreviewed"}
)
_LIST_PRICE_TYPES = ("listprice", "strikethroughprice", "srp", "msrp", "originalprice", "wasprice", "invoiceprice")


def json_ld_scripts(html: str) -> list[str]:
    """The text of every JSON-LD script in a page, found without parsing the page."""
    return _JSON_LD_SCRIPT.findall(html)


def load_json_ld(text: str) -> list[Any]:
    """Parse one JSON-LD script, tolerating the usual breakage; [] when hopeless."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("<!--"):
        text = text[4:]
    if text.endswith("-->"):
        text = text[:-3]
    text = text.replace("<![CDATA[", "").replace("]]>", "").strip().rstrip(";")
    for attempt in (text, _TRAILING_COMMA.sub(r"\1", _JSON_COMMENT.sub("", text))):
        try:
            return [json.loads(attempt, strict=False, parse_float=Decimal)]
        except ValueError:
            pass
    # Several objects back to back, or garbage after the first one.
    decoder = json.JSONDecoder(strict=False, parse_float=Decimal)
    values, index = [], 0
    cleaned = _TRAILING_COMMA.sub(r"\1", text)
    while index < len(cleaned):
        while index < len(cleaned) and cleaned[index] in " \t\r\n,;":
            index += 1
        if index >= len(cleaned):
            break
        try:
            value, index = decoder.raw_decode(cleaned, index)
        except ValueError:
            break
        values.append(value)
    return values


def node_types(node: dict) -> set[str]:
    raw = node.get("@type") or node.get("type") or ()
    if isinstance(raw, str):
        raw = (raw,)
    out = set()
    for item in raw:
        if isinstance(item, str):
            out.add(re.split(r"[/#:]", item)[-1].lower())
    return out


def walk_items(value: Any, related: bool = False) -> Iterator[tuple[dict, bool]]:
    """Every dict in a JSON-LD document with a flag saying it hangs under a related-product key."""
    if isinstance(value, list):
        for item in value:
            yield from walk_items(item, related)
    elif isinstance(value, dict):
        yield value, related
        for key, child in value.items():
            if isinstance(child, (dict, list)) and key not in ("offers",):
                yield from walk_items(child, related or key.lower() in _RELATED_KEYS)


def _offer_price(offer: dict, expected: str | None) -> tuple[Decimal | None, str | None]:
    currency = offer.get("priceCurrency") or offer.get("pricecurrency")
    if isinstance(currency, list):
        currency = currency[0] if currency else None
    price_value = offer.get("price")
    if isinstance(price_value, list):
        price_value = price_value[0] if price_value else None
    if price_value in (None, "") and "lowPrice" in offer:
        price_value = offer.get("lowPrice")
    currency_text = currency if isinstance(currency, str) else None
    code = currency_code(currency_text, expected=expected) if currency_text else None
    amount, written = parse_amount(price_value, currency=code, structured=True)
    if amount is not None:
        return amount, currency_text or written
    spec = offer.get("priceSpecification")
    specs = spec if isinstance(spec, list) else [spec] if isinstance(spec, dict) else []
    current: list[tuple[Decimal, str | None]] = []
    for item in specs:
        if not isinstance(item, dict):
            continue
        price_type = str(item.get("priceType") or "").lower()
        if any(word in price_type for word in _LIST_PRICE_TYPES):
            continue  # the strike-through price
        if item.get("referenceQuantity") and len(specs) > 1:
            continue  # a unit price (per kg) next to the real one
        spec_currency = item.get("priceCurrency") if isinstance(item.get("priceCurrency"), str) else currency_text
        value = item.get("price", item.get("minPrice"))
        amount, written = parse_amount(value, structured=True)
        if amount is not None:
            current.append((amount, spec_currency or written))
    if current:
        return current[0]
    return None, currency_text


def _collect_offers(offers: Any, expected: str | None, out: list[Offer], inherited: Availability | None = None) -> None:
    if isinstance(offers, list):
        for item in offers:
            _collect_offers(item, expected, out, inherited)
        return
    if not isinstance(offers, dict):
        return
    availability = availability_from(offers.get("availability")) or inherited
    types = node_types(offers)
    if "aggregateoffer" in types and offers.get("lowPrice") in (None, "") and offers.get("price") in (None, ""):
        _collect_offers(offers.get("offers"), expected, out, availability)
        return
    price, currency = _offer_price(offers, expected)
    url = offers.get("url") if isinstance(offers.get("url"), str) else None
    out.append(Offer(price, currency, availability, url, len(out)))


def from_json_ld(page: Page, scripts: list[str]) -> Found:
    expected = page.expected_currency
    found = Found()
    candidates: list[tuple[int, Offer, Availability | None]] = []
    for text in scripts:
        for document in load_json_ld(text):
            for node, related in walk_items(document):
                if related:
                    continue
                types = node_types(node)
                offers_value = node.get("offers")
                variants = node.get("hasVariant")
                if offers_value is None and variants is None:
                    if types & {"offer", "aggregateoffer"} and not any(
                        isinstance(v, dict) and "offers" in v for v in node.values()
                    ):
                        offers_value = node  # a bare Offer
                    else:
                        continue
                offers: list[Offer] = []
                _collect_offers(offers_value, expected, offers)
                if isinstance(variants, (list, dict)):
                    for variant in variants if isinstance(variants, list) else [variants]:
                        if isinstance(variant, dict):
                            _collect_offers(variant.get("offers"), expected, offers)
                chosen = choose_offer(offers, page.url)
                rank = 0 if types & {"product", "productgroup", "individualproduct", "productmodel"} else 1
                node_availability = next((o.availability for o in offers if o.availability), None)
                if chosen is not None:
                    candidates.append((rank, chosen, node_availability))
                elif found.availability is None and node_availability is not None:
                    found.availability = node_availability
                if found.currency is None and offers:
                    found.currency = next((o.currency for o in offers if o.currency), None)
    if candidates:
        candidates.sort(key=lambda c: c[0])
        _, offer, node_availability = candidates[0]
        found.price = offer.price
        found.currency = offer.currency or found.currency
        found.availability = offer.availability or node_availability or found.availability
    return found
