"""Reading and writing variant prices through the GraphQL Admin API.

`live_prices` reads the prices Shopify holds now (`nodes(ids:)`, 100 ids a query).
`set_prices` writes one product's variants with `productVariantsBulkUpdate(productId, variants:
[{id, price}])`, all or nothing (allowPartialUpdates stays false): a refused variant
(`userErrors`, e.g. a negative price) leaves its siblings untouched, and each variant's outcome
says why. Writing needs the `write_products` access scope.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from shared.shopify.admin_api import AdminApiClient
from shared.telemetry import external_call

LIVE_PRICES_PAGE = 100

LIVE_PRICES_QUERY = """
query LiveVariantPrices($ids: [ID!]!) {
  nodes(ids: $ids) { ... on ProductVariant { id price } }
}"""

SET_PRICES_MUTATION = """
mutation SetVariantPrices($productId: ID!, $variants: [ProductVariantsBulkInput!]!) {
  productVariantsBulkUpdate(productId: $productId, variants: $variants) {
    productVariants { id price }
    userErrors { field message code }
  }
}"""


@dataclass(frozen=True)
class PriceWrite:
    variant_id: str  # Shopify GID
    applied: bool
    price: Decimal | None  # the price Shopify reports after the write
    error: str | None = None


def money(amount: Decimal) -> str:
    return str(amount.quantize(Decimal("0.01")))


async def _execute(client: AdminApiClient, operation: str, query: str, variables: dict) -> dict:
    with external_call("shopify", operation, shop=client.shop_domain) as call:
        data = await client.execute(query, variables, operation_name=operation)
        if client.last_cost is not None:
            call.add_cost("query_points", client.last_cost.actual_query_cost)
        return data


async def live_prices(client: AdminApiClient, variant_ids: Sequence[str]) -> dict[str, Decimal]:
    """variant GID -> the price in Shopify now; variants Shopify no longer has are absent."""
    found: dict[str, Decimal] = {}
    for start in range(0, len(variant_ids), LIVE_PRICES_PAGE):
        chunk = list(variant_ids[start:start + LIVE_PRICES_PAGE])
        data = await _execute(client, "LiveVariantPrices", LIVE_PRICES_QUERY, {"ids": chunk})
        for node in data.get("nodes") or []:
            if node and node.get("id") and node.get("price") is not None:
                found[node["id"]] = Decimal(str(node["price"]))
    return found


async def set_prices(client: AdminApiClient, product_id: str, prices: Sequence[tuple[str, Decimal]]) -> list[PriceWrite]:
    """Write one product's variant prices; one outcome per variant, in the order given."""
    variables = {"productId": product_id, "variants": [{"id": vid, "price": money(price)} for vid, price in prices]}
    data = await _execute(client, "SetVariantPrices", SET_PRICES_MUTATION, variables)
    payload = data.get("productVariantsBulkUpdate") or {}
    errors = payload.get("userErrors") or []
    if errors:
        by_index: dict[int, list[str]] = {}
        general: list[str] = []
        for error in errors:
            field = error.get("field") or []
            text = f"{error.get('code') or 'ERROR'}: {error.get('message')}"
            if len(field) >= 2 and field[0] == "variants" and str(field[1]).isdigit():
                by_index.setdefault(int(field[1]), []).append(text)
            else:
                general.append(text)
        return [
            PriceWrite(vid, False, None, "; ".join(by_index.get(i, []) + general)
                       or "not written: Shopify refused another variant of this product (all or nothing)")
            for i, (vid, _) in enumerate(prices)
        ]
    written = {v["id"]: Decimal(str(v["price"])) for v in payload.get("productVariants") or [] if v}
    return [
        PriceWrite(vid, vid in written, written.get(vid), None if vid in written else "Shopify did not report this variant")
        for vid, _ in prices
    ]
