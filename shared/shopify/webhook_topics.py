"""The webhook topics the app handles: one list for the endpoint, the subscriptions and shopify.app.toml.

Topic names are the REST-style names Shopify sends in `X-Shopify-Topic` and that the app's
toml uses; the GraphQL Admin API spells the same topic as an enum (`products/create` ->
`PRODUCTS_CREATE`).
"""

from __future__ import annotations

PRODUCTS_CREATE = "products/create"
PRODUCTS_UPDATE = "products/update"
PRODUCTS_DELETE = "products/delete"
INVENTORY_LEVELS_UPDATE = "inventory_levels/update"
ORDERS_CREATE = "orders/create"
ORDERS_UPDATED = "orders/updated"
APP_UNINSTALLED = "app/uninstalled"
APP_SCOPES_UPDATE = "app/scopes_update"
BULK_OPERATIONS_FINISH = "bulk_operations/finish"
CUSTOMERS_DATA_REQUEST = "customers/data_request"
CUSTOMERS_REDACT = "customers/redact"
SHOP_REDACT = "shop/redact"

CATALOGUE_TOPICS = frozenset({
    PRODUCTS_CREATE, PRODUCTS_UPDATE, PRODUCTS_DELETE, INVENTORY_LEVELS_UPDATE, ORDERS_CREATE, ORDERS_UPDATED,
})
APP_TOPICS = frozenset({APP_UNINSTALLED, APP_SCOPES_UPDATE, BULK_OPERATIONS_FINISH})
# Mandatory for every App Store app. They are configured in shopify.app.toml (or the Dev
# Dashboard) only: the Admin API cannot create subscriptions to them.
COMPLIANCE_TOPICS = frozenset({CUSTOMERS_DATA_REQUEST, CUSTOMERS_REDACT, SHOP_REDACT})

SUPPORTED_TOPICS = CATALOGUE_TOPICS | APP_TOPICS | COMPLIANCE_TOPICS
API_SUBSCRIBABLE_TOPICS = SUPPORTED_TOPICS - COMPLIANCE_TOPICS


def graphql_topic(topic: str) -> str:
    """The WebhookSubscriptionTopic enum value of a topic: `inventory_levels/update` -> `INVENTORY_LEVELS_UPDATE`."""
    return topic.upper().replace("/", "_")
