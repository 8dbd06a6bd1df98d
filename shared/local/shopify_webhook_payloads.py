"""REST-shaped webhook payloads built from the sample store, as Shopify would send them.

Shapes follow Shopify's webhook reference for API 2026-10: numeric ids with
`admin_graphql_api_id`, money as strings with `*_set` shop and presentment amounts, times with
the shop's UTC offset. Orders and compliance requests carry a customer with a name, email,
phone and addresses (`SAMPLE_CUSTOMER`), and app/uninstalled the shop owner's details, as the
real ones do: the app must drop them, and tests look for these values in the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from shared.local.sample_store import InventoryLevel, Order, Product, SampleStore
from shared.shopify import webhook_topics as topics

SAMPLE_SHOP_ID = 72_058_000_001


@dataclass(frozen=True)
class SampleCustomer:
    id: int
    first_name: str
    last_name: str
    email: str
    phone: str
    address1: str
    city: str
    zip: str

    def address(self) -> dict[str, Any]:
        return {
            "first_name": self.first_name, "last_name": self.last_name, "name": f"{self.first_name} {self.last_name}",
            "address1": self.address1, "address2": "Flat 2", "city": self.city, "province": "England",
            "country": "United Kingdom", "country_code": "GB", "zip": self.zip, "phone": self.phone, "company": None,
            "latitude": 53.9591, "longitude": -1.0815,
        }


# Distinctive values, so a test can search every table for them.
SAMPLE_CUSTOMER = SampleCustomer(
    id=7_731_555_000_421, first_name="Philippa", last_name="Quennell-Ashdown",
    email="philippa.quennell-ashdown@example.org", phone="+447700900461",
    address1="17 Marygate Lane", city="York", zip="YO30 7BH",
)
SHOP_OWNER_EMAIL = "owner.hare-and-hazel@example.net"


def number(gid: str) -> int:
    """gid://shopify/Product/9000000000001 -> 9000000000001 (the REST id)."""
    return int(gid.rsplit("/", 1)[1].split("?", 1)[0])


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _money_set(amount: Decimal, currency: str) -> dict[str, Any]:
    money = {"amount": _money(amount), "currency_code": currency}
    return {"shop_money": money, "presentment_money": dict(money)}


def _time(moment: datetime | None, tz: str) -> str | None:
    # Shopify writes times in the shop's zone with its offset: "2026-10-31T14:05:09+00:00".
    return moment.astimezone(ZoneInfo(tz)).isoformat(timespec="seconds") if moment else None


def product_payload(
    store: SampleStore, product: Product, *, updated_at: datetime | None = None,
    prices: dict[str, Decimal] | None = None, title: str | None = None,
) -> dict[str, Any]:
    """products/create and products/update: the product with every variant; `prices` by variant GID."""
    tz = store.timezone
    changed = _time(updated_at or product.updated_at, tz)
    variants = []
    for v in product.variants:
        price = (prices or {}).get(v.id, v.price)
        variants.append({
            "id": number(v.id), "admin_graphql_api_id": v.id, "product_id": number(product.id), "title": v.title,
            "price": _money(price), "compare_at_price": _money(v.compare_at_price)
            if v.compare_at_price else None, "position": v.position, "inventory_policy": "deny",
            "option1": v.option_value, "option2": None, "option3": None, "created_at": _time(v.created_at, tz),
            "updated_at": changed, "taxable": True, "barcode": v.barcode, "sku": v.sku, "fulfillment_service": "manual",
            "grams": 450, "weight": 0.45, "weight_unit": "kg", "inventory_item_id": number(v.inventory_item_id),
            "inventory_quantity": store.stock_available(v), "old_inventory_quantity": store.stock_available(v),
            "requires_shipping": True, "image_id": None,
        })
    return {
        "admin_graphql_api_id": product.id, "id": number(product.id), "title": title or product.title,
        "body_html": f"<p>{product.title}, from the {product.vendor} range.</p>", "vendor": product.vendor,
        "product_type": product.product_type, "handle": product.handle, "status": product.status.lower(),
        "published_scope": "global", "tags": ", ".join(product.tags), "template_suffix": None,
        "created_at": _time(product.created_at, tz), "updated_at": changed, "published_at": _time(product.created_at, tz),
        "variants": variants,
        "options": [{"name": product.variants[0].option_name, "position": 1,
                     "values": [v.option_value for v in product.variants]}],
        "images": [], "image": None, "media": [], "variant_gids": [{"admin_graphql_api_id": v.id} for v in product.variants],
        "has_variants_that_requires_components": False, "category": None,
    }


