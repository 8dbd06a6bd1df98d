"""Find a product's price, currency and availability in the HTML of its page.

Layers, most trustworthy first: JSON-LD, microdata, RDFa, OpenGraph / product meta tags, the
competitor's own CSS selector, then page heuristics. The first layer that yields a price wins;
availability and currency come from the first layer that states them. Nothing here knows any
particular site: the heuristics read class names, headings and text the way most shops write
them (a price near the product's h1, not struck through, not "was"/"RRP", not in a block of
related products or in the page chrome).

JSON-LD is read straight from the source with a regular expression; only pages it does not
settle are parsed, once, with selectolax (Lexbor). Price text goes through price-parser, with
the decimal separator decided from the currency when a number is ambiguous ("1.299").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from price_parser import Price
from pydantic import BaseModel, ConfigDict, Field, field_validator
from selectolax.lexbor import LexborHTMLParser, LexborNode


class Availability(StrEnum):
    in_stock = "in_stock"
    out_of_stock = "out_of_stock"
    unknown = "unknown"


class PriceSource(StrEnum):
    json_ld = "json_ld"
    microdata = "microdata"
    rdfa = "rdfa"
    meta = "meta"
    selector = "selector"
    heuristic = "heuristic"


class PriceHints(BaseModel):
    """What we already know about a competitor's pages."""

    model_config = ConfigDict(frozen=True)

    currency: str | None = Field(None, description="ISO 4217 code the competitor sells in.")
    css_selector: str | None = Field(None, description="Where the price is on this competitor's pages.")
    decimal_separator: str | None = Field(None, pattern=r"^[.,]$")

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", value):
            raise ValueError("currency must be an ISO 4217 code such as GBP")
        return value


class ExtractedPrice(BaseModel):
    model_config = ConfigDict(frozen=True)

    price: Decimal | None = None
    currency: str | None = None
    availability: Availability = Availability.unknown
    source: PriceSource | None = None


# --- currencies -------------------------------------------------------------------------------

# Currencies whose minor unit has three digits: "12.500" there is twelve and a half.
_THREE_DECIMAL_CURRENCIES = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})

_ISO_CODES = frozenset(
    "AED ARS AUD BAM BGN BHD BRL BYN CAD CHF CLP CNY COP CZK DKK EGP EUR GBP HKD HRK HUF IDR ILS INR "
    "IQD ISK JOD JPY KES KRW KWD KZT LKR LYD MAD MXN MYR NGN NOK NPR NZD OMR PEN PHP PKR PLN QAR RON "
    "RSD RUB SAR SEK SGD THB TND TRY TWD UAH USD UYU VND ZAR".split()
)

# Symbols that name one currency wherever they appear.
_SYMBOLS = {
    "£": "GBP", "€": "EUR", "EURO": "EUR", "US$": "USD", "R$": "BRL", "C$": "CAD", "CA$": "CAD",
    "A$": "AUD", "AU$": "AUD", "NZ$": "NZD", "HK$": "HKD", "S$": "SGD", "NT$": "TWD", "MX$": "MXN",
    "ZŁ": "PLN", "KČ": "CZK", "FT": "HUF", "LEI": "RON", "KN": "HRK", "₽": "RUB", "РУБ": "RUB",
    "Р.": "RUB", "РУБ.": "RUB", "₴": "UAH", "ГРН": "UAH", "₹": "INR", "₩": "KRW", "원": "KRW", "₪": "ILS",
    "₺": "TRY", "TL": "TRY", "฿": "THB", "₫": "VND", "₱": "PHP", "ر.س": "SAR", "د.إ": "AED",
    "KD": "KWD", "RM": "MYR", "BR": "BYN", "Б.Р.": "BYN", "ЛВ": "BGN", "ДИН": "RSD", "元": "CNY",
}
# Symbols shared by several currencies: the competitor's currency or the site's country decides.
_SHARED_SYMBOLS = {
    "$": ("USD", "CAD", "AUD", "NZD", "SGD", "HKD", "TWD", "MXN", "CLP", "COP", "ARS", "UYU"),
    "KR": ("SEK", "NOK", "DKK", "ISK"),
    "KR.": ("SEK", "NOK", "DKK", "ISK"),
    "¥": ("JPY", "CNY"),
    "RS": ("PKR", "INR", "LKR", "NPR"),
    "RS.": ("PKR", "INR", "LKR", "NPR"),
    "R": ("ZAR",),
}
_COUNTRY_CURRENCY = {
    "us": "USD", "ca": "CAD", "au": "AUD", "nz": "NZD", "sg": "SGD", "hk": "HKD", "tw": "TWD",
    "mx": "MXN", "cl": "CLP", "co": "COP", "ar": "ARS", "uy": "UYU", "se": "SEK", "no": "NOK",
    "dk": "DKK", "is": "ISK", "jp": "JPY", "cn": "CNY", "pk": "PKR", "in": "INR", "lk": "LKR",
    "np": "NPR", "za": "ZAR", "uk": "GBP", "gb": "GBP",
}


