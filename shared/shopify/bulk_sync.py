"""A full sync through bulk operations: two bulk queries, each a JSONL file staged and merged in SQL.

Parts, run one after the other (Shopify runs one bulk query per app and shop at a time in
API versions before 2026-01, and the stricter limit costs nothing here):

    catalogue   productVariants > inventoryItem.inventoryLevels, each variant with its product
                and unit cost: one connection nested in another, within the two-level limit
    orders      orders (created in the history window) > lineItems

The waiting happens elsewhere (durable timers in `orchestrations/sync_catalogue.py`); this
module starts a part, reads its status, and ingests its result:

1. the result is streamed to a temporary file and its lines counted against `objectCount`;
2. in one transaction, the file is read twice (parents, then children) into staging tables
   by COPY, each line validated at the boundary; children are joined to parents in SQL by
   `__parentId`, so line order never matters; a child without its parent fails the ingest;
3. one INSERT ... ON CONFLICT per table merges the stage; the catalogue part then deletes the
   shop's products, variants and stock levels the read did not see. Any failure before the
   commit leaves the database as it was: an incomplete read deletes nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from shared.db.catalogue_staging import (
    CatalogueMergeCounts,
    CatalogueStaging,
    LevelRow,
    OrderLineRow,
    ProductRow,
    OrderMergeCounts,
    OrderRow,
    OrderStaging,
    VariantRow,
)
from shared.db.pool import transaction
from shared.shopify.admin_api import AdminApiClient
from shared.shopify.admin_shapes import AdminShape, MoneyBag, MoneyV2, ProductShape, Ref
from shared.shopify.sync import CLOCK_SKEW_MARGIN
from shared.shopify.bulk_operations import (
    BulkOperation,
    BulkOperationStatus,
    BulkResultIncompleteError,
    bulk_operation,
    download_result,
    raise_for_outcome,
    start_bulk_query,
)

logger = logging.getLogger(__name__)

BulkPart = Literal["catalogue", "orders"]

CATALOGUE_QUERY = """
{
  productVariants {
    edges {
      node {
        id title sku barcode price compareAtPrice inventoryQuantity
        product { id title handle productType vendor status updatedAt }
        inventoryItem {
          id
          unitCost { amount currencyCode }
          inventoryLevels {
            edges { node { id location { id name } quantities(names: ["available", "on_hand", "committed"]) { name quantity } } }
          }
        }
      }
    }
  }
}"""

_ORDERS_QUERY = """
{
  orders(query: "created_at:>='%s'", sortKey: ID) {
    edges {
      node {
        id createdAt cancelledAt
        lineItems {
          edges {
            node {
              id sku quantity currentQuantity
              variant { id }
              originalUnitPriceSet { shopMoney { amount currencyCode } }
              discountedUnitPriceAfterAllDiscountsSet { shopMoney { amount currencyCode } }
            }
          }
        }
      }
    }
  }
}"""


def orders_window_start(now: datetime, history_days: int) -> datetime:
    """The window's first moment, at midnight UTC: the same query text all day, so a retried start adopts it."""
    start = now.astimezone(timezone.utc) - timedelta(days=history_days)
    return start.replace(hour=0, minute=0, second=0, microsecond=0)


def bulk_query(part: BulkPart, orders_from: datetime) -> str:
    if part == "catalogue":
        return CATALOGUE_QUERY
    return _ORDERS_QUERY % orders_from.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


async def start_part(client: AdminApiClient, part: BulkPart, orders_from: datetime) -> BulkOperation:
    return await start_bulk_query(client, bulk_query(part, orders_from))


async def part_status(client: AdminApiClient, operation_id: str) -> BulkOperation:
    return await bulk_operation(client, operation_id)


# --- the JSONL lines, validated at the boundary ---------------------------------------------------


class _Item(AdminShape):
    id: str
    unit_cost: MoneyV2 | None = Field(None, alias="unitCost")


class _VariantLine(AdminShape):
    id: str
    title: str | None = None
    sku: str | None = None
    barcode: str | None = None
    price: Decimal = Field(ge=0, max_digits=12, decimal_places=2)
    compare_at_price: Decimal | None = Field(None, alias="compareAtPrice", ge=0, max_digits=12, decimal_places=2)
    inventory_quantity: int | None = Field(None, alias="inventoryQuantity")
    product: ProductShape
    inventory_item: _Item | None = Field(None, alias="inventoryItem")

    def row(self) -> VariantRow:
        item = self.inventory_item
        cost = item.unit_cost if item else None
        return (self.id, self.product.id, self.sku or None, self.title, self.barcode or None, self.price,
                self.compare_at_price, item.id if item else None, self.inventory_quantity,
                cost.amount if cost else None, cost.currency_code if cost else None)


class _VariantProduct(AdminShape):
    """Only the product of a variant line: the second pass over the parents."""

    product: ProductShape

    def row(self) -> ProductRow:
        p = self.product
        return (p.id, p.title, p.handle, p.product_type or None, p.vendor, p.status, p.updated_at)


class _Quantity(AdminShape):
    name: str
    quantity: int


class _Location(AdminShape):
    id: str
    name: str | None = None


class _LevelLine(AdminShape):
    id: str
    parent_id: str = Field(alias="__parentId")
    location: _Location
    quantities: list[_Quantity] = []

    def row(self) -> LevelRow:
        values = {q.name: q.quantity for q in self.quantities}
        return (self.id, self.parent_id, self.location.id, self.location.name,
                values.get("available"), values.get("on_hand"), values.get("committed"))


