"""The competitor's own CSS selector for the price, when the merchant configured one."""

from __future__ import annotations

from shared.market.extraction.amounts import parse_amount
from shared.market.extraction.dom import attribute_value, is_struck
from shared.market.extraction.heuristics import H1, main_heading, page_title_tokens, select_nodes, stock_after_heading
from shared.market.extraction.model import Found, Page


def from_selector(page: Page, selector: str) -> Found:
    """The first price under the competitor's own CSS selector, and the stock note near the heading."""
    try:
        nodes = page.tree.css(selector)
    except Exception:  # noqa: BLE001 - a bad selector in a competitor's settings must not break extraction
        return Found()
    for node in nodes:
        if is_struck(node):
            continue
        amount, written = parse_amount(
            attribute_value(node), currency=page.expected_currency, decimal_separator=page.hints.decimal_separator
        )
        if amount is not None:
            headings = select_nodes(page.tree, "h1")
            heading = main_heading(headings, page_title_tokens(page.tree), {}, tags=H1)
            stock = stock_after_heading(headings[heading]) if heading is not None else None
            return Found(amount, written, stock)
    return Found()