def currency_code(text: str | None, *, expected: str | None = None, country: str | None = None) -> str | None:
    """An ISO 4217 code for a currency as pages write it ("EUR", "€", "zł", "$", "US $")."""
    if not text:
        return None
    token = text.strip().upper()
    for candidate in (token, token.rstrip("."), token.replace(" ", "")):
        if candidate in _ISO_CODES:
            return candidate
        if candidate in _SYMBOLS:
            return _SYMBOLS[candidate]
        shared = _SHARED_SYMBOLS.get(candidate)
        if shared:
            if expected in shared:
                return expected
            by_country = _COUNTRY_CURRENCY.get(country or "")
            return by_country if by_country in shared else shared[0]
    code = re.search(r"\b[A-Z]{3}\b", token)
    if code and code.group(0) in _ISO_CODES:
        return code.group(0)
    return None


# --- price text ------------------------------------------------------------------------------

_PLAIN_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# One separator followed by exactly three digits: a thousands group or three decimals.
_AMBIGUOUS = re.compile(r"\d{1,3}([.,])\d{3}(?!\d)")
_DIGIT = re.compile(r"\d")
_NEGATIVE = re.compile(r"-\s*\d")
_MAX_PRICE = Decimal("100000000")


def parse_amount(
    value: Any, *, currency: str | None = None, decimal_separator: str | None = None, structured: bool = False
) -> tuple[Decimal | None, str | None]:
    """(amount, currency as written) from a price value; structured values use "." as schema.org asks."""
    if value is None or isinstance(value, bool):
        return None, None
    if isinstance(value, (int, Decimal)):
        return _sane(Decimal(value)), None
    if isinstance(value, float):
        return _sane(Decimal(repr(value))), None
    text = str(value).strip()
    if not text or not _DIGIT.search(text) or _NEGATIVE.match(text):
        return None, None
    if structured and _PLAIN_NUMBER.fullmatch(text):
        return _sane(Decimal(text)), None
    if decimal_separator is None:
        ambiguous = _AMBIGUOUS.search(text)
        if ambiguous and ambiguous.group(0).count(".") + ambiguous.group(0).count(",") == 1:
            only = ambiguous.group(1)
            other_present = ("," if only == "." else ".") in text[ambiguous.start():ambiguous.end() + 4]
            if not other_present:
                # Three decimals only exist in a few currencies; elsewhere it is a thousands group.
                three = currency in _THREE_DECIMAL_CURRENCIES
                decimal_separator = only if three else ("," if only == "." else ".")
    parsed = Price.fromstring(text, decimal_separator=decimal_separator)
    return _sane(parsed.amount), parsed.currency


def _sane(amount: Decimal | None) -> Decimal | None:
    if amount is None:
        return None
    try:
        # Zero is a placeholder ("price on request"), never a competitor's price.
        if not amount.is_finite() or amount <= 0 or amount >= _MAX_PRICE:
            return None
    except InvalidOperation:
        return None
    return amount


# --- availability ----------------------------------------------------------------------------

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


# --- the parsed page -----------------------------------------------------------------------------


@dataclass
class _Found:
    price: Decimal | None = None
    currency: str | None = None  # as written; converted to ISO at the end
    availability: Availability | None = None


@dataclass
class _Page:
    html: str
    url: str | None
    hints: PriceHints
    country: str | None = None
    _tree: LexborHTMLParser | None = field(default=None, init=False, repr=False)

    @property
    def tree(self) -> LexborHTMLParser:
        # Parsing is most of the cost; pages whose JSON-LD says everything never pay it.
        if self._tree is None:
            self._tree = LexborHTMLParser(self.html)
        return self._tree

    @property
    def expected_currency(self) -> str | None:
        return self.hints.currency


def _country_of(url: str | None) -> str | None:
    if not url:
        return None
    host = (urlsplit(url).hostname or "").lower()
    tld = host.rsplit(".", 1)[-1] if "." in host else ""
    return tld if len(tld) == 2 else None


# --- JSON-LD -----------------------------------------------------------------------------------

_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_JSON_COMMENT = re.compile(r"^\s*//[^\n]*$|/\*.*?\*/", re.S | re.M)

# Keys under which other products hang: their offers are not this page's price.
_RELATED_KEYS = frozenset(
    {"isrelatedto", "issimilarto", "isaccessoryorsparepartfor", "isconsumablefor", "itemlistelement",
     "subjectof", "review", "reviews", "isvariantof", "related", "relatedproducts", "itemreviewed"}
)
_LIST_PRICE_TYPES = ("listprice", "strikethroughprice", "srp", "msrp", "originalprice", "wasprice", "invoiceprice")


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