class _OrderLine(AdminShape):
    id: str
    created_at: AwareDatetime = Field(alias="createdAt")
    cancelled_at: AwareDatetime | None = Field(None, alias="cancelledAt")

    def row(self) -> OrderRow:
        return (self.id, self.created_at, self.cancelled_at is not None)


class _LineItemLine(AdminShape):
    id: str
    parent_id: str = Field(alias="__parentId")
    sku: str | None = None
    quantity: int = Field(ge=0)
    current_quantity: int = Field(alias="currentQuantity", ge=0)
    variant: Ref | None = None
    original: MoneyBag = Field(alias="originalUnitPriceSet")
    discounted: MoneyBag = Field(alias="discountedUnitPriceAfterAllDiscountsSet")

    def row(self) -> OrderLineRow:
        return (self.id, self.parent_id, self.variant.id if self.variant else None, self.sku, self.quantity,
                self.current_quantity, self.original.shop_money.amount, self.discounted.shop_money.amount,
                self.original.shop_money.currency_code)


def _kind(gid: object) -> str:
    # gid://shopify/ProductVariant/123 -> ProductVariant
    if not isinstance(gid, str) or not gid.startswith("gid://shopify/"):
        return ""
    return gid.split("/")[3]


def read_lines(path: Path, kind: str) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every line of one kind; a broken line fails the whole read."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                raise BulkResultIncompleteError(f"line {number} of the bulk result is not JSON") from None
            if not isinstance(line, dict):
                raise BulkResultIncompleteError(f"line {number} of the bulk result is not an object")
            if _kind(line.get("id")) == kind:
                yield number, line


def _rows(path: Path, kind: str, model: type[AdminShape]) -> Iterator[tuple]:
    for number, line in read_lines(path, kind):
        try:
            yield model.model_validate(line).row()
        except (ValidationError, ValueError) as exc:
            first = exc.errors()[0] if isinstance(exc, ValidationError) else {"loc": (), "msg": str(exc)}
            where = ".".join(str(part) for part in first["loc"])
            raise BulkResultIncompleteError(f"line {number} ({kind}) is not valid: {where} {first['msg']}") from None


def _first_of_each(rows: Iterator[tuple]) -> Iterator[tuple]:
    """A product comes with each of its variants: stage it once (only the ids are remembered)."""
    seen: set[str] = set()
    for row in rows:
        if row[0] not in seen:
            seen.add(row[0])
            yield row


def _check_kinds(path: Path, expected: set[str]) -> None:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.strip():
                try:
                    kind = _kind(json.loads(raw).get("id"))
                except (ValueError, AttributeError):
                    raise BulkResultIncompleteError(f"line {number} of the bulk result is not a JSON object") from None
                if kind not in expected:
                    raise BulkResultIncompleteError(f"line {number} is a {kind or 'line without id'}, not one of {sorted(expected)}")


def ingest_catalogue_file(shop_id: int, path: Path, read_started_at: datetime) -> CatalogueMergeCounts:
    """Stage and merge a complete catalogue file; delete what it does not contain. All in one transaction."""
    _check_kinds(path, {"ProductVariant", "InventoryLevel"})
    with transaction() as conn:
        stage = CatalogueStaging(conn)
        stage.copy_variants(_rows(path, "ProductVariant", _VariantLine))  # pass 1: parents
        stage.copy_products(_first_of_each(_rows(path, "ProductVariant", _VariantProduct)))  # pass 2: their products
        stage.copy_levels(_rows(path, "InventoryLevel", _LevelLine))  # pass 3: children
        orphans = stage.orphans()
        if orphans:
            raise BulkResultIncompleteError(f"{orphans} lines name a parent that is not in the result")
        return stage.merge(shop_id, remove_unseen_before=read_started_at - CLOCK_SKEW_MARGIN)


def ingest_orders_file(shop_id: int, path: Path, read_started_at: datetime | None = None) -> OrderMergeCounts:
    """Stage and merge an orders file (orders and their lines). All in one transaction."""
    _check_kinds(path, {"Order", "LineItem"})
    with transaction() as conn:
        stage = OrderStaging(conn)
        stage.copy_orders(_rows(path, "Order", _OrderLine))
        stage.copy_lines(_rows(path, "LineItem", _LineItemLine))
        orphans = stage.orphans()
        if orphans:
            raise BulkResultIncompleteError(f"{orphans} order lines name an order that is not in the result")
        return stage.merge(shop_id)


class PartIngested(BaseModel):
    model_config = ConfigDict(frozen=True)

    part: BulkPart
    operation_id: str
    lines: int
    counts: dict[str, int]


async def ingest_part(client: AdminApiClient, shop_id: int, part: BulkPart, operation_id: str,
                      workdir: Path | None = None) -> PartIngested:
    """Download a completed operation's result and merge it; raises if it did not complete whole."""
    operation = await bulk_operation(client, operation_id)  # a fresh signed URL
    if operation.status is not BulkOperationStatus.COMPLETED:
        raise_for_outcome(client.shop_domain, operation)
    with tempfile.TemporaryDirectory(prefix="bulk-", dir=workdir) as folder:
        path = Path(folder) / f"{part}.jsonl"
        lines = await download_result(operation, client, path)
        ingest = ingest_catalogue_file if part == "catalogue" else ingest_orders_file
        # The operation's own start (Shopify's clock) is when the snapshot began.
        read_started_at = operation.created_at or datetime.now(timezone.utc)
        counts = await asyncio.to_thread(ingest, shop_id, path, read_started_at)
    logger.info("%s: bulk %s ingested: %s", client.shop_domain, part, counts.model_dump())
    return PartIngested(part=part, operation_id=operation_id, lines=lines, counts=counts.model_dump())
