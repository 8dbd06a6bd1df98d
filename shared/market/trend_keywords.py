"""One search keyword per product group, as customers would type it.

A product's keyword is, in order: the merchant's own (`products.trend_keyword`), its product
type, or words of its title (the last three words without sizes and numbers: in English
product titles the noun that says what it is comes last, "Speckled Stoneware Mug").
Keywords are normalised (case-folded, punctuation dropped, spaces collapsed) so that
"Mugs", "mugs " and "MUGS" are one group. Every reader of trends (the trends step, pricing,
the briefing) maps products to keywords through `product_keywords`, so they agree.
"""

from __future__ import annotations

import re

import psycopg

MAX_WORDS_FROM_TITLE = 3
MAX_LENGTH = 100
_NOT_WORD = re.compile(r"[^\w']+")
_HAS_DIGIT = re.compile(r"\d")


def normalise_keyword(text: str | None) -> str | None:
    if not text:
        return None
    words = _NOT_WORD.sub(" ", text.casefold().replace("&", " and ")).replace("_", " ").split()
    keyword = " ".join(w.strip("'") for w in words if w.strip("'"))
    return keyword[:MAX_LENGTH].strip() or None


def keyword_from_title(title: str | None) -> str | None:
    keyword = normalise_keyword(title)
    if not keyword:
        return None
    words = [w for w in keyword.split() if not _HAS_DIGIT.search(w) and len(w) > 1]
    return " ".join(words[-MAX_WORDS_FROM_TITLE:]) or None


def keyword_for(*, override: str | None, product_type: str | None, title: str | None) -> str | None:
    return normalise_keyword(override) or normalise_keyword(product_type) or keyword_from_title(title)


def product_keywords(conn: psycopg.Connection, shop_id: int) -> dict[int, str]:
    """product id -> keyword, for every product that has one."""
    rows = conn.execute(
        "SELECT id, title, product_type, trend_keyword FROM products WHERE shop_id = %s", (shop_id,)
    ).fetchall()
    out = {}
    for row in rows:
        keyword = keyword_for(override=row["trend_keyword"], product_type=row["product_type"], title=row["title"])
        if keyword:
            out[row["id"]] = keyword
    return out


def shop_keywords(conn: psycopg.Connection, shop_id: int, limit: int) -> list[str]:
    """The shop's keywords, the groups with the most variants first (ties by name)."""
    by_product = product_keywords(conn, shop_id)
    counts: dict[str, int] = {}
    for row in conn.execute("SELECT product_id, count(*) AS n FROM variants WHERE shop_id = %s GROUP BY product_id",
                            (shop_id,)).fetchall():
        keyword = by_product.get(row["product_id"])
        if keyword:
            counts[keyword] = counts.get(keyword, 0) + row["n"]
    return sorted(counts, key=lambda k: (-counts[k], k))[:limit]


def set_trend_keyword(conn: psycopg.Connection, shop_id: int, product_id: int, keyword: str | None) -> None:
    """The merchant's keyword for one product (None: derive it again)."""
    normalised = normalise_keyword(keyword) if keyword is not None else None
    if keyword is not None and normalised is None:
        raise ValueError(f"{keyword!r} has no letters or digits to search for")
    updated = conn.execute("UPDATE products SET trend_keyword = %s WHERE id = %s AND shop_id = %s",
                           (normalised, product_id, shop_id)).rowcount
    if not updated:
        raise LookupError(f"product {product_id} is not one of this shop's products")