def _types(node: dict) -> set[str]:
    raw = node.get("@type") or node.get("type") or ()
    if isinstance(raw, str):
        raw = (raw,)
    out = set()
    for item in raw:
        if isinstance(item, str):
            out.add(re.split(r"[/#:]", item)[-1].lower())
    return out


def _walk_items(value: Any, related: bool = False) -> Iterator[tuple[dict, bool]]:
    """Every dict in a JSON-LD document with a flag saying it hangs under a related-product key."""
    if isinstance(value, list):
        for item in value:
            yield from _walk_items(item, related)
    elif isinstance(value, dict):
        yield value, related
        for key, child in value.items():
            if isinstance(child, (dict, list)) and key not in ("offers",):
                yield from _walk_items(child, related or key.lower() in _RELATED_KEYS)


@dataclass
class _Offer:
    price: Decimal | None
    currency: str | None
    availability: Availability | None
    url: str | None
    order: int


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


def _collect_offers(offers: Any, expected: str | None, out: list[_Offer], inherited: Availability | None = None) -> None:
    if isinstance(offers, list):
        for item in offers:
            _collect_offers(item, expected, out, inherited)
        return
    if not isinstance(offers, dict):
        return
    availability = availability_from(offers.get("availability")) or inherited
    types = _types(offers)
    if "aggregateoffer" in types and offers.get("lowPrice") in (None, "") and offers.get("price") in (None, ""):
        _collect_offers(offers.get("offers"), expected, out, availability)
        return
    price, currency = _offer_price(offers, expected)
    url = offers.get("url") if isinstance(offers.get("url"), str) else None
    out.append(_Offer(price, currency, availability, url, len(out)))


def _same_page(offer_url: str | None, page_url: str | None) -> bool:
    if not offer_url or not page_url:
        return False
    a, b = urlsplit(offer_url), urlsplit(page_url)
    return a.path.rstrip("/") == b.path.rstrip("/") and (not a.query or a.query == b.query)


def _choose_offer(offers: list[_Offer], page_url: str | None) -> _Offer | None:
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


def _from_json_ld(page: _Page, scripts: list[str]) -> _Found:
    expected = page.expected_currency
    found = _Found()
    candidates: list[tuple[int, _Offer, Availability | None]] = []
    for text in scripts:
        for document in load_json_ld(text):
            for node, related in _walk_items(document):
                if related:
                    continue
                types = _types(node)
                offers_value = node.get("offers")
                variants = node.get("hasVariant")
                if offers_value is None and variants is None:
                    if types & {"offer", "aggregateoffer"} and not any(
                        isinstance(v, dict) and "offers" in v for v in node.values()
                    ):
                        offers_value = node  # a bare Offer
                    else:
                        continue
                offers: list[_Offer] = []
                _collect_offers(offers_value, expected, offers)
                if isinstance(variants, (list, dict)):
                    for variant in variants if isinstance(variants, list) else [variants]:
                        if isinstance(variant, dict):
                            _collect_offers(variant.get("offers"), expected, offers)
                chosen = _choose_offer(offers, page.url)
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


# --- microdata and RDFa --------------------------------------------------------------------

_STRUCK_TAGS = frozenset({"del", "s", "strike"})


def _attribute_value(node: LexborNode) -> str | None:
    attrs = node.attributes
    for key in ("content", "value", "data-price", "data-value"):
        value = attrs.get(key)
        if value is not None and value.strip():
            return value
    if node.tag in ("link", "a"):
        return attrs.get("href")
    return node.text(deep=True, separator=" ", strip=True)


def _struck(node: LexborNode, depth: int = 4) -> bool:
    current: LexborNode | None = node
    for _ in range(depth):
        if current is None:
            return False
        if current.tag in _STRUCK_TAGS:
            return True
        current = current.parent
    return False


_ScopeOf = Callable[[LexborNode], tuple[int | None, int | None]]


