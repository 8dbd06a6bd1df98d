"""The microdata and RDFa layers: itemprop/property price, currency and availability of the main item."""

from __future__ import annotations

import re
from collections.abc import Callable

from selectolax.lexbor import LexborNode

from shared.market.extraction.amounts import parse_amount
from shared.market.extraction.availability import availability_from
from shared.market.extraction.dom import attribute_value, is_struck
from shared.market.extraction.model import Found, Page
from shared.market.extraction.offers import Offer, choose_offer


_ScopeOf = Callable[[LexborNode], tuple[int | None, int | None]]


def from_itemprops(
    page: Page, nodes: list[LexborNode], name_of: Callable[[LexborNode], str], scope_of: _ScopeOf
) -> Found:
    """Price, currency and availability of the page's main item in microdata or RDFa.

    The main item is the first product scope on the page that carries a price; prices of other
    products (related items, accessories nested inside it) are ignored, and several offers of the
    main item are resolved as in JSON-LD: the lowest that is not out of stock.
    """
    found = Found()
    offers: list[Offer] = []
    offer_index: dict[int, Offer] = {}
    main_product: int | None = None
    for node in nodes:
        name = name_of(node)
        if name not in ("price", "lowprice", "pricecurrency", "availability"):
            continue
        offer_scope, product_scope = scope_of(node)
        if name in ("price", "lowprice"):
            if is_struck(node):
                continue
            if main_product is None:
                main_product = product_scope
            elif product_scope != main_product:
                continue
            amount, written = parse_amount(
                attribute_value(node), currency=page.expected_currency, structured="content" in node.attributes
            )
            if amount is None:
                continue
            key = offer_scope if offer_scope is not None else -len(offers) - 1
            if key in offer_index:
                continue  # a second price in the same offer is its strike-through twin, at best
            offer = Offer(amount, written, None, None, len(offers))
            offer_index[key] = offer
            offers.append(offer)
        elif name == "pricecurrency":
            if found.currency is None or (main_product is not None and product_scope == main_product):
                found.currency = attribute_value(node)
        elif name == "availability":
            state = availability_from(
                node.attributes.get("href") or node.attributes.get("content") or node.attributes.get("resource")
                or node.text(deep=True, strip=True)
            )
            if offer_scope is not None and offer_scope in offer_index:
                offer_index[offer_scope].availability = state
            elif found.availability is None or (main_product is not None and product_scope == main_product):
                found.availability = state or found.availability
    chosen = choose_offer(offers, None)
    if chosen is not None:
        found.price = chosen.price
        found.currency = found.currency or chosen.currency
        found.availability = chosen.availability or found.availability
    return found


def _scopes(
    node: LexborNode, is_scope: Callable[[LexborNode], bool], type_of: Callable[[LexborNode], str]
) -> tuple[int | None, int | None]:
    """(nearest offer scope, nearest product scope) of a node, as ids."""
    offer_scope = product_scope = None
    current = node if is_scope(node) else node.parent
    while current is not None and current.tag not in ("html", "body"):
        if is_scope(current):
            kind = type_of(current)
            if offer_scope is None and "offer" in kind:
                offer_scope = current.mem_id
            elif "offer" not in kind and kind not in ("", "thing"):
                product_scope = current.mem_id
                break
        current = current.parent
    return offer_scope, product_scope


def microdata_scopes(node: LexborNode) -> tuple[int | None, int | None]:
    return _scopes(
        node,
        lambda n: "itemscope" in n.attributes,
        lambda n: re.split(r"[/#:]", (n.attributes.get("itemtype") or "").strip().lower())[-1],
    )


def rdfa_scopes(node: LexborNode) -> tuple[int | None, int | None]:
    return _scopes(
        node,
        lambda n: "typeof" in n.attributes,
        lambda n: re.split(r"[/#:]", (n.attributes.get("typeof") or "").strip().lower())[-1],
    )


def microdata_name(node: LexborNode) -> str:
    return (node.attributes.get("itemprop") or "").strip().lower()


def rdfa_name(node: LexborNode) -> str:
    raw = (node.attributes.get("property") or "").strip().lower()
    return re.split(r"[/#:]", raw)[-1] if raw and not raw.startswith(("og:", "product:")) else ""
