"""Sync one shop's catalogue, stock and order history from the GraphQL Admin API into Postgres.

`await sync_shop(shop_id, domain, client, since=None)` reads, page by page:

1. products                     products(first: 250)                              252 points
2. variants, cost, barcode      productVariants(first: 240) with inventoryItem     962 points
3. stock per location           location(id).inventoryLevels(first: 250)          753 points
4. orders in the history window orders(first: 30) with lineItems(first: 5)        992 points
   (an order with more lines: order(id).lineItems(first: 150) for the rest)       903 points

Flat connections rather than products > variants > levels nesting: nesting multiplies the
requested cost and forces tiny pages. Every query stays under Shopify's 1000-point cap (the
figures above are requested costs; the refund brings the actual cost down to what exists).

Each page is upserted as it arrives, in a worker thread while the next page is fetched, and
then dropped: the catalogue is never held in memory. With `since`, products, variants and
orders are read only if updated after it; stock levels are always read whole (every sale
changes them). No customer field is ever requested.

A full read (no `since`) that completes deletes the shop's products, variants and stock levels
it did not see; only their ids are kept for that (this path serves catalogues below the bulk
threshold). A read that fails part-way deletes nothing. Large catalogues take the bulk path
(`shared.shopify.bulk_sync`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.db import catalogue
from shared.db.catalogue_staging import delete_unseen
from shared.db.catalogue import InventoryLevelRecord, OrderLineRecord, ProductRecord, VariantRecord
from shared.db.pool import transaction
from shared.settings import get_settings
from shared.shopify.admin_api import AdminApiClient
from shared.shopify.admin_shapes import AdminShape, MoneyBag, MoneyV2, ProductShape, Ref

logger = logging.getLogger(__name__)

PRODUCTS_PAGE = 250
VARIANTS_PAGE = 240
LOCATIONS_PAGE = 50
LEVELS_PAGE = 250
ORDERS_PAGE = 30
LINES_PER_ORDER = 5
ORDER_LINES_PAGE = 150
# A row written less than this before a full read began is not deleted for being unseen: it may be
# a webhook's write racing the read, judged against the database's clock rather than ours.
CLOCK_SKEW_MARGIN = timedelta(minutes=5)

PRODUCTS_QUERY = """
query SyncProducts($first: Int!, $after: String, $query: String) {
  products(first: $first, after: $after, query: $query, sortKey: ID) {
    pageInfo { hasNextPage endCursor }
    nodes { id title handle productType vendor status updatedAt }
  }
}"""
PRODUCTS_COST = 2 + PRODUCTS_PAGE * 1

VARIANTS_QUERY = """
query SyncVariants($first: Int!, $after: String, $query: String) {
  productVariants(first: $first, after: $after, query: $query, sortKey: ID) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id title sku barcode price compareAtPrice inventoryQuantity
      product { id }
      inventoryItem { id unitCost { amount currencyCode } }
    }
  }
}"""
VARIANTS_COST = 2 + VARIANTS_PAGE * 4  # variant, product, inventoryItem, unitCost

LOCATIONS_QUERY = """
query SyncLocations($first: Int!, $after: String) {
  locations(first: $first, after: $after, sortKey: ID) {
    pageInfo { hasNextPage endCursor }
    nodes { id name }
  }
}"""
LOCATIONS_COST = 2 + LOCATIONS_PAGE * 1

LEVELS_QUERY = """
query SyncInventoryLevels($location: ID!, $first: Int!, $after: String) {
  location(id: $location) {
    inventoryLevels(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { item { id } quantities(names: ["available", "on_hand", "committed"]) { name quantity } }
    }
  }
}"""
LEVELS_COST = 1 + 2 + LEVELS_PAGE * 3  # location; level, item, quantities

_LINE_FIELDS = """
        id sku quantity currentQuantity
        variant { id }
        originalUnitPriceSet { shopMoney { amount currencyCode } }
        discountedUnitPriceAfterAllDiscountsSet { shopMoney { amount currencyCode } }"""
_LINE_COST = 1 + 1 + 2 + 2  # line, variant, two MoneyBag > MoneyV2

ORDERS_QUERY = f"""
query SyncOrders($first: Int!, $lines: Int!, $after: String, $query: String) {{
  orders(first: $first, after: $after, query: $query, sortKey: ID) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
      id createdAt updatedAt cancelledAt
      lineItems(first: $lines) {{
        pageInfo {{ hasNextPage endCursor }}
        nodes {{{_LINE_FIELDS} }}
      }}
    }}
  }}
}}"""
ORDERS_COST = 2 + ORDERS_PAGE * (1 + 2 + LINES_PER_ORDER * _LINE_COST)

ORDER_LINES_QUERY = f"""
query SyncOrderLines($order: ID!, $first: Int!, $after: String) {{
  order(id: $order) {{
    lineItems(first: $first, after: $after) {{
      pageInfo {{ hasNextPage endCursor }}
      nodes {{{_LINE_FIELDS} }}
    }}
  }}
}}"""
ORDER_LINES_COST = 1 + 2 + ORDER_LINES_PAGE * _LINE_COST


class SyncSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    shop_id: int
    domain: str
    mode: Literal["full", "incremental"]
    since: AwareDatetime | None
    orders_from: AwareDatetime
    started_at: AwareDatetime
    finished_at: AwareDatetime
    seconds: float
    products: int
    variants: int
    variants_skipped: int = Field(description="Variants whose product was not stored (created mid-sync).")
    locations: int
    inventory_levels: int
    orders: int
    order_lines: int
    query_points: int = Field(description="Actual query cost spent, as Shopify reported it.")
    requested_points: int
    requests: int
    pages: int
    throttled_waits: int = Field(description="Waits for the cost bucket: before sending, or after THROTTLED/429.")
    wait_seconds: float
    products_removed: int = Field(0, description="Deleted after a complete full read did not see them.")
    variants_removed: int = 0
    inventory_levels_removed: int = 0


# --- the Admin API's shapes, validated at the boundary -------------------------------------------


class _ProductNode(ProductShape):
    def record(self) -> ProductRecord:
        return ProductRecord(
            shopify_id=self.id, title=self.title, handle=self.handle, product_type=self.product_type or None,
            vendor=self.vendor, status=self.status, shopify_updated_at=self.updated_at,
        )


class _InventoryItemNode(AdminShape):
    id: str
    unit_cost: MoneyV2 | None = Field(None, alias="unitCost")


class _VariantNode(AdminShape):
    id: str
    title: str | None = None
    sku: str | None = None
    barcode: str | None = None
    price: Decimal
    compare_at_price: Decimal | None = Field(None, alias="compareAtPrice")
    inventory_quantity: int | None = Field(None, alias="inventoryQuantity")
    product: Ref
    inventory_item: _InventoryItemNode | None = Field(None, alias="inventoryItem")

    def record(self) -> VariantRecord:
        cost = self.inventory_item.unit_cost if self.inventory_item else None
        return VariantRecord(
            shopify_id=self.id, product_shopify_id=self.product.id, sku=self.sku or None, title=self.title,
            barcode=self.barcode or None, price=self.price, compare_at_price=self.compare_at_price,
            inventory_item_id=self.inventory_item.id if self.inventory_item else None,
            inventory_quantity=self.inventory_quantity,
            shopify_unit_cost=cost.amount if cost else None, shopify_unit_cost_currency=cost.currency_code if cost else None,
        )


class _LocationNode(AdminShape):
    id: str
    name: str | None = None


class _Quantity(AdminShape):
    name: str
    quantity: int


class _LevelNode(AdminShape):
    item: Ref
    quantities: list[_Quantity]

    def record(self, location_id: str, location_name: str | None) -> InventoryLevelRecord:
        values = {q.name: q.quantity for q in self.quantities}
        return InventoryLevelRecord(
            inventory_item_id=self.item.id, location_id=location_id, location_name=location_name,
            available=values.get("available"), on_hand=values.get("on_hand"), committed=values.get("committed"),
        )


class _LineNode(AdminShape):
    id: str
    sku: str | None = None
    quantity: int
    current_quantity: int = Field(alias="currentQuantity")
    variant: Ref | None = None
    original: MoneyBag = Field(alias="originalUnitPriceSet")
    discounted: MoneyBag = Field(alias="discountedUnitPriceAfterAllDiscountsSet")


class _PageInfo(AdminShape):
    has_next_page: bool = Field(alias="hasNextPage")
    end_cursor: str | None = Field(None, alias="endCursor")


class _LineConnection(AdminShape):
    page_info: _PageInfo = Field(alias="pageInfo")
    nodes: list[_LineNode]


class _OrderNode(AdminShape):
    id: str
    created_at: AwareDatetime = Field(alias="createdAt")
    cancelled_at: AwareDatetime | None = Field(None, alias="cancelledAt")
    line_items: _LineConnection = Field(alias="lineItems")


def _line_record(order_id: str, created_at: datetime, cancelled: bool, line: _LineNode) -> OrderLineRecord:
    return OrderLineRecord(
        line_id=line.id, order_id=order_id, order_created_at=created_at, cancelled=cancelled,
        variant_shopify_id=line.variant.id if line.variant else None, sku=line.sku or None,
        quantity=line.quantity, current_quantity=line.current_quantity,
        original_unit_price=line.original.shop_money.amount, discounted_unit_price=line.discounted.shop_money.amount,
        currency=line.original.shop_money.currency_code,
    )


# --- writing while reading ----------------------------------------------------------------------


class _PageWriter:
    """Writes one page in a worker thread while the next is fetched; at most one write in flight."""

    def __init__(self) -> None:
        self._pending: asyncio.Task[int] | None = None

    async def submit(self, write: Callable[..., int], *args: Any) -> int:
        """Wait for the previous write, start this one; returns the previous write's row count."""
        done = await self.drain()
        self._pending = asyncio.ensure_future(asyncio.to_thread(_in_transaction, write, *args))
        return done

    async def drain(self) -> int:
        if self._pending is None:
            return 0
        pending, self._pending = self._pending, None
        return await pending