def _from_itemprops(
    page: _Page, nodes: list[LexborNode], name_of: Callable[[LexborNode], str], scope_of: _ScopeOf
) -> _Found:
    """Price, currency and availability of the page's main item in microdata or RDFa.

    The main item is the first product scope on the page that carries a price; prices of other
    products (related items, accessories nested inside it) are ignored, and several offers of the
    main item are resolved as in JSON-LD: the lowest that is not out of stock.
    """
    found = _Found()
    offers: list[_Offer] = []
    offer_index: dict[int, _Offer] = {}
    main_product: int | None = None
    for node in nodes:
        name = name_of(node)
        if name not in ("price", "lowprice", "pricecurrency", "availability"):
            continue
        offer_scope, product_scope = scope_of(node)
        if name in ("price", "lowprice"):
            if _struck(node):
                continue
            if main_product is None:
                main_product = product_scope
            elif product_scope != main_product:
                continue
            amount, written = parse_amount(
                _attribute_value(node), currency=page.expected_currency, structured="content" in node.attributes
            )
            if amount is None:
                continue
            key = offer_scope if offer_scope is not None else -len(offers) - 1
            if key in offer_index:
                continue  # a second price in the same offer is its strike-through twin, at best
            offer = _Offer(amount, written, None, None, len(offers))
            offer_index[key] = offer
            offers.append(offer)
        elif name == "pricecurrency":
            if found.currency is None or (main_product is not None and product_scope == main_product):
                found.currency = _attribute_value(node)
        elif name == "availability":
            state = availability_from(
                node.attributes.get("href") or node.attributes.get("content") or node.attributes.get("resource")
                or node.text(deep=True, strip=True)
            )
            if offer_scope is not None and offer_scope in offer_index:
                offer_index[offer_scope].availability = state
            elif found.availability is None or (main_product is not None and product_scope == main_product):
                found.availability = state or found.availability
    chosen = _choose_offer(offers, None)
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


def _microdata_scopes(node: LexborNode) -> tuple[int | None, int | None]:
    return _scopes(
        node,
        lambda n: "itemscope" in n.attributes,
        lambda n: re.split(r"[/#:]", (n.attributes.get("itemtype") or "").strip().lower())[-1],
    )


def _rdfa_scopes(node: LexborNode) -> tuple[int | None, int | None]:
    return _scopes(
        node,
        lambda n: "typeof" in n.attributes,
        lambda n: re.split(r"[/#:]", (n.attributes.get("typeof") or "").strip().lower())[-1],
    )


def _microdata_name(node: LexborNode) -> str:
    return (node.attributes.get("itemprop") or "").strip().lower()


def _rdfa_name(node: LexborNode) -> str:
    raw = (node.attributes.get("property") or "").strip().lower()
    return re.split(r"[/#:]", raw)[-1] if raw and not raw.startswith(("og:", "product:")) else ""


# --- meta tags -------------------------------------------------------------------------------

_META_PRICE_KEYS = (
    "product:sale_price:amount", "og:sale_price:amount", "product:price:amount", "og:price:amount",
    "product:price", "og:price", "twitter:data1:price", "price",
)
_META_CURRENCY_KEYS = (
    "product:sale_price:currency", "product:price:currency", "og:price:currency", "product:currency", "currency",
)
_META_AVAILABILITY_KEYS = ("product:availability", "og:availability", "availability")


def _from_meta(page: _Page, metas: list[LexborNode]) -> _Found:
    values: dict[str, str] = {}
    for node in metas:
        attrs = node.attributes
        key = (attrs.get("property") or attrs.get("name") or "").strip().lower()
        content = attrs.get("content")
        if key and content is not None and key not in values:
            values[key] = content
    found = _Found()
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


# --- page heuristics -------------------------------------------------------------------------

_CANDIDATES = "h1, [class*=price i], [id*=price i], [itemprop*=price i], [data-price]"
_MORE_CANDIDATES = "".join(
    f", [class*={word} i]" for word in ("preis", "prix", "precio", "prezzo", "preco", "cena", "prijs", "amount")
)
# When no h1 names the product, other title-like elements may.
_TITLE_LIKE = ", h2, [class*=title i], [class*=name i], [itemprop=name]"

