"""A Shopify Admin GraphQL API emulator on loopback, for the demo and the tests.

It serves a sample store (`shared.local.sample_store`) through real GraphQL (graphql-core,
an SDL subset of the Admin API) with Shopify's calculated query cost and leaky bucket, so the
app's client meets the same answers it meets in production: throttling included.

URL scheme (path prefix per shop):

    POST http://127.0.0.1:{port}/{shop domain}/admin/api/{version}/graphql.json

so `SHOPIFY_ADMIN_BASE_URL` = `emulator.admin_base_url_template` = "http://127.0.0.1:{port}/{shop}"
(`{shop}` stays a template placeholder; the client fills in the domain). The real shape,
`/admin/api/{version}/graphql.json` with the shop in the Host header, works too.

Cost, as Shopify documents it: scalars and enums 0, objects 1, connections 2 + first (or last)
times the cost of one node, nested connections multiplied; interfaces cost their dearest
type. The requested cost is charged before execution (throttled when the bucket holds less),
the actual cost (from the objects returned) afterwards, and the difference refunded. A query
over 1000 points is refused with MAX_COST_EXCEEDED. Every answer carries `extensions.cost`.

Emulator choices where Shopify's behaviour is not documented: non-connection lists of objects
cost 1 plus their children once (`nodes(ids:)` is charged per id); `pageInfo` is free; a
page size above 250 or a connection without `first`/`last` is an error; date-only search
values mean midnight in the shop's time zone; `OR` in a search query is not supported.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hmac
import json
import operator
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationType,
    SelectionSetNode,
    build_schema,
    execute_sync,
    get_named_type,
    get_operation_ast,
    is_abstract_type,
    is_leaf_type,
    parse,
    validate,
)
from graphql.execution.values import get_argument_values, get_directive_values, get_variable_values
from graphql.type import GraphQLIncludeDirective, GraphQLSkipDirective

from shared.local.background_server import serve_in_background, shut_down
from shared.local.shopify_bulk import BULK_SDL, RESULT_PATH, ShopBulkOperations, serve_result
from shared.local.sample_store import (
    InventoryLevel,
    LineItem,
    Location,
    Order,
    Product,
    SampleStore,
    Variant,
)

MAX_QUERY_COST = 1000
MAX_PAGE_SIZE = 250
RATE_LIMIT_DOCS = "https://shopify.dev/api/usage/rate-limits"
DEMO_ACCESS_TOKEN = "shpat_local_emulator_demo_token_0000"
_THREE_DAYS = timedelta(days=3)  # orders older than this are shown as fulfilled


@dataclass(frozen=True)
class ShopPlan:
    name: str
    maximum_available: float
    restore_rate: float


# Bucket sizes are 20x the restore rate, as real responses show; the restore rates are Shopify's.
PLANS: dict[str, ShopPlan] = {
    "standard": ShopPlan("Basic", 2000.0, 100.0),
    "advanced": ShopPlan("Advanced", 4000.0, 200.0),
    "plus": ShopPlan("Shopify Plus", 20000.0, 1000.0),
}
# The demo shop is a development store, which Shopify gives Plus-sized limits. A Standard
# shop would take minutes for a year of orders through paginated queries (bulk operations'
# territory), which a two-minute demo cannot afford.
DEMO_PLAN = "plus"


# --- the schema ------------------------------------------------------------------------------

_PAGING_ARGS = "first: Int, after: String, last: Int, before: String, reverse: Boolean = false"

SCHEMA_SDL = f"""
schema {{ query: QueryRoot }}

scalar DateTime
scalar Decimal
scalar Money
scalar URL

enum CurrencyCode {{ GBP EUR USD }}
enum CountryCode {{ GB IE FR DE NL US CA AU }}
enum ProductStatus {{ ACTIVE ARCHIVED DRAFT }}
enum ProductSortKeys {{ ID TITLE CREATED_AT UPDATED_AT PRODUCT_TYPE VENDOR }}
enum ProductVariantSortKeys {{ ID SKU TITLE POSITION NAME }}
enum OrderSortKeys {{ ID CREATED_AT UPDATED_AT PROCESSED_AT ORDER_NUMBER }}
enum LocationSortKeys {{ ID NAME }}
enum InventoryItemSortKeys {{ ID SKU CREATED_AT UPDATED_AT }}
enum CountPrecision {{ EXACT AT_LEAST }}
enum OrderDisplayFinancialStatus {{ PAID PARTIALLY_REFUNDED REFUNDED VOIDED PENDING AUTHORIZED }}
enum OrderDisplayFulfillmentStatus {{ FULFILLED UNFULFILLED PARTIALLY_FULFILLED }}

interface Node {{ id: ID! }}

type PageInfo {{ hasNextPage: Boolean! hasPreviousPage: Boolean! startCursor: String endCursor: String }}
type Count {{ count: Int! precision: CountPrecision! }}
type MoneyV2 {{ amount: Decimal! currencyCode: CurrencyCode! }}
type MoneyBag {{ shopMoney: MoneyV2! presentmentMoney: MoneyV2! }}
type SelectedOption {{ name: String! value: String! }}

type ShopPlan {{ displayName: String! publicDisplayName: String! partnerDevelopment: Boolean! shopifyPlus: Boolean! }}
type ShopAddress {{ countryCodeV2: CountryCode }}
type Shop implements Node {{
  id: ID! name: String! myshopifyDomain: String! currencyCode: CurrencyCode! ianaTimezone: String! plan: ShopPlan!
  billingAddress: ShopAddress!
}}

type Location implements Node {{
  id: ID! name: String! isActive: Boolean!
  inventoryLevels({_PAGING_ARGS}, query: String): InventoryLevelConnection!
  inventoryLevel(inventoryItemId: ID!): InventoryLevel
}}

type InventoryQuantity {{ id: ID! name: String! quantity: Int! updatedAt: DateTime }}
type InventoryLevel implements Node {{
  id: ID! item: InventoryItem! location: Location! quantities(names: [String!]!): [InventoryQuantity!]!
  canDeactivate: Boolean! createdAt: DateTime! updatedAt: DateTime!
}}
type InventoryItem implements Node {{
  id: ID! sku: String tracked: Boolean! requiresShipping: Boolean! unitCost: MoneyV2
  createdAt: DateTime! updatedAt: DateTime! variant: ProductVariant!
  inventoryLevels({_PAGING_ARGS}, query: String): InventoryLevelConnection!
  inventoryLevel(locationId: ID!): InventoryLevel
}}

type ProductVariant implements Node {{
  id: ID! title: String! displayName: String! sku: String barcode: String price: Money! compareAtPrice: Money
  inventoryQuantity: Int inventoryItem: InventoryItem! product: Product! position: Int!
  selectedOptions: [SelectedOption!]! availableForSale: Boolean! taxable: Boolean!
  createdAt: DateTime! updatedAt: DateTime!
}}
type Product implements Node {{
  id: ID! title: String! handle: String! description: String! productType: String! vendor: String!
  status: ProductStatus! tags: [String!]! createdAt: DateTime! updatedAt: DateTime!
  totalInventory: Int! tracksInventory: Boolean!
  variants({_PAGING_ARGS}, sortKey: ProductVariantSortKeys = POSITION): ProductVariantConnection!
  variantsCount: Count
}}

type LineItem implements Node {{
  id: ID! name: String! title: String! variantTitle: String sku: String quantity: Int! currentQuantity: Int!
  nonFulfillableQuantity: Int! isGiftCard: Boolean! taxable: Boolean!
  variant: ProductVariant product: Product
  originalUnitPriceSet: MoneyBag! discountedUnitPriceSet: MoneyBag!
  discountedUnitPriceAfterAllDiscountsSet: MoneyBag! originalTotalSet: MoneyBag! discountedTotalSet: MoneyBag!
}}
type Order implements Node {{
  id: ID! name: String! createdAt: DateTime! updatedAt: DateTime! processedAt: DateTime! cancelledAt: DateTime
  closed: Boolean! test: Boolean! currencyCode: CurrencyCode! presentmentCurrencyCode: CurrencyCode!
  displayFinancialStatus: OrderDisplayFinancialStatus displayFulfillmentStatus: OrderDisplayFulfillmentStatus!
  discountCodes: [String!]!
  subtotalPriceSet: MoneyBag totalPriceSet: MoneyBag! currentTotalPriceSet: MoneyBag!
  lineItems({_PAGING_ARGS}): LineItemConnection!
}}