def _in_transaction(write: Callable[..., int], *args: Any) -> int:
    with transaction() as conn:
        return write(conn, *args)


def _search_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the sync -----------------------------------------------------------------------------------


async def sync_shop(
    shop_id: int,
    domain: str,
    client: AdminApiClient,
    since: datetime | None = None,
    *,
    now: datetime | None = None,
    history_days: int | None = None,
) -> SyncSummary:
    """Read the shop's catalogue, stock and orders (since `since`, or everything) into the database."""
    if since is not None and since.tzinfo is None:
        raise ValueError("since must be timezone-aware")
    if client.shop_domain != domain:
        raise ValueError("the client is for another shop")
    started = datetime.now(timezone.utc)
    clock = time.monotonic()
    now = (now or started).astimezone(timezone.utc)
    orders_from = now - timedelta(days=history_days or get_settings().shopify_order_history_days)
    before = client.stats.snapshot()
    writer = _PageWriter()
    changed = f"updated_at:>'{_search_time(since)}'" if since else None

    full = since is None
    seen_products: set[str] = set()
    seen_variants: set[str] = set()
    seen_levels: set[tuple[str, str]] = set()

    products = 0
    async for page in client.paginate(PRODUCTS_QUERY, {"first": PRODUCTS_PAGE, "query": changed}, "products",
                                      estimated_cost=PRODUCTS_COST):
        records = [_ProductNode.model_validate(node).record() for node in page.nodes]
        products += len(records)
        if full:
            seen_products.update(r.shopify_id for r in records)
        await writer.submit(catalogue.upsert_products, shop_id, records)
    await writer.drain()  # variants need their products

    variants = variants_written = 0
    async for page in client.paginate(VARIANTS_QUERY, {"first": VARIANTS_PAGE, "query": changed}, "productVariants",
                                      estimated_cost=VARIANTS_COST):
        records = [_VariantNode.model_validate(node).record() for node in page.nodes]
        variants += len(records)
        if full:
            seen_variants.update(r.shopify_id for r in records)
        variants_written += await writer.submit(catalogue.upsert_variants, shop_id, records)
    variants_written += await writer.drain()  # order lines look their product up through variants

    locations = levels = 0
    location_pages = client.paginate(LOCATIONS_QUERY, {"first": LOCATIONS_PAGE}, "locations", estimated_cost=LOCATIONS_COST)
    async for location_page in location_pages:
        for location in (_LocationNode.model_validate(node) for node in location_page.nodes):
            locations += 1
            async for page in client.paginate(LEVELS_QUERY, {"location": location.id, "first": LEVELS_PAGE},
                                              "location.inventoryLevels", estimated_cost=LEVELS_COST):
                records = [_LevelNode.model_validate(node).record(location.id, location.name) for node in page.nodes]
                levels += len(records)
                seen_levels.update((r.inventory_item_id, r.location_id) for r in records)
                await writer.submit(catalogue.upsert_inventory_levels, shop_id, records)

    orders = lines = 0
    window = f"created_at:>='{_search_time(orders_from)}'"
    order_filter = f"{changed} {window}" if changed else window
    async for page in client.paginate(ORDERS_QUERY, {"first": ORDERS_PAGE, "lines": LINES_PER_ORDER, "query": order_filter},
                                      "orders", estimated_cost=ORDERS_COST):
        records: list[OrderLineRecord] = []
        for node in page.nodes:
            order = _OrderNode.model_validate(node)
            cancelled = order.cancelled_at is not None
            records.extend(_line_record(order.id, order.created_at, cancelled, line) for line in order.line_items.nodes)
            if order.line_items.page_info.has_next_page:
                records.extend(await _remaining_lines(client, order, cancelled))
        orders += len(page.nodes)
        lines += len(records)
        await writer.submit(catalogue.upsert_order_lines, shop_id, records)
    await writer.drain()

    removed = None
    if full:  # the whole read completed: what it did not see is gone from the shop
        removed = await asyncio.to_thread(
            _in_transaction, lambda conn: delete_unseen(
                conn, shop_id, product_ids=seen_products, variant_ids=seen_variants, levels=list(seen_levels),
                written_before=started - CLOCK_SKEW_MARGIN))

    after = client.stats
    summary = SyncSummary(
        shop_id=shop_id,
        domain=domain,
        mode="incremental" if since else "full",
        since=since,
        orders_from=orders_from,
        started_at=started,
        finished_at=datetime.now(timezone.utc),
        seconds=round(time.monotonic() - clock, 3),
        products=products,
        variants=variants_written,
        variants_skipped=variants - variants_written,
        locations=locations,
        inventory_levels=levels,
        orders=orders,
        order_lines=lines,
        query_points=after.points_spent - before.points_spent,
        requested_points=after.points_requested - before.points_requested,
        requests=after.requests - before.requests,
        pages=after.pages - before.pages,
        throttled_waits=after.throttle_waits - before.throttle_waits,
        wait_seconds=round(after.wait_seconds - before.wait_seconds, 3),
        products_removed=removed.products_removed if removed else 0,
        variants_removed=removed.variants_removed if removed else 0,
        inventory_levels_removed=removed.inventory_levels_removed if removed else 0,
    )
    logger.info("synced %s: %s", domain, summary.model_dump(include={
        "products", "variants", "inventory_levels", "orders", "order_lines", "query_points", "throttled_waits", "seconds"}))
    return summary


async def _remaining_lines(client: AdminApiClient, order: _OrderNode, cancelled: bool) -> list[OrderLineRecord]:
    """Lines past the first page of a large order, read with the order's own connection."""
    records: list[OrderLineRecord] = []
    variables = {"order": order.id, "first": ORDER_LINES_PAGE, "after": order.line_items.page_info.end_cursor}
    async for page in client.paginate(ORDER_LINES_QUERY, variables, "order.lineItems", estimated_cost=ORDER_LINES_COST):
        for node in page.nodes:
            records.append(_line_record(order.id, order.created_at, cancelled, _LineNode.model_validate(node)))
    return records