# Class and id names are read as words ("prd_price__oldAmount" is prd, price, old, amount), so
# "withoutSidebar" or "titleBar" do not trip a substring test.
_CLASS_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
# A price that is not the one to pay now: former, recommended, per unit, partial, an add-on.
_NOT_CURRENT_WORDS = frozenset(
    "old was before strike strikethrough striked crossed through list original orig rrp msrp uvp srp "
    "compare barred save saving savings discount percent percentage tax vat unit per shipping delivery "
    "installment installments instalment monthly month range filter from min max coupon bonus "
    "club member used second total label title currency symbol decimal fraction cents suggested retail "
    "advantage reference ref crossout lined".split()
)
# Words that say the price is the one to pay; they outweigh a weak contrary word.
_CURRENT_WORDS = frozenset(
    "current sale special now final actual our offer deal promo selling reduced main new buy".split()
)
# Containers of other products, the page chrome, or the basket.
_ELSEWHERE_PREFIXES = (
    "relat", "recommend", "recs", "similar", "also", "carousel", "upsell", "crosssell", "recent",
    "viewed", "bundle", "accessor", "suggest", "sponsor", "compar", "wishlist", "footer", "header",
    "nav", "menu", "minicart", "breadcrumb", "review", "sidebar", "popup", "modal", "newsletter",
    "teaser", "tile", "swiper", "slick", "owl", "listing", "search", "banner", "promo", "widget",
)
_ELSEWHERE_TAGS = frozenset({"nav", "footer", "aside", "select", "option", "button", "label"})
_MAIN_PRODUCT = re.compile(
    r"\b(pdp|buy ?box|product (detail|details|info|main|header|title|summary|page|view|essential)|"
    r"main product|detail ?view)\b"
)
_OTHER_PRODUCTS = ("relat", "similar", "also", "recommend")
# Text that says a price is a former, recommended, partial or per-unit one.
_FORMER = (
    r"was|rrp|uvp|statt|avant|prima|before|regular|list price|original|msrp|srp|reg\.|save|you save|"
    r"conseill\w*|consigliato|recomendado|empfohlen\w*|sugerido|antes|vorher|normalpris|ord\."
)
_PER_UNIT = r"/\s*(kg|g|l|ml|m|m²|100|unit|unité|stück|stk|piece|pc)\b|\bper\s|\bpro\s"
_FORMER_TEXT = re.compile(rf"\b({_FORMER})(?!\w)", re.I)
_PER_UNIT_TEXT = re.compile(rf"\s*({_PER_UNIT})", re.I)
_NOT_CURRENT_TEXT = re.compile(
    rf"\b({_FORMER}|from|ab|à partir|a partir|desde|starting|od)(?!\w)|%|\+\s*\D{{0,4}}\d|{_PER_UNIT}", re.I
)
_UNAVAILABLE_TEXT = re.compile(
    r"currently unavailable|out of stock|sold out|not available|no longer available|nicht verfügbar|"
    r"derzeit nicht|ausverkauft|épuisé|indisponible|esaurito|non disponibile|"
    r"agotado|no disponible|niedostępny|wyprzedany|nedostupn|uitverkocht|niet leverbaar|slutsåld|"
    r"loppuunmyyty|udsolgt|utsolgt",
    re.I,
)
_CURRENCY_MARK = re.compile(
    r"[£€$¥₹₩₽₴₪₺฿₫₱]|\b(?:[A-Z]{3}|zł|Kč|Ft|Lei|Kn|kr|Rs\.?|руб|грн|лв|TL|RM)(?![a-z])|원|元|円|ر\.س|د\.إ",
)
_NUMBER = re.compile(r"\d+(?:[.,'’]\d+)*(?!\s*%)")
# "$229 99": whole units and cents in separate elements (the cents set as superscript).
_SPLIT_CENTS = re.compile(r"^(\D*?)(\d{1,3}(?:[.,'’ ]\d{3})*|\d+) (\d{2})(\D*)$")
_WORD = re.compile(r"\w+")


@dataclass
class _Candidate:
    order: int
    amount: Decimal
    currency: str | None
    score: float


def _classes(node: LexborNode) -> str:
    attrs = node.attributes
    return f"{attrs.get('class') or ''} {attrs.get('id') or ''} {attrs.get('itemprop') or ''}"


_PRICE_IN_WORD = re.compile(r"(price|preis|prix|precio|prezzo|preco|cena|prijs|amount)")


def _class_words(marker: str) -> list[str]:
    words = []
    for word in _CLASS_WORD.findall(marker):
        word = word.lower()
        # All-lowercase compounds: "priceold", "oldprice", "pricenew" are two words each.
        if len(word) > 6 and _PRICE_IN_WORD.search(word):
            words.extend(part for part in _PRICE_IN_WORD.split(word) if part)
        else:
            words.append(word)
    return words


_OK, _SHIELDED, _BAD = 0, 1, 2


def _elsewhere(node: LexborNode, cache: dict[int, int]) -> bool:
    """True when the node sits in the page chrome or in a block of other products.

    A <header> inside an <article> or <main> is the product's own header, not the site's, so
    states flow down the tree: bad is final, and article/main shield what is below them.
    """
    chain: list[LexborNode] = []
    current: LexborNode | None = node.parent
    state = _OK
    while current is not None and current.tag not in ("body", "html", None):
        cached = cache.get(current.mem_id)
        if cached is not None:
            state = cached
            break
        chain.append(current)
        current = current.parent
    for ancestor in reversed(chain):
        if state != _BAD:
            tag = ancestor.tag
            marker_state = _container_kind(ancestor)
            if tag in _ELSEWHERE_TAGS or tag in _STRUCK_TAGS or marker_state == _BAD:
                state = _BAD
            elif tag == "header":
                state = _SHIELDED if state == _SHIELDED else _BAD
            elif tag in ("article", "main") or marker_state == _SHIELDED:
                state = _SHIELDED
        cache[ancestor.mem_id] = state
    return state == _BAD


