"""Matching accounting items to variants: pure, so every edge is cheap to pin down."""

from __future__ import annotations

from decimal import Decimal

from shared.accounting.apideck import InvoiceItem
from shared.accounting.matching import VariantKey, match_counts, match_items

VARIANTS = [VariantKey(1, "AB-1", "Blue Mug"), VariantKey(2, "AB-2", "Red  Mug"), VariantKey(3, None, "Poster")]


def item(id_: str, code: str | None = None, name: str | None = None, cost: str | None = "1.00",
         currency: str | None = None) -> InvoiceItem:
    return InvoiceItem.model_validate({"id": id_, "code": code, "name": name, "currency": currency,
                                       "purchase_details": {"unit_price": cost}})


def outcome(*items: InvoiceItem, shop: str = "GBP", books: str = "GBP") -> list[tuple]:
    return [(m.item_id, m.outcome, m.matched_by, m.variant_id) for m in match_items(items, VARIANTS, shop, books)]


def test_code_wins_over_name_and_case_and_spaces_do_not_matter() -> None:
    assert outcome(item("1", code=" ab-1", name="Red Mug")) == [("1", "matched", "sku", 1)]
    assert outcome(item("2", name="red mug")) == [("2", "matched", "name", 2)]  # inner spaces collapse
    assert outcome(item("3", code="ZZ", name="poster")) == [("3", "matched", "name", 3)]


def test_nothing_is_guessed() -> None:
    assert outcome(item("1", code="AB-1"), item("2", name="Blue Mug")) == [
        ("1", "ambiguous", "sku", None), ("2", "ambiguous", "name", None)]  # two items, one variant
    assert outcome(item("9", code="AB-9", name="Green Mug")) == [("9", "unmatched", None, None)]
    assert outcome(item("8", name="Blue Mu")) == [("8", "unmatched", None, None)]  # exact names only


def test_costs_and_currencies_that_cannot_be_used() -> None:
    assert outcome(item("1", code="AB-1", cost=None))[0][1] == "no_cost"
    assert outcome(item("1", code="AB-1", cost="-2"))[0][1] == "no_cost"
    assert outcome(item("1", code="AB-1", cost="1000000000"))[0][1] == "no_cost"
    assert outcome(item("1", code="AB-1", currency="USD"))[0][1] == "currency_mismatch"
    assert outcome(item("1", code="AB-1", currency="UNKNOWN_CURRENCY"))[0][1] == "currency_mismatch"
    assert outcome(item("1", code="AB-1"), books="EUR")[0][1] == "currency_mismatch"  # no currency: the books'
    assert outcome(item("1", code="AB-1", currency="gbp"))[0][1] == "matched"


def test_a_repeated_item_counts_once_and_the_counts_add_up() -> None:
    matches = match_items([item("1", code="AB-1", cost="2.50"), item("1", code="AB-1", cost="9.99"),
                           item("2", code="nope")], VARIANTS, "GBP", "GBP")
    assert [(m.item_id, m.unit_cost) for m in matches] == [("1", Decimal("2.50")), ("2", Decimal("1.00"))]
    counts = match_counts(matches)
    assert (counts["items"], counts["matched"], counts["unmatched"], counts["matched_by_sku"]) == (2, 1, 1, 1)