def product_delete_payload(product: Product) -> dict[str, Any]:
    return {"id": number(product.id)}


def inventory_level_payload(
    store: SampleStore, level: InventoryLevel, *, available: int | None = None, updated_at: datetime | None = None
) -> dict[str, Any]:
    item, location = number(level.inventory_item_id), number(level.location_id)
    return {
        "inventory_item_id": item, "location_id": location,
        "available": level.available if available is None else available,
        "updated_at": _time(updated_at or level.updated_at, store.timezone),
        "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{location}?inventory_item_id={item}",
    }


def order_payload(
    store: SampleStore, order: Order, *, updated_at: datetime | None = None, cancelled_at: datetime | None = None,
    customer: SampleCustomer = SAMPLE_CUSTOMER,
) -> dict[str, Any]:
    """orders/create and orders/updated, with the customer, contact details and addresses a real order has."""
    tz, currency = store.timezone, store.currency
    cancelled = cancelled_at or order.cancelled_at
    lines, subtotal, discounts = [], Decimal(0), Decimal(0)
    for line in order.line_items:
        discount = (line.original_unit_price - line.discounted_unit_price) * line.quantity
        subtotal += line.original_unit_price * line.quantity
        discounts += discount
        lines.append({
            "id": number(line.id), "admin_graphql_api_id": line.id, "attributed_staffs": [],
            "current_quantity": line.current_quantity, "fulfillable_quantity": line.current_quantity,
            "fulfillment_service": "manual", "fulfillment_status": None, "gift_card": False, "grams": 450,
            "name": line.name, "price": _money(line.original_unit_price),
            "price_set": _money_set(line.original_unit_price, currency), "product_exists": True,
            "product_id": number(line.product_id), "properties": [{"name": "Gift message", "value": "Love, Pip"}],
            "quantity": line.quantity, "requires_shipping": True, "sku": line.sku, "taxable": True,
            "title": line.name.rsplit(" - ", 1)[0], "total_discount": "0.00",
            "total_discount_set": _money_set(Decimal(0), currency), "variant_id": number(line.variant_id),
            "variant_inventory_management": "shopify", "variant_title": line.name.rsplit(" - ", 1)[-1],
            "vendor": None, "tax_lines": [], "duties": [],
            "discount_allocations": [{"amount": _money(discount), "amount_set": _money_set(discount, currency),
                                      "discount_application_index": 0}] if discount else [],
        })
    total = subtotal - discounts
    return {
        "id": number(order.id), "admin_graphql_api_id": order.id, "app_id": 580111, "browser_ip": "203.0.113.42",
        "buyer_accepts_marketing": True, "cancel_reason": "customer" if cancelled else None,
        "cancelled_at": _time(cancelled, tz), "cart_token": None, "checkout_id": 901414060,
        "client_details": {"accept_language": "en-GB", "browser_ip": "203.0.113.42", "user_agent": "Mozilla/5.0"},
        "closed_at": None, "confirmation_number": "X7R2PQ9KZ", "confirmed": True,
        "contact_email": customer.email, "created_at": _time(order.created_at, tz), "currency": currency,
        "current_subtotal_price": _money(total), "current_total_price": _money(total),
        "customer_locale": "en-GB", "email": customer.email, "financial_status": "paid",
        "name": order.name, "note": f"Please leave with {customer.first_name}'s neighbour at no. 19",
        "number": number(order.id) % 100000, "order_number": 1000 + number(order.id) % 100000,
        "phone": customer.phone, "presentment_currency": currency, "processed_at": _time(order.created_at, tz),
        "source_name": "web", "subtotal_price": _money(subtotal), "tags": "",
        "total_discounts": _money(discounts), "total_price": _money(total),
        "total_price_set": _money_set(total, currency), "test": False,
        "updated_at": _time(updated_at or order.updated_at, tz),
        "discount_codes": [{"code": order.discount_code, "amount": _money(discounts), "type": "percentage"}]
        if order.discount_code else [],
        "billing_address": customer.address(), "shipping_address": customer.address(),
        "customer": {
            "id": customer.id, "email": customer.email, "first_name": customer.first_name,
            "last_name": customer.last_name, "phone": customer.phone, "state": "enabled", "verified_email": True,
            "currency": currency, "default_address": {"id": customer.id + 1, "customer_id": customer.id,
                                                      **customer.address(), "default": True},
            "admin_graphql_api_id": f"gid://shopify/Customer/{customer.id}",
        },
        "line_items": lines, "refunds": [], "fulfillments": [], "shipping_lines": [],
    }