type ProductConnection {{ edges: [ProductEdge!]! nodes: [Product!]! pageInfo: PageInfo! }}
type ProductEdge {{ cursor: String! node: Product! }}
type ProductVariantConnection {{ edges: [ProductVariantEdge!]! nodes: [ProductVariant!]! pageInfo: PageInfo! }}
type ProductVariantEdge {{ cursor: String! node: ProductVariant! }}
type InventoryItemConnection {{ edges: [InventoryItemEdge!]! nodes: [InventoryItem!]! pageInfo: PageInfo! }}
type InventoryItemEdge {{ cursor: String! node: InventoryItem! }}
type InventoryLevelConnection {{ edges: [InventoryLevelEdge!]! nodes: [InventoryLevel!]! pageInfo: PageInfo! }}
type InventoryLevelEdge {{ cursor: String! node: InventoryLevel! }}
type LocationConnection {{ edges: [LocationEdge!]! nodes: [Location!]! pageInfo: PageInfo! }}
type LocationEdge {{ cursor: String! node: Location! }}
type OrderConnection {{ edges: [OrderEdge!]! nodes: [Order!]! pageInfo: PageInfo! }}
type OrderEdge {{ cursor: String! node: Order! }}
type LineItemConnection {{ edges: [LineItemEdge!]! nodes: [LineItem!]! pageInfo: PageInfo! }}
type LineItemEdge {{ cursor: String! node: LineItem! }}

type QueryRoot {{
  shop: Shop!
  node(id: ID!): Node
  nodes(ids: [ID!]!): [Node]!
  product(id: ID!): Product
  products({_PAGING_ARGS}, sortKey: ProductSortKeys = ID, query: String): ProductConnection!
  productsCount(query: String, limit: Int): Count
  productVariant(id: ID!): ProductVariant
  productVariants({_PAGING_ARGS}, sortKey: ProductVariantSortKeys = ID, query: String): ProductVariantConnection!
  productVariantsCount(query: String, limit: Int): Count
  inventoryItem(id: ID!): InventoryItem
  inventoryItems({_PAGING_ARGS}, sortKey: InventoryItemSortKeys = ID, query: String): InventoryItemConnection!
  location(id: ID): Location
  locations({_PAGING_ARGS}, sortKey: LocationSortKeys = NAME, query: String, includeInactive: Boolean = false): LocationConnection!
  order(id: ID!): Order
  orders({_PAGING_ARGS}, sortKey: OrderSortKeys = PROCESSED_AT, query: String): OrderConnection!
  ordersCount(query: String, limit: Int): Count
}}
"""

# Writing prices: productVariantsBulkUpdate, as the Admin API has it (the fields the app sends).
PRICE_UPDATE_SDL = """
input ProductVariantsBulkInput { id: ID price: Money compareAtPrice: Money }
enum ProductVariantsBulkUpdateUserErrorCode {
  GREATER_THAN_OR_EQUAL_TO INVALID_INPUT MUST_BE_FOR_THIS_PRODUCT NEGATIVE_PRICE_VALUE PRODUCT_DOES_NOT_EXIST
  PRODUCT_VARIANT_DOES_NOT_EXIST PRODUCT_VARIANT_ID_MISSING
}
type ProductVariantsBulkUpdateUserError { code: ProductVariantsBulkUpdateUserErrorCode field: [String!] message: String! }
type ProductVariantsBulkUpdatePayload {
  product: Product productVariants: [ProductVariant!] userErrors: [ProductVariantsBulkUpdateUserError!]!
}
extend type Mutation {
  productVariantsBulkUpdate(productId: ID!, variants: [ProductVariantsBulkInput!]!, allowPartialUpdates: Boolean = false): ProductVariantsBulkUpdatePayload
}
"""

SCHEMA: GraphQLSchema = build_schema(SCHEMA_SDL + BULK_SDL + PRICE_UPDATE_SDL)  # bulk operations: shared.local.shopify_bulk


# --- calculated query cost -------------------------------------------------------------------


class QueryCostError(Exception):
    """The query cannot be costed (e.g. a connection without first/last). A client error."""


@dataclass
class _CostContext:
    schema: GraphQLSchema
    variables: Any  # graphql-core VariableValues
    fragments: dict[str, FragmentDefinitionNode]


def _is_connection(named: Any) -> bool:
    return isinstance(named, GraphQLObjectType) and named.name.endswith("Connection") and "pageInfo" in named.fields


def _included(ctx: _CostContext, node: Any) -> bool:
    if not node.directives:
        return True
    skip = get_directive_values(GraphQLSkipDirective, node, ctx.variables)
    if skip and skip.get("if"):
        return False
    include = get_directive_values(GraphQLIncludeDirective, node, ctx.variables)
    return not (include is not None and not include.get("if"))


def _applies(ctx: _CostContext, condition: Any, obj_type: GraphQLObjectType) -> bool:
    if condition is None:
        return True
    name = condition.name.value
    return name == obj_type.name or any(i.name == name for i in obj_type.interfaces)


def _collect(ctx: _CostContext, obj_type: GraphQLObjectType, selection_set: SelectionSetNode | None, out: dict) -> dict:
    if selection_set is None:
        return out
    for selection in selection_set.selections:
        if not _included(ctx, selection):
            continue
        if isinstance(selection, FieldNode):
            key = selection.alias.value if selection.alias else selection.name.value
            out.setdefault(key, []).append(selection)
        elif isinstance(selection, InlineFragmentNode):
            if _applies(ctx, selection.type_condition, obj_type):
                _collect(ctx, obj_type, selection.selection_set, out)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = ctx.fragments.get(selection.name.value)
            if fragment is not None and _applies(ctx, fragment.type_condition, obj_type):
                _collect(ctx, obj_type, fragment.selection_set, out)
    return out


def _merged(nodes: list[FieldNode]) -> SelectionSetNode | None:
    selections = [s for node in nodes if node.selection_set for s in node.selection_set.selections]
    return SelectionSetNode(selections=tuple(selections)) if selections else None


_REQUESTED = object()  # "no result yet": cost the query as written


def _object_cost(ctx: _CostContext, type_: Any, selection_set: SelectionSetNode | None, value: Any) -> int:
    """Cost of one object's selected fields (the object's own 1 is added by the caller)."""
    if is_abstract_type(type_):
        possible = ctx.schema.get_possible_types(type_)
        if value is not _REQUESTED and isinstance(value, dict) and value.get("__typename"):
            possible = [t for t in possible if t.name == value["__typename"]] or possible
        return max((_object_cost(ctx, t, selection_set, value) for t in possible), default=0)
    total = 0
    for key, nodes in _collect(ctx, type_, selection_set, {}).items():
        name = nodes[0].name.value
        if name.startswith("__"):
            continue
        field_def = type_.fields[name]
        child = value.get(key) if isinstance(value, dict) else (_REQUESTED if value is _REQUESTED else None)
        total += _field_cost(ctx, field_def, nodes, child)
    return total


def _field_cost(ctx: _CostContext, field_def: Any, nodes: list[FieldNode], value: Any) -> int:
    named = get_named_type(field_def.type)
    if is_leaf_type(named):
        return 0
    if value is None:  # actual cost: a null object costs nothing
        return 0
    selection = _merged(nodes)
    args = get_argument_values(field_def, nodes[0], ctx.variables)
    if _is_connection(named):
        return _connection_cost(ctx, named, selection, args, value)
    node_type = named
    if _is_list(field_def.type):
        if value is _REQUESTED:
            count = len(args["ids"]) if "ids" in args else 1
            return count * (1 + _object_cost(ctx, node_type, selection, _REQUESTED))
        items = [item for item in value if item is not None]
        if "ids" in args:
            return sum(1 + _object_cost(ctx, node_type, selection, item) for item in items)
        return 1 + max((_object_cost(ctx, node_type, selection, item) for item in items), default=0) if items else 0
    return 1 + _object_cost(ctx, node_type, selection, value)


def _is_list(type_: Any) -> bool:
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


def _page_size(args: dict) -> int:
    first, last = args.get("first"), args.get("last")
    if first is None and last is None:
        raise QueryCostError("you must provide one of first or last")
    size = first if first is not None else last
    if size < 0 or size > MAX_PAGE_SIZE:
        raise QueryCostError(f"The page size must be between 0 and {MAX_PAGE_SIZE}, got {size}")
    return size


def _connection_cost(ctx: _CostContext, conn_type: GraphQLObjectType, selection: Any, args: dict, value: Any) -> int:
    size = _page_size(args)
    node_type = get_named_type(conn_type.fields["nodes"].type)
    edge_type = get_named_type(conn_type.fields["edges"].type)
    fields = _collect(ctx, conn_type, selection, {})
    node_selections: list[tuple[str, SelectionSetNode | None, str | None]] = []
    for key, nodes in fields.items():
        name = nodes[0].name.value
        if name == "nodes":
            node_selections.append((key, _merged(nodes), None))
        elif name == "edges":
            for node_key, node_nodes in _collect(ctx, edge_type, _merged(nodes), {}).items():
                if node_nodes[0].name.value == "node":
                    node_selections.append((key, _merged(node_nodes), node_key))
    if not node_selections:
        return 2
    if value is _REQUESTED:
        per_node = max(1 + _object_cost(ctx, node_type, sel, _REQUESTED) for _, sel, _ in node_selections)
        return 2 + size * per_node
    total = 2
    counts = []
    for key, sel, node_key in node_selections:
        items = value.get(key) or []
        counts.append(len(items))
    for index in range(max(counts, default=0)):
        best = 0
        for key, sel, node_key in node_selections:
            items = value.get(key) or []
            if index < len(items):
                item = items[index] if node_key is None else (items[index] or {}).get(node_key)
                if item is not None:
                    best = max(best, 1 + _object_cost(ctx, node_type, sel, item))
        total += best
    return total


def calculate_query_cost(
    document: DocumentNode,
    variables: dict[str, Any] | None = None,
    operation_name: str | None = None,
    data: dict[str, Any] | None = None,
    schema: GraphQLSchema = SCHEMA,
) -> int:
    """Shopify's calculated cost of a query: requested when `data` is None, actual from a result."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        raise QueryCostError("no operation to cost")
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {})
    if isinstance(coerced, list):
        raise QueryCostError("; ".join(error.message for error in coerced))
    ctx = _CostContext(
        schema=schema,
        variables=coerced,
        fragments={d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)},
    )
    root = schema.get_root_type(operation.operation)
    if operation.operation is OperationType.MUTATION:
        return 10  # Shopify: mutations cost 10 by default
    return _object_cost(ctx, root, operation.selection_set, _REQUESTED if data is None else data)


