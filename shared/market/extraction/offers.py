"""Offers of one product, and which of them is the price to compare with."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

from shared.market.extraction.model import Availability


@dataclass
class Offer:
    price: Decimal | None
    currency: str | None
    availability: Availability | None
    url: str | None
    order: int


def _same_page(offer_url: str | None, page_url: str | None) -> bool:
    if not offer_url or not page_url:
        return False
    a, b = urlsplit(offer_url), urlsplit(page_url)
    return a.path.rstrip("/") == b.path.rstrip("/") and (not a.query or a.query == b.query)


def choose_offer(offers: list[Offer], page_url: str | None) -> Offer | None:
    priced = [o for o in offers if o.price is not None]
    if not priced:
        return None
    if page_url and urlsplit(page_url).query:
        exact = [o for o in priced if o.url and urlsplit(o.url).query and _same_page(o.url, page_url)]
        if exact:
            return exact[0]
    in_stock = [o for o in priced if o.availability is not Availability.out_of_stock] or priced
    # Variants and sellers: the lowest current price, as AggregateOffer.lowPrice would state it.
    return min(in_stock, key=lambda o: (o.price, o.order))