def _container_kind(node: LexborNode) -> int:
    attrs = node.attributes
    marker = f"{attrs.get('class') or ''} {attrs.get('id') or ''}"
    if not marker.strip():
        return _OK
    for token in marker.split():
        words = _class_words(token)
        if "without" in words or "no" in words:
            continue  # "withoutSidebar" is a layout, not a sidebar
        if any(word.startswith(_ELSEWHERE_PREFIXES) for word in words):
            # "product-header" or "pdp-reviews-summary" belong to the product itself;
            # "pdp-related" does not.
            if not _MAIN_PRODUCT.search(" ".join(words)) or any(w.startswith(_OTHER_PRODUCTS) for w in words):
                return _BAD
    return _SHIELDED if _MAIN_PRODUCT.search(" ".join(_class_words(marker))) else _OK


def _tokens(text: str) -> set[str]:
    words = _WORD.findall(text.casefold())
    tokens = {w for w in words if len(w) > 1}
    for word in words:
        if not word.isascii() and len(word) > 3:  # scripts written without spaces: character pairs
            tokens.update(word[i:i + 2] for i in range(len(word) - 1))
    return tokens


def _page_title_tokens(tree: LexborHTMLParser) -> set[str]:
    tokens: set[str] = set()
    node = tree.css_first("title")
    if node is not None:
        tokens |= _tokens(node.text(strip=True))
    node = tree.css_first("meta[property='og:title']")
    if node is not None:
        tokens |= _tokens(node.attributes.get("content") or "")
    return tokens


_H1 = frozenset({"h1"})
_ANY_TAG: frozenset[str] = frozenset()


def _main_heading(
    nodes: list[LexborNode], title_tokens: set[str], cache: dict[int, int], *, tags: frozenset[str]
) -> int | None:
    """Index of the heading that names the product: the one most like the page title.

    The containers of that heading hold the product, whatever their class names say, so they
    are marked as such for the "elsewhere" test.
    """
    best, best_shared, first = None, 0, None
    for index, node in enumerate(nodes):
        if tags is _H1 and node.tag != "h1":
            continue
        if tags is _ANY_TAG and node.tag not in ("h1", "h2") and not _looks_like_title(node):
            continue
        text = node.text(deep=True, strip=True)
        if not 2 < len(text) < 300:
            continue
        tokens = _tokens(text)
        shared = len(tokens & title_tokens)
        # Most words shared with the title, among headings mostly made of title words: a
        # review titled "Faux Throw" loses to "John Lewis Faux Fur Throw, Platinum".
        if tokens and shared / len(tokens) >= 0.5 and shared > best_shared:
            best, best_shared = index, shared
        if first is None and tags is _H1 and not _elsewhere(node, cache):
            first = index
    chosen = best if best is not None else first
    if chosen is not None:
        ancestor = nodes[chosen].parent
        while ancestor is not None and ancestor.tag not in ("body", "html"):
            cache[ancestor.mem_id] = _SHIELDED
            ancestor = ancestor.parent
    return chosen


def _looks_like_title(node: LexborNode) -> bool:
    words = _class_words(_classes(node))
    return "title" in words or "name" in words


def _distinct_numbers(text: str) -> int:
    compact = "".join(text.split())
    return len({re.sub(r"\D", "", n) for n in _NUMBER.findall(compact)})


def _select(tree: LexborHTMLParser, selector: str) -> list[LexborNode]:
    """Nodes matching a selector list in document order, each once (a list repeats multi-matches)."""
    seen: set[int] = set()
    out = []
    for node in tree.css(selector):
        key = node.mem_id
        if key not in seen:
            seen.add(key)
            out.append(node)
    return out


def _from_heuristics(page: _Page) -> _Found:
    tree = page.tree
    cache: dict[int, int] = {}
    title_tokens = _page_title_tokens(tree)
    # Each attribute test is a walk over the whole tree, so the common English markers go
    # first and the other languages' only when those find nothing.
    for selector in (_CANDIDATES, _CANDIDATES + _MORE_CANDIDATES):
        nodes = _select(tree, selector)
        heading = _main_heading(nodes, title_tokens, cache, tags=_H1)
        if heading is None:
            nodes = _select(tree, selector + _TITLE_LIKE)
            heading = _main_heading(nodes, title_tokens, cache, tags=_ANY_TAG)
        best, unavailable_at = _best_candidate(page, nodes, heading, cache)
        if unavailable_at is not None and (best is None or best.order > unavailable_at):
            # "Currently unavailable" where the price would be: any price further on is not this product's.
            return _Found(availability=Availability.out_of_stock)
        if best is not None and best.score >= _MIN_SCORE:
            stock = _stock_after_heading(nodes[heading]) if heading is not None else None
            return _Found(best.amount, best.currency, stock)
    if heading is not None:
        return _price_after_heading(page, nodes[heading])
    return _Found()


_IN_STOCK_TEXT = re.compile(
    r"\bin stock\b|available now|auf lager|sofort lieferbar|en stock|disponible|disponibile|op voorraad|"
    r"på lager|dostępny|skladem|varastossa",
    re.I,
)


