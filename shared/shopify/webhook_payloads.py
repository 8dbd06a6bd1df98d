"""Webhook payloads: what the app keeps of each topic's JSON, and how it becomes catalogue records.

Webhook bodies are REST-shaped JSON (numeric ids, snake_case), unlike the GraphQL nodes the
sync reads, so they get their own models here; the records they produce are the sync's
(`shared.db.catalogue`), with ids turned into the same GraphQL GIDs.

Privacy by construction: a payload is stored only after `kept_fields` has projected it onto
its topic's model, so a field no model declares (the customer, emails, phones, addresses, the
shop owner) never reaches the database. The projection copies values without judging them, so
a payload that will not validate is still kept (and fails, with the reason, when processed).
"""

from __future__ import annotations

import json
import types
import typing
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Union

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.db.catalogue import InventoryLevelRecord, OrderLineRecord, ProductRecord, VariantRecord
from shared.shopify import webhook_topics as topics

_CENT = Decimal("0.01")
RestId = int | str


class PayloadError(ValueError):
    """The body cannot be read as its topic's payload. Not retryable: the same bytes fail again."""

    retryable = False


def gid(kind: str, value: RestId) -> str:
    """The GraphQL id the sync stores for a REST id: 632910392 -> gid://shopify/Product/632910392."""
    text = str(value)
    if text.startswith("gid://"):
        return text
    if not text.isdigit():
        raise PayloadError(f"not a Shopify {kind} id: {text[:40]!r}")
    return f"gid://shopify/{kind}/{text}"


def numeric_id(value: RestId) -> str:
    """The number at the end of a REST id or a GID, as text."""
    return str(value).rsplit("/", 1)[-1].split("?", 1)[0]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# --- products ------------------------------------------------------------------------------------


class RestVariant(_Payload):
    id: RestId
    admin_graphql_api_id: str | None = None
    product_id: RestId | None = None
    title: str | None = None
    sku: str | None = None
    barcode: str | None = None
    price: Decimal
    compare_at_price: Decimal | None = None
    inventory_item_id: RestId | None = None
    inventory_quantity: int | None = None


class ProductPayload(_Payload):
    """products/create and products/update."""

    id: RestId
    admin_graphql_api_id: str | None = None
    title: str
    handle: str | None = None
    product_type: str | None = None
    vendor: str | None = None
    status: str | None = None
    updated_at: AwareDatetime | None = None
    variants: list[RestVariant] = Field(default_factory=list)

    @property
    def product_gid(self) -> str:
        return self.admin_graphql_api_id or gid("Product", self.id)

    def product_record(self) -> ProductRecord:
        return ProductRecord(
            shopify_id=self.product_gid, title=self.title, handle=self.handle, product_type=self.product_type or None,
            vendor=self.vendor, status=self.status.upper() if self.status else None,  # REST "active", GraphQL ACTIVE
            shopify_updated_at=self.updated_at,
        )

    def variant_records(self) -> list[VariantRecord]:
        # Unit cost is not in a product payload: the stored cost is left alone (see catalogue_changes).
        return [
            VariantRecord(
                shopify_id=v.admin_graphql_api_id or gid("ProductVariant", v.id), product_shopify_id=self.product_gid,
                sku=v.sku or None, title=v.title, barcode=v.barcode or None, price=v.price,
                compare_at_price=v.compare_at_price,
                inventory_item_id=gid("InventoryItem", v.inventory_item_id) if v.inventory_item_id else None,
                inventory_quantity=v.inventory_quantity,
            )
            for v in self.variants
        ]


class ProductDeletePayload(_Payload):
    id: RestId

    @property
    def product_gid(self) -> str:
        return gid("Product", self.id)


# --- stock ---------------------------------------------------------------------------------------


class InventoryLevelPayload(_Payload):
    inventory_item_id: RestId
    location_id: RestId
    available: int | None = None
    updated_at: AwareDatetime | None = None

    def record(self) -> InventoryLevelRecord:
        return InventoryLevelRecord(
            inventory_item_id=gid("InventoryItem", self.inventory_item_id),
            location_id=gid("Location", self.location_id), available=self.available,
        )