def requested_query_cost(query: str, variables: dict[str, Any] | None = None) -> int:
    """Convenience for tests and for choosing page sizes: the requested cost of a query text."""
    return calculate_query_cost(parse(query), variables)


# --- the leaky bucket, the clock, faults --------------------------------------------------------


class ManualClock:
    """A clock that moves only when told to: tests drive throttling with it."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += max(0.0, seconds)


class LeakyBucket:
    """Shopify's per-app-per-shop bucket: `currentlyAvailable` refills at `restoreRate`/s."""

    def __init__(self, maximum_available: float, restore_rate: float, clock: Callable[[], float]) -> None:
        self.maximum_available = float(maximum_available)
        self.restore_rate = float(restore_rate)
        self._clock = clock
        self._available = float(maximum_available)
        self._at = clock()
        self.lock = threading.RLock()

    def _refill(self) -> None:
        now = self._clock()
        self._available = min(self.maximum_available, self._available + (now - self._at) * self.restore_rate)
        self._at = now

    def available(self) -> float:
        with self.lock:
            self._refill()
            return self._available

    def take(self, cost: float) -> bool:
        with self.lock:
            self._refill()
            if cost > self._available:
                return False
            self._available -= cost
            return True

    def refund(self, amount: float) -> None:
        with self.lock:
            self._refill()
            self._available = min(self.maximum_available, self._available + max(0.0, amount))

    def set_available(self, value: float) -> None:
        with self.lock:
            self._refill()
            self._available = max(0.0, min(self.maximum_available, float(value)))

    def status(self) -> dict[str, Any]:
        with self.lock:
            self._refill()
            return {
                "maximumAvailable": self.maximum_available,
                "currentlyAvailable": int(self._available),
                "restoreRate": self.restore_rate,
            }


@dataclass
class Fault:
    status: int
    remaining: int
    retry_after: float | None = None
    shop: str | None = None


class FaultInjector:
    """Fail the next N GraphQL requests (optionally for one shop) with 503, 429, 500, ..."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def inject(self, status: int = 503, count: int = 1, retry_after: float | None = None, shop: str | None = None) -> None:
        with self._lock:
            self._faults.append(Fault(status, count, retry_after, shop))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, shop: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.shop in (None, shop):
                    fault.remaining -= 1
                    return fault
            return None


@dataclass(frozen=True)
class RequestRecord:
    at: float
    shop: str
    status: int
    outcome: str  # ok | throttled | max_cost | invalid | unauthorized | fault | not_found
    operation_name: str | None = None
    requested_cost: int | None = None
    actual_cost: int | None = None
    available_before: float | None = None
    available_after: float | None = None


# --- search query strings ("updated_at:>'2026-01-01T00:00:00Z' status:active") -----------------

_SEARCH_TOKEN = re.compile(
    r"""\s*(?P<neg>-)?(?:(?P<field>[A-Za-z_]+):(?P<op><=|>=|<|>|=)?)?(?P<value>'[^']*'|"[^"]*"|[^\s]+)"""
)


@dataclass(frozen=True)
class SearchTerm:
    field: str | None
    op: str
    value: str
    negated: bool = False


def parse_search_query(text: str) -> tuple[list[SearchTerm], list[str]]:
    """Terms joined by AND (implicit or explicit); returns (terms, warnings)."""
    terms: list[SearchTerm] = []
    warnings: list[str] = []
    position = 0
    while position < len(text):
        match = _SEARCH_TOKEN.match(text, position)
        if not match or match.end() == position:
            break
        position = match.end()
        value = match["value"]
        if match["field"] is None and value in ("AND", "OR", "NOT"):
            if value == "OR":
                warnings.append("OR is not supported by this emulator; terms were combined with AND")
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        terms.append(SearchTerm(match["field"].lower() if match["field"] else None, match["op"] or "=", value, bool(match["neg"])))
    return terms, warnings


def _parse_moment(value: str, tz: ZoneInfo) -> datetime:
    text = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=tz).astimezone(timezone.utc)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=tz)).astimezone(timezone.utc)