def _stock_after_heading(heading: LexborNode, limit: int = 30) -> Availability | None:
    """What the text near the product heading says about stock, if anything."""
    for text, struck in _following_text(heading, limit):
        if struck:
            continue
        if _UNAVAILABLE_TEXT.search(text):
            return Availability.out_of_stock
        if _IN_STOCK_TEXT.search(text):
            return Availability.in_stock
    return None


_MIN_SCORE = -1.0


def _price_text(node: LexborNode) -> str:
    """The element's text as one price: split cents rejoined, a number said twice said once."""
    text = node.text(deep=True, separator=" ", strip=True)
    split = _SPLIT_CENTS.match(text)
    if split and node.child is not None:
        return f"{split[1]}{split[2]}.{split[3]}{split[4]}"
    numbers = list(_NUMBER.finditer(text))
    if len(numbers) > 1 and len({re.sub(r"\D", "", n.group(0)) for n in numbers}) == 1:
        # Screen-reader copies ("$5.99 $5.99", "1,679 1679") would otherwise run together.
        return text[:numbers[1].start()]
    return text


def _best_candidate(
    page: _Page, nodes: list[LexborNode], heading: int | None, cache: dict[int, int]
) -> tuple[_Candidate | None, int | None]:
    """The likeliest price element, and where an "unavailable" notice sits near the heading.

    Every element that passes the filters gets a score: a currency in its text and words such
    as "sale" or "final" in its class raise it, several different numbers in its text (a
    container or a sentence) lower it, and so does the distance from the product heading.
    """
    best: _Candidate | None = None
    unavailable_at: int | None = None
    for order, node in enumerate(nodes):
        if node.tag in ("h1", "h2") or order == heading:
            continue
        distance = order - heading if heading is not None else order + 1
        if distance < -40:
            continue
        text = node.text(deep=True, separator=" ", strip=True)
        if not text or len(text) > 80:
            continue
        if not _DIGIT.search(text):
            if (
                unavailable_at is None
                and heading is not None
                and 0 < distance < 30
                and _UNAVAILABLE_TEXT.search(text)
                and not _elsewhere(node, cache)
            ):
                unavailable_at = order
            continue
        words = _class_words(_classes(node))
        current = any(word in _CURRENT_WORDS for word in words)
        if not current and any(word in _NOT_CURRENT_WORDS for word in words):
            continue
        if _struck(node, depth=3) or _NOT_CURRENT_TEXT.search(text) or _elsewhere(node, cache):
            continue
        has_mark = bool(_CURRENCY_MARK.search(text))
        value = _price_text(node)
        if not has_mark:
            attr_value = node.attributes.get("content") or node.attributes.get("data-price")
            if attr_value:
                value = attr_value
        amount, written = parse_amount(
            value, currency=page.expected_currency, decimal_separator=page.hints.decimal_separator
        )
        if amount is None:
            continue
        score = 2.0 * has_mark + 1.0 * current - 0.5 * ("regular" in words)
        if _distinct_numbers(text) > 1:
            score -= 2.0  # several numbers: a container or a sentence, its children say it better
        # Right after the heading is best; before it, the price more likely belongs to something else.
        score -= 0.25 * min(distance - 1, 20) if distance > 0 else 3.0 + 0.1 * -distance
        if best is None or score > best.score:
            best = _Candidate(order, amount, written, score)
    return best, unavailable_at


# A number with a currency mark next to it, in running text.
_SYMBOL_CHARS = "£€$¥₹₩₽₴₪₺฿₫₱"
_CODES = "|".join(sorted(_ISO_CODES))
_MARKED_PRICE = re.compile(
    rf"(?:[{_SYMBOL_CHARS}]|\b(?:{_CODES})\b|\bRs\.?)\s*\d(?:[\d.,'’ ]*\d)?"
    rf"|\d(?:[\d.,'’ ]*\d)?\s*(?:[{_SYMBOL_CHARS}]|원|元|円|zł|Kč|Ft|Lei|Kn|kr|руб|грн|лв|TL|\b(?:{_CODES})\b)"
)
_SKIP_TEXT_TAGS = frozenset(
    {"script", "style", "noscript", "template", "svg", "button", "select", "option", "nav", "footer", "aside"}
)


def _following_text(heading: LexborNode, limit: int = 80) -> Iterator[tuple[str, bool]]:
    """Text nodes after the heading in document order, each with a flag for struck-through text."""
    node = heading
    seen = 0
    while seen < limit:
        sibling = node.next
        while sibling is None:
            node = node.parent
            if node is None or node.tag in ("body", "html"):
                return
            sibling = node.next
        node = sibling
        if node.tag in _SKIP_TEXT_TAGS:
            continue
        for child in node.traverse(include_text=True):
            if child.tag != "-text":
                continue
            text = child.text_content
            if not text or not text.strip():
                continue
            seen += 1
            if not _inside(child, node, _SKIP_TEXT_TAGS):
                yield text, _struck(child, depth=4)
            if seen >= limit:
                return