# --- orders --------------------------------------------------------------------------------------


class RestMoney(_Payload):
    amount: Decimal
    currency_code: str


class RestMoneySet(_Payload):
    shop_money: RestMoney


class DiscountAllocation(_Payload):
    amount: Decimal
    amount_set: RestMoneySet | None = None

    @property
    def shop_amount(self) -> Decimal:
        return self.amount_set.shop_money.amount if self.amount_set else self.amount


class RestLineItem(_Payload):
    id: RestId
    admin_graphql_api_id: str | None = None
    variant_id: RestId | None = None
    product_id: RestId | None = None
    sku: str | None = None
    quantity: int = Field(ge=0)
    current_quantity: int | None = Field(None, ge=0)
    price: Decimal
    price_set: RestMoneySet | None = None
    discount_allocations: list[DiscountAllocation] = Field(default_factory=list)


class RefundLine(_Payload):
    line_item_id: RestId
    quantity: int = Field(ge=0)


class Refund(_Payload):
    refund_line_items: list[RefundLine] = Field(default_factory=list)


class OrderPayload(_Payload):
    """orders/create and orders/updated: only what sold, when and at what price. No customer field is declared."""

    id: RestId
    admin_graphql_api_id: str | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime | None = None
    cancelled_at: AwareDatetime | None = None
    currency: str | None = None
    line_items: list[RestLineItem] = Field(default_factory=list)
    refunds: list[Refund] = Field(default_factory=list)

    @property
    def order_gid(self) -> str:
        return self.admin_graphql_api_id or gid("Order", self.id)

    def line_records(self) -> list[OrderLineRecord]:
        refunded: dict[str, int] = {}
        for refund in self.refunds:
            for line in refund.refund_line_items:
                refunded[str(line.line_item_id)] = refunded.get(str(line.line_item_id), 0) + line.quantity
        records = []
        for line in self.line_items:
            unit = line.price_set.shop_money.amount if line.price_set else line.price
            currency = line.price_set.shop_money.currency_code if line.price_set else self.currency
            if not currency:
                raise PayloadError(f"order {self.id} line {line.id}: no currency")
            discount = sum((d.shop_amount for d in line.discount_allocations), Decimal(0))
            # GraphQL's discountedUnitPriceAfterAllDiscounts: the line's discounts spread over its units.
            discounted = unit - (discount / line.quantity if line.quantity else Decimal(0))
            # Older payloads lack current_quantity: ordered minus refunded, as GraphQL counts it.
            kept = line.current_quantity if line.current_quantity is not None else max(
                0, line.quantity - refunded.get(str(line.id), 0))
            records.append(OrderLineRecord(
                line_id=line.admin_graphql_api_id or gid("LineItem", line.id), order_id=self.order_gid,
                order_created_at=self.created_at, cancelled=self.cancelled_at is not None,
                variant_shopify_id=gid("ProductVariant", line.variant_id) if line.variant_id else None,
                product_shopify_id=gid("Product", line.product_id) if line.product_id else None,
                sku=line.sku or None, quantity=line.quantity, current_quantity=kept,
                original_unit_price=unit.quantize(_CENT, ROUND_HALF_UP),
                discounted_unit_price=max(Decimal(0), discounted).quantize(_CENT, ROUND_HALF_UP),
                currency=currency.upper(),
            ))
        return records


# --- the app -------------------------------------------------------------------------------------


class AppUninstalledPayload(_Payload):
    """The shop object; only its id and domain are kept (it also names the owner, their email and address)."""

    id: RestId | None = None
    myshopify_domain: str | None = None


class ScopesUpdatePayload(_Payload):
    id: RestId | None = None
    previous: list[str] = Field(default_factory=list)
    current: list[str]
    updated_at: AwareDatetime | None = None


