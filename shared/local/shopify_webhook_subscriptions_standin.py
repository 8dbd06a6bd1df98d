"""`webhookSubscriptionCreate` for the local Shopify emulator, added through its `add_route`.

    subscriptions = WebhookSubscriptionsStandIn(emulator)   # before the client's first request
    ... create_webhook_subscriptions(client) ...
    subscriptions.of(shop)                                  # what the shop is subscribed to

The route takes over the shop's GraphQL path: a `webhookSubscriptionCreate` mutation is
answered here (validated against the mutation's SDL, with Shopify's user errors for a duplicate
topic and address, or a relative or missing URI), and anything else goes on to the emulator's
own GraphQL. The topic enum has no compliance topics, as in Shopify's schema: asking for one
fails validation.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import count

from graphql import GraphQLError, build_schema, execute_sync, parse, validate

from shared.local.shopify_emulator import EmulatorRequest, Response, ShopifyEmulator, json_response
from shared.shopify.webhook_topics import API_SUBSCRIBABLE_TOPICS, graphql_topic

GRAPHQL_ROUTE = r"^/(?P<shop>[A-Za-z0-9][A-Za-z0-9.-]*)/admin/api/(?P<version>[^/]+)/graphql\.json$"
# The webhook topics the app uses, plus a few it does not, so the enum is not merely the app's list.
_TOPICS = sorted({graphql_topic(t) for t in API_SUBSCRIBABLE_TOPICS} | {"ORDERS_PAID", "CUSTOMERS_CREATE"})

SDL = f"""
schema {{ query: QueryRoot mutation: Mutation }}
enum WebhookSubscriptionTopic {{ {" ".join(_TOPICS)} }}
enum WebhookSubscriptionFormat {{ JSON XML }}
input WebhookSubscriptionInput {{
  uri: String callbackUrl: String format: WebhookSubscriptionFormat includeFields: [String!] filter: String
}}
type WebhookSubscription {{
  id: ID! topic: WebhookSubscriptionTopic! uri: String! format: WebhookSubscriptionFormat! createdAt: String!
}}
type UserError {{ field: [String!] message: String! }}
type WebhookSubscriptionCreatePayload {{ webhookSubscription: WebhookSubscription userErrors: [UserError!]! }}
type Mutation {{
  webhookSubscriptionCreate(
    topic: WebhookSubscriptionTopic!, webhookSubscription: WebhookSubscriptionInput!
  ): WebhookSubscriptionCreatePayload
}}
type QueryRoot {{ webhookSubscriptionsCount: Int! }}
"""
_SCHEMA = build_schema(SDL)


@dataclass(frozen=True)
class Subscription:
    id: str
    topic: str
    uri: str
    format: str
    created_at: str


class WebhookSubscriptionsStandIn:
    def __init__(self, emulator: ShopifyEmulator) -> None:
        self._emulator = emulator
        self._subscriptions: dict[str, list[Subscription]] = {}
        self._ids = count(1_100_000_001)
        self._lock = threading.Lock()
        self.requests = 0
        emulator.add_route("POST", GRAPHQL_ROUTE, self._handle)

    def of(self, shop: str) -> list[Subscription]:
        with self._lock:
            return list(self._subscriptions.get(shop, []))

    def _handle(self, request: EmulatorRequest) -> Response:
        shop = self._emulator.shops.get(request.match["shop"])
        if shop is None:
            return json_response(404, {"errors": "Not Found"})
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            body = None
        query = body.get("query") if isinstance(body, dict) else None
        if not isinstance(query, str) or "webhookSubscriptionCreate" not in query:
            # Not ours: the emulator's own GraphQL answers (it has no public entry point to chain to).
            return self._emulator._graphql(shop, request.match["version"], request.headers, request.body)
        if not shop.authorised(request.headers.get("x-shopify-access-token")):
            return json_response(401, {"errors": "[API] Invalid API key or access token"})
        self.requests += 1
        cost = {"cost": {"requestedQueryCost": 10, "actualQueryCost": 10, "throttleStatus": shop.bucket.status()}}
        try:
            document = parse(query)
        except GraphQLError as error:
            return json_response(200, {"errors": [{"message": error.message}], "extensions": cost})
        errors = validate(_SCHEMA, document)
        if errors:
            failed = [{"message": e.message, "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}} for e in errors]
            return json_response(200, {"errors": failed, "extensions": cost})
        result = execute_sync(
            _SCHEMA, document, root_value={"webhookSubscriptionCreate": self._creator(shop.domain)},
            variable_values=body.get("variables") or {}, operation_name=body.get("operationName"),
        )
        answer: dict = {"data": result.data, "extensions": cost}
        if result.errors:
            answer["errors"] = [{"message": e.message} for e in result.errors]
        return json_response(200, answer)

    def _creator(self, shop: str):
        def create(info, topic: str, webhookSubscription: dict) -> dict:
            uri = webhookSubscription.get("uri") or webhookSubscription.get("callbackUrl")
            if not uri:
                return {"webhookSubscription": None, "userErrors": [{"field": ["webhookSubscription", "uri"],
                                                                     "message": "Address can't be blank"}]}
            if not uri.startswith(("https://", "http://")):
                return {"webhookSubscription": None, "userErrors": [{"field": ["webhookSubscription", "uri"],
                                                                     "message": "Address is invalid"}]}
            with self._lock:
                existing = self._subscriptions.setdefault(shop, [])
                if any(s.topic == topic and s.uri == uri for s in existing):
                    return {"webhookSubscription": None, "userErrors": [
                        {"field": ["webhookSubscription", "callbackUrl"],
                         "message": "Address for this topic has already been taken"}]}
                created = Subscription(f"gid://shopify/WebhookSubscription/{next(self._ids)}", topic, uri,
                                       webhookSubscription.get("format") or "JSON",
                                       datetime.now(timezone.utc).isoformat(timespec="seconds"))
                existing.append(created)
            return {"webhookSubscription": {"id": created.id, "topic": created.topic, "uri": created.uri,
                                            "format": created.format, "createdAt": created.created_at},
                    "userErrors": []}

        return create
