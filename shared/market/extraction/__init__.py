"""Find a product's price, currency and availability in the HTML of its page.

    from shared.market.extraction import extract_price
    extract_price(html, url, PriceHints(currency="GBP")) -> ExtractedPrice(price, currency, availability, source)

One module per layer (jsonld, microdata, meta, selector, heuristics), most trustworthy first;
`extract` runs them in order. Price text goes through price-parser (`amounts`), currency marks
become ISO codes (`currency`).
"""

from shared.market.extraction.amounts import parse_amount
from shared.market.extraction.availability import availability_from
from shared.market.extraction.currency import currency_code
from shared.market.extraction.extract import extract_price
from shared.market.extraction.jsonld import load_json_ld
from shared.market.extraction.model import Availability, ExtractedPrice, PriceHints, PriceSource

__all__ = [
    "Availability", "ExtractedPrice", "PriceHints", "PriceSource", "availability_from", "currency_code",
    "extract_price", "load_json_ld", "parse_amount",
]
