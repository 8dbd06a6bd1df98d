"""Which variant an accounting item is the cost of: by SKU (the item's code) first, then by exact name.

Pure: items and variants in, one outcome per item out. Comparison ignores case and the
whitespace around and inside a value ("ab-1 " is "AB-1"; "Blue  Mug" is "blue mug"), nothing else.

- `matched`: one variant, by `sku` (code = SKU) or, when the item has no code that names a
  variant, by `name` (name = the variant's display name, "Product - Variant", or the product
  title for a single-variant product).
- `ambiguous`: the code or name names several variants, or several items claim one variant.
  Neither is guessed: no cost is taken from them.
- `unmatched`: nothing of the shop carries that code or name.
- `no_cost`: matched or not, the item has no usable purchase price (none, negative, absurdly large).
- `currency_mismatch`: matched, but the cost is in another currency than the shop's (or one
  that cannot be checked, such as Apideck's UNKNOWN_CURRENCY). Items without a currency are in
  the books' home currency.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Literal

from shared.accounting.apideck import InvoiceItem

MAX_COST = Decimal("100000000")  # what unit_costs can hold (numeric(12, 4)); above it is a typo in the books
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")  # Apideck also sends UNKNOWN_CURRENCY: not a currency we can check

Outcome = Literal["matched", "unmatched", "ambiguous", "currency_mismatch", "no_cost"]
OUTCOMES: tuple[Outcome, ...] = ("matched", "unmatched", "ambiguous", "currency_mismatch", "no_cost")


@dataclass(frozen=True)
class VariantKey:
    variant_id: int
    sku: str | None
    display_name: str


@dataclass(frozen=True)
class ItemMatch:
    item_id: str
    code: str | None
    name: str | None
    unit_cost: Decimal | None
    currency: str | None
    outcome: Outcome
    matched_by: Literal["sku", "name"] | None = None
    variant_id: int | None = None
    candidates: int = 0  # variants the code or name named


def normalise(value: str | None) -> str | None:
    if value is None:
        return None
    folded = " ".join(value.split()).casefold()
    return folded or None


def display_name(product_title: str, variant_title: str | None) -> str:
    if not variant_title or variant_title == "Default Title":
        return product_title
    return f"{product_title} - {variant_title}"


def match_items(items: Iterable[InvoiceItem], variants: Sequence[VariantKey], shop_currency: str,
                books_currency: str) -> list[ItemMatch]:
    by_sku: dict[str, list[int]] = defaultdict(list)
    by_name: dict[str, list[int]] = defaultdict(list)
    for v in variants:
        if (sku := normalise(v.sku)) is not None:
            by_sku[sku].append(v.variant_id)
        if (name := normalise(v.display_name)) is not None:
            by_name[name].append(v.variant_id)

    first_pass: list[ItemMatch] = []
    seen: set[str] = set()
    for item in items:
        if item.id in seen:  # a page boundary that moved under us: the first answer stands
            continue
        seen.add(item.id)
        code, name = normalise(item.code), normalise(item.name)
        currency = (item.currency or books_currency).upper()
        currency = currency if _CURRENCY.fullmatch(currency) else None
        cost = item.unit_cost if item.unit_cost is None or (0 <= item.unit_cost < MAX_COST) else None
        common = dict(item_id=item.id, code=item.code, name=item.name, unit_cost=cost, currency=currency)
        if code is not None and code in by_sku:
            ids, how = by_sku[code], "sku"
        elif name is not None and name in by_name:
            ids, how = by_name[name], "name"
        else:
            ids, how = [], None
        if len(ids) > 1:
            first_pass.append(ItemMatch(**common, outcome="ambiguous", matched_by=how, candidates=len(ids)))
        elif not ids:
            first_pass.append(ItemMatch(**common, outcome="no_cost" if cost is None else "unmatched"))
        else:
            first_pass.append(ItemMatch(**common, outcome="matched", matched_by=how, variant_id=ids[0], candidates=1))

    # Two items for one variant (a duplicate in the books): which cost is right is not ours to guess.
    claims: dict[int, int] = defaultdict(int)
    for m in first_pass:
        if m.outcome == "matched":
            claims[m.variant_id] += 1
    result = []
    for m in first_pass:
        if m.outcome == "matched" and claims[m.variant_id] > 1:
            m = replace(m, outcome="ambiguous", variant_id=None, candidates=claims[m.variant_id])
        elif m.outcome == "matched" and m.unit_cost is None:
            m = replace(m, outcome="no_cost")
        elif m.outcome == "matched" and (m.currency is None or m.currency != shop_currency.upper()):
            m = replace(m, outcome="currency_mismatch")
        result.append(m)
    return result


def match_counts(matches: Sequence[ItemMatch]) -> dict[str, int]:
    counts = {outcome: 0 for outcome in OUTCOMES}
    for m in matches:
        counts[m.outcome] += 1
    counts["items"] = len(matches)
    counts["matched_by_sku"] = sum(1 for m in matches if m.outcome == "matched" and m.matched_by == "sku")
    counts["matched_by_name"] = sum(1 for m in matches if m.outcome == "matched" and m.matched_by == "name")
    return counts