_OPERATORS = {"=": operator.eq, ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def _compare(actual: Any, op: str, wanted: Any) -> bool:
    return actual is not None and _OPERATORS[op](actual, wanted)


def _numeric_id(gid: str) -> int:
    return int(gid.rsplit("/", 1)[1].split("?", 1)[0])


# --- the shop's data, served ---------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _amount(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


@dataclass(frozen=True)
class _WrittenPrice:
    price: Decimal
    compare_at_price: Decimal | None
    updated_at: datetime


class _Request:
    """Per-request state handed to resolvers: search warnings for `extensions.search`."""

    def __init__(self) -> None:
        self.search: list[dict[str, Any]] = []


class ShopData:
    """Indices over a sample store, and the resolvers that serve it as Admin API objects."""

    def __init__(self, store: SampleStore, domain: str, plan: ShopPlan) -> None:
        self.store = store
        self.domain = domain
        self.plan = plan
        self.tz = ZoneInfo(store.timezone)
        self.products = sorted(store.products, key=lambda p: _numeric_id(p.id))
        self.product_by_id = {p.id: p for p in self.products}
        self.variants = sorted(store.variants, key=lambda v: _numeric_id(v.id))
        self.variant_by_id = {v.id: v for v in self.variants}
        self.variant_by_item = {v.inventory_item_id: v for v in self.variants}
        self.locations = list(store.locations)
        self.location_by_id = {loc.id: loc for loc in self.locations}
        self.levels_by_item: dict[str, list[InventoryLevel]] = {}
        self.levels_by_location: dict[str, list[InventoryLevel]] = {}
        for level in store.inventory_levels:
            self.levels_by_item.setdefault(level.inventory_item_id, []).append(level)
            self.levels_by_location.setdefault(level.location_id, []).append(level)
        self.orders = sorted(store.orders, key=lambda o: _numeric_id(o.id))
        self.order_by_id = {o.id: o for o in self.orders}
        self.line_by_id = {line.id: (order, line) for order in self.orders for line in order.line_items}
        self._order_cache: dict[tuple, tuple[list, list]] = {}
        self._filter_cache: dict[tuple, tuple[list, list]] = {}
        # Prices written through productVariantsBulkUpdate, over the sample's own (frozen) values.
        self.written: dict[str, _WrittenPrice] = {}
        self.product_touched: dict[str, datetime] = {}
        self._write_lock = threading.Lock()
        # The scopes the app's token holds; None: all of them. Writing prices needs write_products.
        self.granted_scopes: frozenset[str] | None = None

    # --- generic connection ---------------------------------------------------------------

    @staticmethod
    def _cursor(key: tuple[Any, int]) -> str:
        raw = json.dumps({"last_id": key[1], "last_value": key[0]}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @staticmethod
    def _decode_cursor(cursor: str) -> tuple[Any, int]:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
            return (payload["last_value"], int(payload["last_id"]))
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise GraphQLError(f"Invalid cursor for current pagination sort: {cursor[:40]}") from None

    def connection(
        self,
        items: Iterable[Any],
        sort_value: Callable[[Any], Any],
        view: Callable[[Any], dict],
        id_of: Callable[[Any], str],
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        reverse: bool = False,
        cache_key: tuple | None = None,
    ) -> dict[str, Any]:
        size = _page_size({"first": first, "last": last})
        keys, ordered = self._ordered(items, sort_value, id_of, reverse, cache_key)
        start, end = 0, len(ordered)
        try:
            if after is not None:
                mark = self._decode_cursor(after)
                start = self._position(keys, mark, reverse, after=True)
            if before is not None:
                mark = self._decode_cursor(before)
                end = max(start, self._position(keys, mark, reverse, after=False))
        except TypeError:  # a cursor made for another sort order
            raise GraphQLError("Invalid cursor for current pagination sort.") from None
        offset = start if first is not None else max(start, end - size)
        page = range(offset, min(end, offset + size))
        nodes = [view(ordered[i]) for i in page]
        edges = [{"cursor": self._cursor(keys[i]), "node": node} for i, node in zip(page, nodes)]
        return {
            "nodes": nodes,
            "edges": edges,
            "pageInfo": {
                "hasNextPage": offset + len(page) < len(ordered),
                "hasPreviousPage": offset > 0,
                "startCursor": edges[0]["cursor"] if edges else None,
                "endCursor": edges[-1]["cursor"] if edges else None,
            },
        }

    def _ordered(
        self, items: Iterable[Any], sort_value: Callable, id_of: Callable, reverse: bool, cache_key: tuple | None
    ) -> tuple[list[tuple[Any, int]], list[Any]]:
        # The data never changes, so a top-level listing's order is worked out once per filter and sort.
        key = (cache_key, reverse) if cache_key is not None else None
        if key is not None and key in self._order_cache:
            return self._order_cache[key]
        pairs = sorted((((sort_value(item), _numeric_id(id_of(item))), item) for item in items), key=lambda pair: pair[0],
                       reverse=reverse)
        result = ([k for k, _ in pairs], [item for _, item in pairs])
        if key is not None:
            if len(self._order_cache) > 256:
                self._order_cache.clear()
            self._order_cache[key] = result
        return result

    @staticmethod
    def _position(keys: list[tuple[Any, int]], mark: tuple[Any, int], reverse: bool, *, after: bool) -> int:
        """Index of the first key past the cursor (after) or of the first key at or past it (before)."""
        if not reverse:
            return bisect.bisect_right(keys, mark) if after else bisect.bisect_left(keys, mark)
        beyond = (lambda k: k < mark) if after else (lambda k: k <= mark)
        return next((i for i, k in enumerate(keys) if beyond(k)), len(keys))

    def filtered(self, request: _Request, path: str, items: Sequence[Any], query: str | None, fields: dict[str, Callable]) -> list[Any]:
        if not query:
            return list(items)
        cache_key = ("filter", path, id(items), query)
        cached = self._filter_cache.get(cache_key)
        if cached is None:
            terms, warnings = parse_search_query(query)
            predicates: list[Callable[[Any], bool]] = []
            search_warnings = [{"field": None, "message": message} for message in warnings]
            for term in terms:
                getter = fields.get(term.field or "default")
                if getter is None:
                    search_warnings.append({"field": term.field, "message": "Invalid search field for this query."})
                    continue
                predicates.append(self._predicate(getter, term))
            chosen = [item for item in items if all(p(item) for p in predicates)]
            cached = (chosen, search_warnings)
            if len(self._filter_cache) > 256:
                self._filter_cache.clear()
            self._filter_cache[cache_key] = cached
        if cached[1]:
            request.search.append({"path": [path], "query": query, "warnings": cached[1]})
        return cached[0]

    def _predicate(self, getter: Callable[[Any], Any], term: SearchTerm) -> Callable[[Any], bool]:
        raw = term.value
        parsed: dict[str, Any] = {}  # the term's value parsed once, as a moment or a number

        def wanted(kind: str) -> Any:
            if kind not in parsed:
                try:
                    parsed[kind] = _parse_moment(raw, self.tz) if kind == "moment" else int(raw.rsplit("/", 1)[-1])
                except ValueError:
                    raise GraphQLError(f"Invalid search value for {term.field}: {raw!r}") from None
            return parsed[kind]

        def matches(item: Any) -> bool:
            actual = getter(item)
            if isinstance(actual, datetime):
                result = _compare(actual, term.op, wanted("moment"))
            elif isinstance(actual, int) and not isinstance(actual, bool):
                result = _compare(actual, term.op, wanted("number"))
            elif isinstance(actual, (list, tuple, set)):
                result = any(self._text_match(a, raw) for a in actual)
            else:
                result = self._text_match(actual, raw)
            return result != term.negated

        return matches

    @staticmethod
    def _text_match(actual: Any, wanted: str) -> bool:
        if actual is None:
            return False
        actual_text, wanted_text = str(actual).lower(), wanted.lower()
        if wanted_text.endswith("*"):
            return actual_text.startswith(wanted_text[:-1])
        if "," in wanted_text:
            return actual_text in {w.strip() for w in wanted_text.split(",")}
        return actual_text == wanted_text

    # --- views ---------------------------------------------------------------------------------

    def money(self, amount: Decimal) -> dict[str, Any]:
        return {"amount": _amount(amount), "currencyCode": self.store.currency}

    def bag(self, amount: Decimal) -> dict[str, Any]:
        money = self.money(amount)
        return {"shopMoney": money, "presentmentMoney": money}

    def shop_view(self) -> dict[str, Any]:
        return {
            "__typename": "Shop",
            "id": "gid://shopify/Shop/68000000001",
            "name": self.store.name,
            "myshopifyDomain": self.domain,
            "currencyCode": self.store.currency,
            "ianaTimezone": self.store.timezone,
            "billingAddress": {"countryCodeV2": self.store.country},
            "plan": {
                "displayName": self.plan.name,
                "publicDisplayName": self.plan.name,
                "partnerDevelopment": False,
                "shopifyPlus": self.plan.name == "Shopify Plus",
            },
        }

    def stock(self, variant: Variant) -> int:
        return sum(level.available for level in self.levels_by_item.get(variant.inventory_item_id, []))

    def product_view(self, product: Product) -> dict[str, Any]:
        def variants(sortKey: str = "POSITION", **paging: Any) -> dict[str, Any]:
            sort = {"POSITION": lambda v: v.position, "SKU": lambda v: v.sku, "TITLE": lambda v: v.title,
                    "NAME": lambda v: v.title, "ID": lambda v: 0}[sortKey]
            return self.connection(product.variants, sort, self.variant_view, lambda v: v.id, **paging)

        return {
            "__typename": "Product",
            "id": product.id,
            "title": product.title,
            "handle": product.handle,
            "description": f"{product.title}, from {product.vendor}.",
            "productType": product.product_type,
            "vendor": product.vendor,
            "status": product.status,
            "tags": list(product.tags),
            "createdAt": _iso(product.created_at),
            "updatedAt": _iso(self.product_updated_at(product)),
            "totalInventory": lambda: sum(self.stock(v) for v in product.variants),
            "tracksInventory": True,
            "variants": variants,
            "variantsCount": {"count": len(product.variants), "precision": "EXACT"},
        }

    def variant_view(self, variant: Variant) -> dict[str, Any]:
        product = self.product_by_id[variant.product_id]
        return {
            "__typename": "ProductVariant",
            "id": variant.id,
            "title": variant.title,
            "displayName": f"{product.title} - {variant.title}",
            "sku": variant.sku,
            "barcode": variant.barcode,
            "price": _amount(self.price_of(variant)),
            "compareAtPrice": _amount(compare_at) if (compare_at := self.compare_at_of(variant)) is not None else None,
            "inventoryQuantity": lambda: self.stock(variant),
            "inventoryItem": lambda: self.item_view(variant),
            "product": lambda: self.product_view(product),
            "position": variant.position,
            "selectedOptions": [{"name": variant.option_name, "value": variant.option_value}],
            "availableForSale": True,
            "taxable": True,
            "createdAt": _iso(variant.created_at),
            "updatedAt": _iso(self.variant_updated_at(variant)),
        }

    def item_view(self, variant: Variant) -> dict[str, Any]:
        levels = self.levels_by_item.get(variant.inventory_item_id, [])

        def inventory_levels(query: str | None = None, **paging: Any) -> dict[str, Any]:
            return self.connection(levels, lambda lv: 0, self.level_view, lambda lv: lv.id, **paging)

        def inventory_level(locationId: str) -> dict[str, Any] | None:
            match = [lv for lv in levels if lv.location_id == locationId]
            return self.level_view(match[0]) if match else None

        return {
            "__typename": "InventoryItem",
            "id": variant.inventory_item_id,
            "sku": variant.sku,
            "tracked": True,
            "requiresShipping": True,
            "unitCost": self.money(variant.unit_cost) if variant.unit_cost is not None else None,
            "createdAt": _iso(variant.created_at),
            "updatedAt": _iso(variant.updated_at),
            "variant": lambda: self.variant_view(variant),
            "inventoryLevels": inventory_levels,
            "inventoryLevel": inventory_level,
        }

    _QUANTITY_NAMES = ("available", "on_hand", "committed", "incoming", "reserved", "damaged", "safety_stock", "quality_control")

    def level_view(self, level: InventoryLevel) -> dict[str, Any]:
        values = {"available": level.available, "on_hand": level.on_hand, "committed": level.committed}

        def quantities(names: list[str]) -> list[dict[str, Any]]:
            unknown = [n for n in names if n not in self._QUANTITY_NAMES]
            if unknown:
                raise GraphQLError(f"Invalid quantity name(s): {', '.join(unknown)}")
            return [
                {"id": f"{level.id}&name={name}", "name": name, "quantity": values.get(name, 0), "updatedAt": _iso(level.updated_at)}
                for name in names
            ]

        return {
            "__typename": "InventoryLevel",
            "id": level.id,
            "item": lambda: self.item_view(self.variant_by_item[level.inventory_item_id]),
            "location": lambda: self.location_view(self.location_by_id[level.location_id]),
            "quantities": quantities,
            "canDeactivate": level.available == 0,
            "createdAt": _iso(self.variant_by_item[level.inventory_item_id].created_at),
            "updatedAt": _iso(level.updated_at),
        }

    def location_view(self, location: Location, request: _Request | None = None) -> dict[str, Any]:
        levels = self.levels_by_location.get(location.id, [])

        def inventory_levels(query: str | None = None, **paging: Any) -> dict[str, Any]:
            fields = {
                "inventory_item_id": lambda lv: _numeric_id(lv.inventory_item_id),
                "updated_at": lambda lv: lv.updated_at,
                "id": lambda lv: _numeric_id(lv.id),
            }
            chosen = self.filtered(request or _Request(), "inventoryLevels", levels, query, fields)
            return self.connection(chosen, lambda lv: 0, self.level_view, lambda lv: lv.id, **paging)

        def inventory_level(inventoryItemId: str) -> dict[str, Any] | None:
            match = [lv for lv in levels if lv.inventory_item_id == inventoryItemId]
            return self.level_view(match[0]) if match else None

        return {
            "__typename": "Location",
            "id": location.id,
            "name": location.name,
            "isActive": True,
            "inventoryLevels": inventory_levels,
            "inventoryLevel": inventory_level,
        }

    def order_view(self, order: Order) -> dict[str, Any]:
        subtotal = sum((line.discounted_unit_price * line.quantity for line in order.line_items), Decimal(0))
        current = sum((line.discounted_unit_price * line.current_quantity for line in order.line_items), Decimal(0))
        refunded = any(line.current_quantity < line.quantity for line in order.line_items)
        if order.cancelled_at:
            financial = "VOIDED"
        elif refunded:
            financial = "REFUNDED" if current == 0 else "PARTIALLY_REFUNDED"
        else:
            financial = "PAID"
        fulfilled = order.created_at < self.store.as_of.replace(microsecond=0) - _THREE_DAYS

        def line_items(**paging: Any) -> dict[str, Any]:
            return self.connection(order.line_items, lambda line: 0, self.line_view, lambda line: line.id, **paging)

        return {
            "__typename": "Order",
            "id": order.id,
            "name": order.name,
            "createdAt": _iso(order.created_at),
            "updatedAt": _iso(order.updated_at),
            "processedAt": _iso(order.processed_at),
            "cancelledAt": _iso(order.cancelled_at),
            "closed": bool(order.cancelled_at) or fulfilled,
            "test": False,
            "currencyCode": self.store.currency,
            "presentmentCurrencyCode": self.store.currency,
            "displayFinancialStatus": financial,
            "displayFulfillmentStatus": "FULFILLED" if fulfilled and not order.cancelled_at else "UNFULFILLED",
            "discountCodes": [order.discount_code] if order.discount_code else [],
            "subtotalPriceSet": self.bag(subtotal),
            "totalPriceSet": self.bag(subtotal),
            "currentTotalPriceSet": self.bag(current),
            "lineItems": line_items,
        }

    def line_view(self, line: LineItem) -> dict[str, Any]:
        variant = self.variant_by_id.get(line.variant_id)
        product = self.product_by_id.get(line.product_id)
        return {
            "__typename": "LineItem",
            "id": line.id,
            "name": line.name,
            "title": product.title if product else line.name,
            "variantTitle": variant.title if variant and variant.title != "Default Title" else None,
            "sku": line.sku,
            "quantity": line.quantity,
            "currentQuantity": line.current_quantity,
            "nonFulfillableQuantity": 0,
            "isGiftCard": False,
            "taxable": True,
            "variant": (lambda: self.variant_view(variant)) if variant else None,
            "product": (lambda: self.product_view(product)) if product else None,
            "originalUnitPriceSet": self.bag(line.original_unit_price),
            # The sample's discounts are order-level codes: line-level prices stay the shelf price.
            "discountedUnitPriceSet": self.bag(line.original_unit_price),
            "discountedUnitPriceAfterAllDiscountsSet": self.bag(line.discounted_unit_price),
            "originalTotalSet": self.bag(line.original_unit_price * line.quantity),
            "discountedTotalSet": self.bag(line.original_unit_price * line.quantity),
        }

    # --- written prices ------------------------------------------------------------------------

    def price_of(self, variant: Variant) -> Decimal:
        written = self.written.get(variant.id)
        return written.price if written else variant.price

    def compare_at_of(self, variant: Variant) -> Decimal | None:
        written = self.written.get(variant.id)
        return written.compare_at_price if written else variant.compare_at_price

    def variant_updated_at(self, variant: Variant) -> datetime:
        written = self.written.get(variant.id)
        return written.updated_at if written else variant.updated_at

    def product_updated_at(self, product: Product) -> datetime:
        return max(product.updated_at, self.product_touched.get(product.id, product.updated_at))

    def bulk_update_variants(self, productId: str, variants: list[dict[str, Any]],
                             allowPartialUpdates: bool = False) -> dict[str, Any]:
        """productVariantsBulkUpdate: every input checked, then all written, or none unless partial updates are allowed."""
        if self.granted_scopes is not None and "write_products" not in self.granted_scopes:
            required = "`write_products` access scope. Also: The user must have a permission to update product variants."
            raise GraphQLError(f"Access denied for productVariantsBulkUpdate field. Required access: {required}",
                               extensions={"code": "ACCESS_DENIED", "requiredAccess": required,
                                           "documentation": "https://shopify.dev/api/usage/access-scopes"})
        product = self.product_by_id.get(productId)
        if product is None:
            return {"product": None, "productVariants": None, "userErrors": [
                {"code": "PRODUCT_DOES_NOT_EXIST", "field": ["productId"], "message": "Product does not exist"}]}
        errors: list[dict[str, Any]] = []
        accepted: list[tuple[Variant, dict[str, Decimal | None]]] = []
        for index, given in enumerate(variants):
            where = ["variants", str(index)]
            variant = self.variant_by_id.get(given.get("id") or "")
            if not given.get("id"):
                errors.append({"code": "PRODUCT_VARIANT_ID_MISSING", "field": [*where, "id"],
                               "message": "Product variant is missing ID attribute"})
                continue
            if variant is None:
                errors.append({"code": "PRODUCT_VARIANT_DOES_NOT_EXIST", "field": [*where, "id"],
                               "message": "Product variant does not exist"})
                continue
            if variant.product_id != product.id:
                errors.append({"code": "MUST_BE_FOR_THIS_PRODUCT", "field": [*where, "id"],
                               "message": "Product variant does not exist on this product"})
                continue
            change: dict[str, Decimal | None] = {}
            refused = False
            for name in ("price", "compareAtPrice"):
                if name not in given:
                    continue
                if given[name] is None:
                    if name == "price":
                        errors.append({"code": "INVALID_INPUT", "field": [*where, name], "message": "Price can't be blank"})
                        refused = True
                    change[name] = None
                    continue
                try:
                    amount = Decimal(str(given[name]))
                    if not amount.is_finite():
                        raise ArithmeticError
                except (ArithmeticError, ValueError):
                    errors.append({"code": "INVALID_INPUT", "field": [*where, name],
                                   "message": f"{'Price' if name == 'price' else 'Compare at price'} is invalid"})
                    refused = True
                    continue
                if amount < 0:
                    errors.append({"code": "GREATER_THAN_OR_EQUAL_TO", "field": [*where, name],
                                   "message": f"{'Price' if name == 'price' else 'Compare at price'} must be greater "
                                              "than or equal to 0"})
                    refused = True
                    continue
                change[name] = amount.quantize(Decimal("0.01"))
            if not refused:
                accepted.append((variant, change))
        if errors and not allowPartialUpdates:
            return {"product": self.product_view(product), "productVariants": None, "userErrors": errors}
        now = datetime.now(timezone.utc)
        with self._write_lock:
            for variant, change in accepted:
                price = change.get("price", self.price_of(variant))
                compare_at = change["compareAtPrice"] if "compareAtPrice" in change else self.compare_at_of(variant)
                self.written[variant.id] = _WrittenPrice(price, compare_at, now)
            if accepted:
                self.product_touched[product.id] = now
                # Listings sorted or filtered by updated_at were worked out before this write.
                self._order_cache.clear()
                self._filter_cache.clear()
        return {"product": self.product_view(product),
                "productVariants": [self.variant_view(variant) for variant, _ in accepted],
                "userErrors": errors}

    # --- the query root ------------------------------------------------------------------------

    def node_view(self, gid: str, request: _Request) -> dict[str, Any] | None:
        kind = gid.split("/")[3] if gid.startswith("gid://shopify/") and gid.count("/") >= 4 else ""
        if kind == "Product" and gid in self.product_by_id:
            return self.product_view(self.product_by_id[gid])
        if kind == "ProductVariant" and gid in self.variant_by_id:
            return self.variant_view(self.variant_by_id[gid])
        if kind == "InventoryItem" and gid in self.variant_by_item:
            return self.item_view(self.variant_by_item[gid])
        if kind == "Location" and gid in self.location_by_id:
            return self.location_view(self.location_by_id[gid], request)
        if kind == "Order" and gid in self.order_by_id:
            return self.order_view(self.order_by_id[gid])
        if kind == "LineItem" and gid in self.line_by_id:
            return self.line_view(self.line_by_id[gid][1])
        if kind == "Shop":
            return self.shop_view()
        return None

    def root(self, request: _Request) -> dict[str, Any]:
        product_fields: dict[str, Callable] = {
            "id": lambda p: _numeric_id(p.id),
            "title": lambda p: p.title,
            "handle": lambda p: p.handle,
            "product_type": lambda p: p.product_type,
            "vendor": lambda p: p.vendor,
            "status": lambda p: p.status,
            "tag": lambda p: p.tags,
            "sku": lambda p: [v.sku for v in p.variants],
            "barcode": lambda p: [v.barcode for v in p.variants],
            "created_at": lambda p: p.created_at,
            "updated_at": self.product_updated_at,
            "default": lambda p: p.title,
        }
        variant_fields: dict[str, Callable] = {
            "id": lambda v: _numeric_id(v.id),
            "sku": lambda v: v.sku,
            "barcode": lambda v: v.barcode,
            "title": lambda v: v.title,
            "product_id": lambda v: _numeric_id(v.product_id),
            "created_at": lambda v: v.created_at,
            "updated_at": self.variant_updated_at,
            "default": lambda v: v.sku,
        }
        order_fields: dict[str, Callable] = {
            "id": lambda o: _numeric_id(o.id),
            "name": lambda o: o.name,
            "created_at": lambda o: o.created_at,
            "updated_at": lambda o: o.updated_at,
            "processed_at": lambda o: o.processed_at,
            "status": lambda o: ["any", "cancelled" if o.cancelled_at else "open"],
            "sku": lambda o: [line.sku for line in o.line_items],
            "default": lambda o: o.name,
        }
        item_fields: dict[str, Callable] = {
            "id": lambda v: _numeric_id(v.inventory_item_id),
            "sku": lambda v: v.sku,
            "created_at": lambda v: v.created_at,
            "updated_at": lambda v: v.updated_at,
        }
        location_fields: dict[str, Callable] = {"id": lambda loc: _numeric_id(loc.id), "name": lambda loc: loc.name}
        product_sorts = {
            "ID": lambda p: 0, "TITLE": lambda p: p.title.lower(), "CREATED_AT": lambda p: p.created_at.timestamp(),
            "UPDATED_AT": lambda p: self.product_updated_at(p).timestamp(), "PRODUCT_TYPE": lambda p: p.product_type, "VENDOR": lambda p: p.vendor,
        }
        variant_sorts = {"ID": lambda v: 0, "SKU": lambda v: v.sku, "TITLE": lambda v: v.title, "NAME": lambda v: v.title,
                         "POSITION": lambda v: v.position}
        order_sorts = {
            "ID": lambda o: 0, "CREATED_AT": lambda o: o.created_at.timestamp(), "UPDATED_AT": lambda o: o.updated_at.timestamp(),
            "PROCESSED_AT": lambda o: o.processed_at.timestamp(), "ORDER_NUMBER": lambda o: _numeric_id(o.id),
        }

        def count(items: Sequence[Any], fields: dict, path: str) -> Callable[..., dict]:
            def resolve(query: str | None = None, limit: int | None = 10000) -> dict[str, Any]:
                total = len(self.filtered(request, path, items, query, fields))
                if limit is not None and total > limit:
                    return {"count": limit, "precision": "AT_LEAST"}
                return {"count": total, "precision": "EXACT"}

            return resolve

        def listing(items, fields, sorts, view, id_of, path):
            def resolve(query: str | None = None, sortKey: str = "ID", **paging: Any) -> dict[str, Any]:
                chosen = self.filtered(request, path, items, query, fields)
                return self.connection(chosen, sorts[sortKey], view, id_of, cache_key=(path, query, sortKey), **paging)

            return resolve

        def locations(query: str | None = None, sortKey: str = "NAME", includeInactive: bool = False, **paging: Any) -> dict:
            chosen = self.filtered(request, "locations", self.locations, query, location_fields)
            sort = (lambda loc: loc.name) if sortKey == "NAME" else (lambda loc: 0)
            return self.connection(chosen, sort, lambda loc: self.location_view(loc, request), lambda loc: loc.id, **paging)

        def location(id: str | None = None) -> dict[str, Any] | None:
            chosen = self.location_by_id.get(id) if id else self.locations[0]
            return self.location_view(chosen, request) if chosen else None

        return {
            "shop": self.shop_view,
            "node": lambda id: self.node_view(id, request),
            "nodes": lambda ids: [self.node_view(i, request) for i in ids],
            "product": lambda id: self.product_view(self.product_by_id[id]) if id in self.product_by_id else None,
            "products": listing(self.products, product_fields, product_sorts, self.product_view, lambda p: p.id, "products"),
            "productsCount": count(self.products, product_fields, "productsCount"),
            "productVariant": lambda id: self.variant_view(self.variant_by_id[id]) if id in self.variant_by_id else None,
            "productVariants": listing(self.variants, variant_fields, variant_sorts, self.variant_view, lambda v: v.id, "productVariants"),
            "productVariantsCount": count(self.variants, variant_fields, "productVariantsCount"),
            "inventoryItem": lambda id: self.item_view(self.variant_by_item[id]) if id in self.variant_by_item else None,
            "inventoryItems": listing(
                self.variants, item_fields, {"ID": lambda v: 0, "SKU": lambda v: v.sku,
                                             "CREATED_AT": lambda v: v.created_at.timestamp(),
                                             "UPDATED_AT": lambda v: v.updated_at.timestamp()},
                self.item_view, lambda v: v.inventory_item_id, "inventoryItems",
            ),
            "location": location,
            "locations": locations,
            "order": lambda id: self.order_view(self.order_by_id[id]) if id in self.order_by_id else None,
            "orders": listing(self.orders, order_fields, order_sorts, self.order_view, lambda o: o.id, "orders"),
            "ordersCount": count(self.orders, order_fields, "ordersCount"),
            "productVariantsBulkUpdate": self.bulk_update_variants,
        }



def _resolve_field(source: Any, info: Any, **args: Any) -> Any:
    value = source.get(info.field_name) if isinstance(source, dict) else getattr(source, info.field_name, None)
    return value(**args) if callable(value) else value


# --- one emulated shop --------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _parse_and_validate(query: str) -> tuple[DocumentNode | None, tuple[GraphQLError, ...]]:
    try:
        document = parse(query)
    except GraphQLError as error:
        return None, (error,)
    return document, tuple(validate(SCHEMA, document))


def _shopify_error(error: GraphQLError, code: str | None = None) -> dict[str, Any]:
    formatted: dict[str, Any] = {"message": error.message}
    if error.locations:
        formatted["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        formatted["path"] = list(error.path)
    extensions = dict(error.extensions or {})
    if code:
        extensions.setdefault("code", code)
    if extensions:
        formatted["extensions"] = extensions
    return formatted


_UNDEFINED_FIELD = re.compile(r"Cannot query field '(?P<field>\w+)' on type '(?P<type>\w+)'")


def _validation_error(error: GraphQLError) -> dict[str, Any]:
    match = _UNDEFINED_FIELD.search(error.message)
    if match:
        formatted = _shopify_error(error)
        formatted["message"] = f"Field '{match['field']}' doesn't exist on type '{match['type']}'"
        formatted["extensions"] = {"code": "undefinedField", "typeName": match["type"], "fieldName": match["field"]}
        return formatted
    return _shopify_error(error, "GRAPHQL_VALIDATION_FAILED")


class EmulatedShop:
    def __init__(self, store: SampleStore, domain: str, access_token: str, plan: ShopPlan, clock: Callable[[], float]) -> None:
        self.domain = domain
        self.access_token = access_token
        self.plan = plan
        self.clock = clock
        self.bucket = LeakyBucket(plan.maximum_available, plan.restore_rate, clock)
        self.data = ShopData(store, domain, plan)
        self.bulk_operations = ShopBulkOperations(domain, self.data, clock)
        self.records: list[RequestRecord] = []
        self._records_lock = threading.Lock()

    def record(self, record: RequestRecord) -> None:
        with self._records_lock:
            self.records.append(record)

    def authorised(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.access_token.encode())

    def _cost_extension(self, requested: int | None, actual: int | None) -> dict[str, Any]:
        return {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": self.bucket.status()}}

    def graphql(self, query: str, variables: dict[str, Any] | None, operation_name: str | None) -> dict[str, Any]:
        """Run one GraphQL request against the bucket; returns the response body (HTTP 200)."""
        before = self.bucket.available()

        def done(outcome: str, body: dict[str, Any], requested: int | None = None, actual: int | None = None) -> dict[str, Any]:
            self.record(RequestRecord(self.clock(), self.domain, 200, outcome, operation_name, requested, actual, before,
                                      self.bucket.available()))
            return body

        document, errors = _parse_and_validate(query)
        if errors or document is None:
            return done("invalid", {"errors": [_validation_error(e) for e in errors], "extensions": self._cost_extension(0, 0)})
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            message = f"No operation named '{operation_name}'" if operation_name else "An operation name is required"
            return done("invalid", {"errors": [{"message": message}], "extensions": self._cost_extension(0, 0)})
        if operation.operation not in (OperationType.QUERY, OperationType.MUTATION):
            message = "Subscriptions are not supported by this emulator"
            return done("invalid", {"errors": [{"message": message}], "extensions": self._cost_extension(0, 0)})
        try:
            requested = calculate_query_cost(document, variables, operation_name)
        except QueryCostError as error:
            return done("invalid", {"errors": [{"message": str(error), "extensions": {"code": "BAD_REQUEST"}}],
                                    "extensions": self._cost_extension(0, 0)})
        if requested > MAX_QUERY_COST:
            message = (
                f"Query cost is {requested}, which exceeds the single query max cost limit ({MAX_QUERY_COST}).\n\n"
                "See https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\n"
                "cost of a query is calculated.\n\n"
                "To query larger amounts of data with fewer limits, bulk operations should be used instead.\n"
                "See https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n"
            )
            error = {"message": message, "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested,
                                                        "maxCost": MAX_QUERY_COST, "documentation": RATE_LIMIT_DOCS}}
            return done("max_cost", {"errors": [error], "extensions": self._cost_extension(requested, None)}, requested)
        if not self.bucket.take(requested):
            error = {"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": RATE_LIMIT_DOCS}}
            return done("throttled", {"errors": [error], "extensions": self._cost_extension(requested, None)}, requested)

        request = _Request()
        result = execute_sync(
            SCHEMA, document, root_value=self.bulk_operations.root(self.data.root(request)), variable_values=variables or {},
            operation_name=operation_name, field_resolver=_resolve_field,
        )
        try:
            actual = calculate_query_cost(document, variables, operation_name, data=result.data) if result.data else 0
        except QueryCostError:
            actual = requested
        actual = min(actual, requested)
        self.bucket.refund(requested - actual)
        body: dict[str, Any] = {}
        if result.errors:
            body["errors"] = [_shopify_error(e, "BAD_REQUEST" if not e.extensions else None) for e in result.errors]
        body["data"] = result.data
        body["extensions"] = self._cost_extension(requested, actual)
        if request.search:
            body["extensions"]["search"] = request.search
        return done("ok", body, requested, actual)


# --- the HTTP server ------------------------------------------------------------------------------

_SHOP_PATH = re.compile(r"^/(?P<shop>[A-Za-z0-9][A-Za-z0-9.-]*)/admin/api/(?P<version>[^/]+)/graphql\.json$")
_HOST_PATH = re.compile(r"^/admin/api/(?P<version>[^/]+)/graphql\.json$")
_VERSION = re.compile(r"^(\d{4}-(01|04|07|10)|unstable)$")

Response = tuple[int, dict[str, str], bytes]
RouteHandler = Callable[["EmulatorRequest"], Response]


@dataclass(frozen=True)
class EmulatorRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    match: re.Match


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, json.dumps(payload).encode()


class ShopifyEmulator:
    """The emulator server: `with ShopifyEmulator() as emulator: emulator.add_shop(store)`.

    `clock` drives the leaky buckets (pass a ManualClock in tests); `faults` fails requests
    on demand; `records(domain)` lists per-request cost and throttle outcomes.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self.host = host
        self.port = port
        self.clock = clock
        self.faults = FaultInjector()
        self.shops: dict[str, EmulatedShop] = {}
        self._routes: list[tuple[str, re.Pattern, RouteHandler]] = []
        self.add_route("GET", RESULT_PATH, lambda request: serve_result(self.shops, request.match, request.query))
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- shops ------------------------------------------------------------------------------

    def add_shop(
        self,
        store: SampleStore,
        access_token: str = DEMO_ACCESS_TOKEN,
        *,
        domain: str | None = None,
        plan: str = DEMO_PLAN,
        maximum_available: float | None = None,
        restore_rate: float | None = None,
    ) -> EmulatedShop:
        base = PLANS[plan]
        chosen = ShopPlan(base.name, maximum_available or base.maximum_available, restore_rate or base.restore_rate)
        shop = EmulatedShop(store, domain or store.domain, access_token, chosen, self.clock)
        shop.bulk_operations.result_base_url = lambda: self.base_url
        self.shops[shop.domain] = shop
        return shop

    def shop(self, domain: str) -> EmulatedShop:
        return self.shops[domain]

    def records(self, domain: str) -> list[RequestRecord]:
        with self.shops[domain]._records_lock:
            return list(self.shops[domain].records)

    def add_route(self, method: str, pattern: str, handler: RouteHandler) -> None:
        """Extra endpoints (OAuth, bulk downloads, ...) served by the same server."""
        self._routes.append((method.upper(), re.compile(pattern), handler))

    # --- URLs -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return f"http://{self.host}:{self._server.server_address[1]}"

    @property
    def admin_base_url_template(self) -> str:
        """The value for SHOPIFY_ADMIN_BASE_URL: `{shop}` is left for the client to fill."""
        return self.base_url + "/{shop}"

    def graphql_url(self, domain: str, version: str) -> str:
        return f"{self.base_url}/{domain}/admin/api/{version}/graphql.json"

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> ShopifyEmulator:
        if self._server is not None:
            return self
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: the client reuses one connection
            # Headers and body go out in two writes: without TCP_NODELAY, Nagle and delayed ACKs add ~40 ms each.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                emulator._dispatch(self, "POST")

            def do_GET(self) -> None:
                emulator._dispatch(self, "GET")

            def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and demo read records
                return

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self._thread = serve_in_background(self._server, "shopify-emulator")
        return self

    def stop(self) -> None:
        shut_down(self._server, self._thread)
        self._server, self._thread = None, None

    def __enter__(self) -> ShopifyEmulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --- requests -----------------------------------------------------------------------------

    def _dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        path, _, query = handler.path.partition("?")
        headers = {k.lower(): v for k, v in handler.headers.items()}
        try:
            status, response_headers, payload = self._route(method, path, query, headers, body)
        except Exception as exc:  # a bug in the emulator must still answer, as a 500
            status, response_headers, payload = json_response(500, {"errors": f"emulator error: {type(exc).__name__}: {exc}"})
        handler.send_response(status)
        response_headers.setdefault("X-Request-Id", str(uuid.uuid4()))
        for name, value in response_headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _route(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Response:
        for route_method, pattern, route_handler in self._routes:
            match = pattern.match(path)
            if match and route_method == method:
                return route_handler(EmulatorRequest(method, path, query, headers, body, match))
        match = _SHOP_PATH.match(path)
        if match:
            domain, version = match["shop"], match["version"]
        else:
            match = _HOST_PATH.match(path)
            if not match:
                return json_response(404, {"errors": "Not Found"})
            domain, version = headers.get("host", "").split(":", 1)[0], match["version"]
        shop = self.shops.get(domain)
        if shop is None or not _VERSION.match(version):
            return json_response(404, {"errors": "Not Found"})
        if method != "POST":
            return json_response(405, {"errors": "Method Not Allowed"}, {"Allow": "POST"})
        return self._graphql(shop, version, headers, body)

    def _graphql(self, shop: EmulatedShop, version: str, headers: dict[str, str], body: bytes) -> Response:
        common = {"X-Shopify-API-Version": version}
        fault = self.faults.take(shop.domain)
        if fault is not None:
            extra = dict(common)
            if fault.retry_after is not None:
                extra["Retry-After"] = f"{fault.retry_after:.1f}"
            message = {
                429: "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.",
                503: "Service Unavailable",
            }.get(fault.status, HTTPStatus(fault.status).phrase)
            shop.record(RequestRecord(self.clock(), shop.domain, fault.status, "fault"))
            return json_response(fault.status, {"errors": message}, extra)
        if not shop.authorised(headers.get("x-shopify-access-token")):
            shop.record(RequestRecord(self.clock(), shop.domain, 401, "unauthorized"))
            return json_response(401, {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}, common)
        content_type = headers.get("content-type", "")
        try:
            if content_type.startswith("application/graphql"):
                request = {"query": body.decode("utf-8")}
            else:
                request = json.loads(body or b"{}")
            if not isinstance(request, dict) or not isinstance(request.get("query"), str):
                raise ValueError("missing query")
            variables = request.get("variables") or {}
            if not isinstance(variables, dict):
                raise ValueError("variables must be an object")
        except (ValueError, UnicodeDecodeError):
            shop.record(RequestRecord(self.clock(), shop.domain, 400, "invalid"))
            return json_response(400, {"errors": {"query": "Required parameter missing or invalid"}}, common)
        payload = shop.graphql(request["query"], variables, request.get("operationName"))
        return json_response(200, payload, common)


def emulator_for_store(store: SampleStore, *, access_token: str = DEMO_ACCESS_TOKEN, plan: str = DEMO_PLAN,
                       clock: Callable[[], float] = time.monotonic) -> ShopifyEmulator:
    """An emulator (not yet started) serving one sample store on the given plan."""
    emulator = ShopifyEmulator(clock=clock)
    emulator.add_shop(store, access_token, plan=plan)
    return emulator