class BulkOperationFinishPayload(_Payload):
    admin_graphql_api_id: str
    status: str
    type: str | None = None
    error_code: str | None = None
    created_at: AwareDatetime | None = None
    completed_at: AwareDatetime | None = None
    url: str | None = None  # not sent today; kept should Shopify add it


# --- compliance ----------------------------------------------------------------------------------


class DataRequestRef(_Payload):
    id: RestId | None = None


class CustomersDataRequestPayload(_Payload):
    """Also carries `customer {id, email, phone}`: not declared, so never kept."""

    shop_id: RestId | None = None
    shop_domain: str | None = None
    orders_requested: list[RestId] = Field(default_factory=list)
    data_request: DataRequestRef | None = None


class CustomersRedactPayload(_Payload):
    shop_id: RestId | None = None
    shop_domain: str | None = None
    orders_to_redact: list[RestId] = Field(default_factory=list)


class ShopRedactPayload(_Payload):
    shop_id: RestId | None = None
    shop_domain: str | None = None


PAYLOAD_MODELS: dict[str, type[_Payload]] = {
    topics.PRODUCTS_CREATE: ProductPayload,
    topics.PRODUCTS_UPDATE: ProductPayload,
    topics.PRODUCTS_DELETE: ProductDeletePayload,
    topics.INVENTORY_LEVELS_UPDATE: InventoryLevelPayload,
    topics.ORDERS_CREATE: OrderPayload,
    topics.ORDERS_UPDATED: OrderPayload,
    topics.APP_UNINSTALLED: AppUninstalledPayload,
    topics.APP_SCOPES_UPDATE: ScopesUpdatePayload,
    topics.BULK_OPERATIONS_FINISH: BulkOperationFinishPayload,
    topics.CUSTOMERS_DATA_REQUEST: CustomersDataRequestPayload,
    topics.CUSTOMERS_REDACT: CustomersRedactPayload,
    topics.SHOP_REDACT: ShopRedactPayload,
}

# Where a payload names its own shop; checked against X-Shopify-Shop-Domain (the HMAC covers the body only).
SHOP_DOMAIN_FIELDS = ("shop_domain", "myshopify_domain")


# --- keeping only what the models declare --------------------------------------------------------


def read_body(body: bytes) -> dict[str, Any]:
    """The JSON object of a webhook body; PayloadError if it is not one."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise PayloadError("the body is not JSON") from None
    if not isinstance(data, dict):
        raise PayloadError("the body is not a JSON object")
    return data


def kept_fields(topic: str, data: dict[str, Any]) -> dict[str, Any]:
    """`data` reduced to the fields its topic's model declares, recursively; {} for an unknown topic."""
    model = PAYLOAD_MODELS.get(topic)
    return _project(model, data) if model else {}


def parse_payload(topic: str, payload: dict[str, Any]) -> _Payload:
    """The stored payload validated as its topic's model (pydantic's ValidationError names the field)."""
    model = PAYLOAD_MODELS.get(topic)
    if model is None:
        raise PayloadError(f"no payload model for topic {topic!r}")
    return model.model_validate(payload)


def _project(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if name not in data:
            continue
        nested = _nested_model(field.annotation)
        kept[name] = _project_value(nested, data[name]) if nested else data[name]
    return kept


def _project_value(model: type[BaseModel], value: Any) -> Any:
    if isinstance(value, dict):
        return _project(model, value)
    if isinstance(value, list):
        return [_project(model, item) if isinstance(item, dict) else item for item in value]
    return value


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel inside `X`, `X | None` or `list[X]`, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, Union, types.UnionType):
        for argument in typing.get_args(annotation):
            found = _nested_model(argument)
            if found:
                return found
    return None


def payload_shop_domain(payload: dict[str, Any]) -> str | None:
    for name in SHOP_DOMAIN_FIELDS:
        value = payload.get(name)
        if isinstance(value, str) and value:
            return value.lower()
    return None
