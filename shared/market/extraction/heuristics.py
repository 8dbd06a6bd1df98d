"""The last layer: a price read from the page the way a person would, without structured data.

Nothing here knows any particular site: it reads class names, headings and text the way most
shops write them (a price near the product's h1, not struck through, not "was"/"RRP", not in a
block of related products or in the page chrome).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from selectolax.lexbor import LexborHTMLParser, LexborNode

from shared.market.extraction.amounts import DIGIT, parse_amount
from shared.market.extraction.currency import ISO_CODES
from shared.market.extraction.dom import STRUCK_TAGS, is_struck
from shared.market.extraction.model import Availability, Found, Page


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
            if tag in _ELSEWHERE_TAGS or tag in STRUCK_TAGS or marker_state == _BAD:
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


def page_title_tokens(tree: LexborHTMLParser) -> set[str]:
    tokens: set[str] = set()
    node = tree.css_first("title")
    if node is not None:
        tokens |= _tokens(node.text(strip=True))
    node = tree.css_first("meta[property='og:title']")
    if node is not None:
        tokens |= _tokens(node.attributes.get("content") or "")
    return tokens


H1 = frozenset({"h1"})
_ANY_TAG: frozenset[str] = frozenset()


def main_heading(
    nodes: list[LexborNode], title_tokens: set[str], cache: dict[int, int], *, tags: frozenset[str]
) -> int | None:
    """Index of the heading that names the product: the one most like the page title.

    The containers of that heading hold the product, whatever their class names say, so they
    are marked as such for the "elsewhere" test.
    """
    best, best_shared, first = None, 0, None
    for index, node in enumerate(nodes):
        if tags is H1 and node.tag != "h1":
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
        if first is None and tags is H1 and not _elsewhere(node, cache):
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


def select_nodes(tree: LexborHTMLParser, selector: str) -> list[LexborNode]:
    """Nodes matching a selector list in document order, each once (a list repeats multi-matches)."""
    seen: set[int] = set()
    out = []
    for node in tree.css(selector):
        key = node.mem_id
        if key not in seen:
            seen.add(key)
            out.append(node)
    return out


def from_heuristics(page: Page) -> Found:
    tree = page.tree
    cache: dict[int, int] = {}
    title_tokens = page_title_tokens(tree)
    # Each attribute test is a walk over the whole tree, so the common English markers go
    # first and the other languages' only when those find nothing.
    for selector in (_CANDIDATES, _CANDIDATES + _MORE_CANDIDATES):
        nodes = select_nodes(tree, selector)
        heading = main_heading(nodes, title_tokens, cache, tags=H1)
        if heading is None:
            nodes = select_nodes(tree, selector + _TITLE_LIKE)
            heading = main_heading(nodes, title_tokens, cache, tags=_ANY_TAG)
        best, unavailable_at = _best_candidate(page, nodes, heading, cache)
        if unavailable_at is not None and (best is None or best.order > unavailable_at):
            # "Currently unavailable" where the price would be: any price further on is not this product's.
            return Found(availability=Availability.out_of_stock)
        if best is not None and best.score >= _MIN_SCORE:
            stock = stock_after_heading(nodes[heading]) if heading is not None else None
            return Found(best.amount, best.currency, stock)
    if heading is not None:
        return _price_after_heading(page, nodes[heading])
    return Found()


_IN_STOCK_TEXT = re.compile(
    r"\bin stock\b|available now|auf lager|sofort lieferbar|en stock|disponible|disponibile|op voorraad|"
    r"på lager|dostępny|skladem|varastossa",
    re.I,
)


def stock_after_heading(heading: LexborNode, limit: int = 30) -> Availability | None:
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
    page: Page, nodes: list[LexborNode], heading: int | None, cache: dict[int, int]
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
        if not DIGIT.search(text):
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
        if is_struck(node, depth=3) or _NOT_CURRENT_TEXT.search(text) or _elsewhere(node, cache):
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
_CODES = "|".join(sorted(ISO_CODES))
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
                yield text, is_struck(child, depth=4)
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


def _price_after_heading(page: Page, heading: LexborNode) -> Found:
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
            return Found(availability=Availability.out_of_stock)
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
            return Found(amount, written, stock_after_heading(heading))
    return Found()