def _inside(node: LexborNode, root: LexborNode, tags: frozenset[str]) -> bool:
    """True when an ancestor of `node`, up to `root`, is one of `tags`."""
    current = node.parent
    while current is not None:
        if current.tag in tags:
            return True
        if current.mem_id == root.mem_id:
            return False
        current = current.parent
    return False


def _price_after_heading(page: _Page, heading: LexborNode) -> _Found:
    """The first currency-marked number in the text that follows the product heading.

    For pages whose markup says nothing about prices. Text nodes are joined by line breaks (a
    number and its currency are often in separate elements); struck-through text is replaced by
    a barrier so it neither matches nor joins its neighbours.
    """
    pieces: list[str] = []
    for text, struck in _following_text(heading):
        if struck:
            pieces.append("¦")
            continue
        if _UNAVAILABLE_TEXT.search(text) and not any(_MARKED_PRICE.search(p) for p in pieces):
            return _Found(availability=Availability.out_of_stock)
        pieces.append(text.strip())
    window = "\n".join(pieces)
    for match in _MARKED_PRICE.finditer(window):
        line_start = max(window.rfind("\n", 0, match.start()), window.rfind("¦", 0, match.start())) + 1
        context = window[max(line_start, match.start() - 24):match.start()]
        after = window[match.end():match.end() + 12]
        if _FORMER_TEXT.search(context) or _PER_UNIT_TEXT.match(after) or context.rstrip().endswith("+"):
            continue
        amount, written = parse_amount(
            match.group(0), currency=page.expected_currency, decimal_separator=page.hints.decimal_separator
        )
        if amount:
            return _Found(amount, written, _stock_after_heading(heading))
    return _Found()


def _from_selector(page: _Page, selector: str) -> _Found:
    """The first price under the competitor's own CSS selector, and the stock note near the heading."""
    try:
        nodes = page.tree.css(selector)
    except Exception:  # noqa: BLE001 - a bad selector in a competitor's settings must not break extraction
        return _Found()
    for node in nodes:
        if _struck(node):
            continue
        amount, written = parse_amount(
            _attribute_value(node), currency=page.expected_currency, decimal_separator=page.hints.decimal_separator
        )
        if amount is not None:
            headings = _select(page.tree, "h1")
            heading = _main_heading(headings, _page_title_tokens(page.tree), {}, tags=_H1)
            stock = _stock_after_heading(headings[heading]) if heading is not None else None
            return _Found(amount, written, stock)
    return _Found()


# --- the entry point -------------------------------------------------------------------------

# JSON-LD is read straight from the source, so a page that states its price there is never parsed.
_JSON_LD_SCRIPT = re.compile(r"<script\b[^>]*?ld\+json[^>]*>(.*?)</script\s*>", re.S | re.I)
_STRUCTURED = "[itemprop], [property], meta[name]"


def extract_price(html: str, url: str | None = None, hints: PriceHints | None = None) -> ExtractedPrice:
    """The price of the product a page is about, with its currency, availability and source."""
    hints = hints or PriceHints()
    page = _Page(html=html, url=url, hints=hints, country=_country_of(url))
    json_ld = _from_json_ld(page, _JSON_LD_SCRIPT.findall(html))
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

    layers: list[tuple[PriceSource, Callable[[], _Found]]] = [
        (PriceSource.json_ld, lambda: json_ld),
        (PriceSource.microdata, lambda: _from_itemprops(page, itemprops, _microdata_name, _microdata_scopes)),
        (PriceSource.rdfa, lambda: _from_itemprops(page, rdfa, _rdfa_name, _rdfa_scopes)),
        (PriceSource.meta, lambda: _from_meta(page, metas)),
    ]
    if hints.css_selector:
        layers.append((PriceSource.selector, lambda: _from_selector(page, hints.css_selector or "")))
    layers.append((PriceSource.heuristic, lambda: _from_heuristics(page)))

    # The price comes from the first layer that has one; availability and currency from the
    # first layer that states them, so a JSON-LD price can take its stock state from meta tags.
    found_price: tuple[_Found, PriceSource] | None = None
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
        return _result(page, _Found(currency=currency_seen), None, availability, None)
    return _result(page, found_price[0], found_price[1], availability, currency_seen)


def _result(
    page: _Page, found: _Found, source: PriceSource | None, availability: Availability | None, currency_seen: str | None
) -> ExtractedPrice:
    expected = page.hints.currency
    currency = currency_code(found.currency or currency_seen, expected=expected, country=page.country)
    return ExtractedPrice(
        price=found.price,
        currency=currency or expected,
        availability=availability or Availability.unknown,
        source=source,
    )
