"""How far back a shop's orders can be read: Shopify's 60-day default, or more with `read_all_orders`.

Without the `read_all_orders` scope the Admin API shows only the last 60 days of orders
(older ones are simply absent, not an error), so asking for more would silently return a
truncated history. With the scope, the configured window (`SHOPIFY_ORDER_HISTORY_DAYS`) applies.
"""

from __future__ import annotations

from collections.abc import Iterable

DEFAULT_ORDER_DAYS = 60
ALL_ORDERS_SCOPE = "read_all_orders"


def granted_scopes(scopes: str | Iterable[str] | None) -> frozenset[str]:
    """Scopes as Shopify reports them ("read_products,read_orders"), as a set of names."""
    if scopes is None:
        return frozenset()
    parts = scopes.split(",") if isinstance(scopes, str) else scopes
    return frozenset(part.strip() for part in parts if part and part.strip())


def order_history_days(scopes: str | Iterable[str] | None, configured_days: int) -> int:
    """Days of orders to read: the configured window with `read_all_orders`, else at most 60."""
    if configured_days < 1:
        raise ValueError("configured_days must be at least 1")
    if ALL_ORDERS_SCOPE in granted_scopes(scopes):
        return configured_days
    return min(DEFAULT_ORDER_DAYS, configured_days)
