"""Price text to a Decimal, through price-parser, with the decimal separator decided when ambiguous."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from price_parser import Price

from shared.market.extraction.currency import THREE_DECIMAL_CURRENCIES


_PLAIN_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# One separator followed by exactly three digits: a thousands group or three decimals.
_AMBIGUOUS = re.compile(r"\d{1,3}([.,])\d{3}(?!\d)")
DIGIT = re.compile(r"\d")
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
    if not text or not DIGIT.search(text) or _NEGATIVE.match(text):
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
                three = currency in THREE_DECIMAL_CURRENCIES
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