def app_uninstalled_payload(store: SampleStore) -> dict[str, Any]:
    """The shop, as app/uninstalled sends it: including its owner's name, email and address."""
    return {
        "id": SAMPLE_SHOP_ID, "name": store.name, "email": SHOP_OWNER_EMAIL, "domain": store.domain,
        "province": "England", "country": "GB", "address1": "4 Stonegate", "zip": "YO1 8AS", "city": "York",
        "source": None, "phone": "+441904000111", "latitude": 53.961, "longitude": -1.083, "primary_locale": "en",
        "address2": "", "created_at": "2024-03-02T09:14:00+00:00", "updated_at": "2026-10-01T08:00:00+01:00",
        "country_code": "GB", "country_name": "United Kingdom", "currency": store.currency,
        "customer_email": SHOP_OWNER_EMAIL, "timezone": f"(GMT+00:00) {store.timezone}",
        "iana_timezone": store.timezone, "shop_owner": "Harriet Hazelwood", "money_format": "£{{amount}}",
        "plan_name": "basic", "plan_display_name": "Basic", "myshopify_domain": store.domain,
        "primary_location_id": number(store.locations[0].id) if store.locations else None,
    }


def scopes_update_payload(previous: list[str], current: list[str], *, updated_at: datetime | None = None) -> dict:
    return {"id": 1_044_711, "shop_id": SAMPLE_SHOP_ID, "previous": previous, "current": current,
            "updated_at": (updated_at or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
            "granted_scopes_id": 7_001}


def bulk_operation_finish_payload(operation_number: int, *, status: str = "completed", kind: str = "query",
                                  error_code: str | None = None) -> dict[str, Any]:
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return {"admin_graphql_api_id": f"gid://shopify/BulkOperation/{operation_number}", "completed_at": now,
            "created_at": now, "error_code": error_code, "status": status, "type": kind}


def customers_data_request_payload(store: SampleStore, orders: list[Order],
                                   customer: SampleCustomer = SAMPLE_CUSTOMER) -> dict[str, Any]:
    return {
        "shop_id": SAMPLE_SHOP_ID, "shop_domain": store.domain, "orders_requested": [number(o.id) for o in orders],
        "customer": {"id": customer.id, "email": customer.email, "phone": customer.phone},
        "data_request": {"id": 9_990_001},
    }


def customers_redact_payload(store: SampleStore, orders: list[Order],
                             customer: SampleCustomer = SAMPLE_CUSTOMER) -> dict[str, Any]:
    return {
        "shop_id": SAMPLE_SHOP_ID, "shop_domain": store.domain,
        "customer": {"id": customer.id, "email": customer.email, "phone": customer.phone},
        "orders_to_redact": [number(o.id) for o in orders],
    }


def shop_redact_payload(store: SampleStore) -> dict[str, Any]:
    return {"shop_id": SAMPLE_SHOP_ID, "shop_domain": store.domain}


def sample_payload(topic: str, store: SampleStore) -> dict[str, Any]:
    """A typical payload of `topic` from the store's own catalogue and orders."""
    product, order, level = store.products[0], store.orders[-1], store.inventory_levels[0]
    builders = {
        topics.PRODUCTS_CREATE: lambda: product_payload(store, product),
        topics.PRODUCTS_UPDATE: lambda: product_payload(store, product),
        topics.PRODUCTS_DELETE: lambda: product_delete_payload(product),
        topics.INVENTORY_LEVELS_UPDATE: lambda: inventory_level_payload(store, level),
        topics.ORDERS_CREATE: lambda: order_payload(store, order),
        topics.ORDERS_UPDATED: lambda: order_payload(store, order),
        topics.APP_UNINSTALLED: lambda: app_uninstalled_payload(store),
        topics.APP_SCOPES_UPDATE: lambda: scopes_update_payload(["read_products"], ["read_products", "read_orders"]),
        topics.BULK_OPERATIONS_FINISH: lambda: bulk_operation_finish_payload(147_595_010),
        topics.CUSTOMERS_DATA_REQUEST: lambda: customers_data_request_payload(store, [order]),
        topics.CUSTOMERS_REDACT: lambda: customers_redact_payload(store, [order]),
        topics.SHOP_REDACT: lambda: shop_redact_payload(store),
    }
    return builders[topic]()
