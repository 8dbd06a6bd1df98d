"""`extract_price`: the layers in order of trust, the first price wins.

Layers: JSON-LD, microdata, RDFa, OpenGraph / product meta tags, the competitor's CSS selector,
then page heuristics. Availability and currency come from the first layer that states them.
JSON-LD is read straight from the source with a regular expression; only pages it does not
settle are parsed, once, with selectolax (Lexbor).
"""

from __future__ import annotations

from collections.abc import Callable

from selectolax.lexbor import LexborNode

from shared.market.extraction.currency import currency_code
from shared.market.extraction.heuristics import from_heuristics
from shared.market.extraction.jsonld import from_json_ld, json_ld_scripts
from shared.market.extraction.meta import from_meta
from shared.market.extraction.microdata import from_itemprops, microdata_name, microdata_scopes, rdfa_name, rdfa_scopes
from shared.market.extraction.model import (
    Availability, ExtractedPrice, Found, Page, PriceHints, PriceSource, country_of,
)
from shared.market.extraction.selector import from_selector


_STRUCTURED = "[itemprop], [property], meta[name]"


def extract_price(html: str, url: str | None = None, hints: PriceHints | None = None) -> ExtractedPrice:
    """The price of the product a page is about, with its currency, availability and source."""
    hints = hints or PriceHints()
    page = Page(html=html, url=url, hints=hints, country=country_of(url))
    json_ld = from_json_ld(page, json_ld_scripts(html))
    if json_ld.price is not None and json_ld.availability is not None:
        return _result(page, json_ld, PriceSource.json_ld, json_ld.availability, None)

    itemprops: list[LexborNode] = []
    rdfa: list[LexborNode] = []
    metas: list[LexborNode] = []
    for node in page.tree.css(_STRUCTURED):
        attrs = node.attributes
        if node.tag == "meta" and ("name" in attrs or str(attrs.get("property", "")).startswith(("og:", "product:"))):
            metas.append(node)
        if "itemprop" in attrs:
            itemprops.append(node)
        if "property" in attrs:
            rdfa.append(node)

    layers: list[tuple[PriceSource, Callable[[], Found]]] = [
        (PriceSource.json_ld, lambda: json_ld),
        (PriceSource.microdata, lambda: from_itemprops(page, itemprops, microdata_name, microdata_scopes)),
        (PriceSource.rdfa, lambda: from_itemprops(page, rdfa, rdfa_name, rdfa_scopes)),
        (PriceSource.meta, lambda: from_meta(page, metas)),
    ]
    if hints.css_selector:
        layers.append((PriceSource.selector, lambda: from_selector(page, hints.css_selector or "")))
    layers.append((PriceSource.heuristic, lambda: from_heuristics(page)))

    # The price comes from the first layer that has one; availability and currency from the
    # first layer that states them, so a JSON-LD price can take its stock state from meta tags.
    found_price: tuple[Found, PriceSource] | None = None
    availability: Availability | None = None
    currency_seen: str | None = None
    for source, run in layers:
        if found_price is not None and source is PriceSource.heuristic:
            break
        found = run()
        availability = availability or found.availability
        currency_seen = currency_seen or found.currency
        if found_price is None and found.price is not None:
            found_price = (found, source)
        if found_price is not None and availability is not None:
            break
    if found_price is None:
        return _result(page, Found(currency=currency_seen), None, availability, None)
    return _result(page, found_price[0], found_price[1], availability, currency_seen)


def _result(
    page: Page, found: Found, source: PriceSource | None, availability: Availability | None, currency_seen: str | None
) -> ExtractedPrice:
    expected = page.hints.currency
    currency = currency_code(found.currency or currency_seen, expected=expected, country=page.country)
    return ExtractedPrice(
        price=found.price,
        currency=currency or expected,
        availability=availability or Availability.unknown,
        source=source,
    )
