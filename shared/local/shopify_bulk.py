"""Bulk query operations for the Shopify emulator: the mutation, the status, the JSONL result.

What it plays, as Shopify documents it for `bulkOperationRunQuery`:

- the mutation validates the query (at least one connection, at most five, at most two in any
  chain of nested connections, no top-level `node`/`nodes`) and answers `userErrors` with
  `INVALID`, or `OPERATION_IN_PROGRESS` while another bulk query of the shop is running
  (one at a time per shop by default; `BulkSettings.max_concurrent` raises it, as 2026-01+ allows);
- `currentBulkOperation(type: QUERY)`, `bulkOperation(id:)` and `node(id:)` report `status`,
  `objectCount`, `rootObjectCount`, `fileSize` (UnsignedInt64: strings), `url`, `errorCode`;
- the result is a JSONL file at a signed URL on the emulator (no access token needed, a wrong
  signature is refused): one object per line, every item of a nested connection on its own
  line with `__parentId`, and, with `groupObjects: false` (the default since 2026-01), the
  lines in no particular order: children often come before their parents;
- an operation takes `BulkSettings.duration_seconds` on the emulator's clock before it
  completes, so that a client has to poll; with a ManualClock it completes when the test says.

Tests steer it through `BulkSettings`: `fail_next` ends the next operation FAILED with an error
code (with a `partialDataUrl`), `cut_download_after_lines` serves a truncated file. Listeners
added with `on_finish` get the `bulk_operations/finish` webhook payload when an operation
ends (the webhook sender is not part of this module).
"""

from __future__ import annotations

import hmac
import json
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    get_operation_ast,
    is_abstract_type,
    is_leaf_type,
    parse,
    validate,
)
from graphql.execution.values import get_argument_values

if TYPE_CHECKING:
    from shared.local.shopify_emulator import ShopData

BULK_SDL = """
extend schema { mutation: Mutation }

scalar UnsignedInt64

enum BulkOperationStatus { CANCELED CANCELING COMPLETED CREATED EXPIRED FAILED RUNNING }
enum BulkOperationErrorCode { ACCESS_DENIED INTERNAL_SERVER_ERROR TIMEOUT }
enum BulkOperationType { MUTATION QUERY }
enum BulkOperationUserErrorCode { INVALID LIMIT_REACHED OPERATION_IN_PROGRESS }

type BulkOperation implements Node {
  id: ID! status: BulkOperationStatus! errorCode: BulkOperationErrorCode type: BulkOperationType! query: String!
  createdAt: DateTime! completedAt: DateTime objectCount: UnsignedInt64! rootObjectCount: UnsignedInt64!
  fileSize: UnsignedInt64 url: URL partialDataUrl: URL
}
type BulkOperationUserError { code: BulkOperationUserErrorCode field: [String!] message: String! }
type BulkOperationRunQueryPayload { bulkOperation: BulkOperation userErrors: [BulkOperationUserError!]! }
type UserError { field: [String!] message: String! }
type BulkOperationCancelPayload { bulkOperation: BulkOperation userErrors: [UserError!]! }

type Mutation {
  bulkOperationRunQuery(query: String!, groupObjects: Boolean! = false): BulkOperationRunQueryPayload
  bulkOperationCancel(id: ID!): BulkOperationCancelPayload
}

extend type QueryRoot {
  currentBulkOperation(type: BulkOperationType = QUERY): BulkOperation
  bulkOperation(id: ID!): BulkOperation
}
"""

MAX_CONNECTIONS = 5
MAX_CONNECTION_CHAIN = 2  # a top-level connection and one nested in it (the stricter reading of "two levels")
RESULT_PATH = r"^/bulk-results/(?P<shop>[A-Za-z0-9][A-Za-z0-9.-]*)/(?P<number>\d+)\.jsonl$"
_GID_PREFIX = "gid://shopify/BulkOperation/"
_TERMINAL = ("COMPLETED", "FAILED", "CANCELED", "EXPIRED")
_PAGE = 250
_numbers = iter(range(4_100_000_000_001, 10**15))  # unique across shops, like Shopify's ids
_numbers_lock = threading.Lock()

FinishListener = Callable[[str, dict[str, Any]], None]


@dataclass
class BulkSettings:
    duration_seconds: float = 0.25  # on the emulator's clock, at least; generating the file may take longer
    max_concurrent: int = 1
    fail_next: list[str] = field(default_factory=list)  # error codes for the next operations, in turn
    cut_download_after_lines: int | None = None


class BulkQueryInvalid(Exception):
    """The query breaks a bulk restriction: answered as a userError INVALID."""


@dataclass
class BulkOperation:
    number: int
    query: str
    group_objects: bool
    created_at: datetime
    started: float  # the emulator clock when it started
    signature: str
    fail_with: str | None = None
    status: str = "CREATED"
    error_code: str | None = None
    completed_at: datetime | None = None
    lines: list[bytes] | None = None
    root_objects: int = 0
    announced: bool = False
    generated: threading.Event = field(default_factory=threading.Event)

    @property
    def gid(self) -> str:
        return f"{_GID_PREFIX}{self.number}"

    @property
    def terminal(self) -> bool:
        return self.status in _TERMINAL


class ShopBulkOperations:
    """One shop's bulk operations: started by the mutation, advanced by the clock."""

    def __init__(self, domain: str, data: ShopData, clock: Callable[[], float], settings: BulkSettings | None = None) -> None:
        self.domain = domain
        self.data = data
        self.clock = clock
        self.settings = settings or BulkSettings()
        self.result_base_url: Callable[[], str] | None = None  # set by the emulator when it serves the shop
        self.operations: dict[int, BulkOperation] = {}
        self.status_checks = 0  # status reads of any operation: tests wait on them
        self._listeners: list[FinishListener] = []
        self._lock = threading.RLock()

    def on_finish(self, listener: FinishListener) -> None:
        """Call `listener(shop_domain, payload)` when an operation ends (the bulk_operations/finish body)."""
        self._listeners.append(listener)

    # --- the GraphQL fields -------------------------------------------------------------------

    def root(self, base: dict[str, Any]) -> dict[str, Any]:
        """The query root with the bulk fields added and `node` taught about BulkOperation ids."""
        node = base["node"]

        def node_or_operation(id: str) -> dict[str, Any] | None:
            return self.view_by_gid(id) if id.startswith(_GID_PREFIX) else node(id=id)

        return {
            **base,
            "node": node_or_operation,
            "nodes": lambda ids: [node_or_operation(i) for i in ids],
            "currentBulkOperation": self.current_view,
            "bulkOperation": lambda id: self.view_by_gid(id),
            "bulkOperationRunQuery": self.run_query,
            "bulkOperationCancel": self.cancel,
        }

    def run_query(self, query: str, groupObjects: bool = False) -> dict[str, Any]:
        try:
            document = _checked_bulk_query(query, self.data_schema())
        except BulkQueryInvalid as error:
            return {"bulkOperation": None, "userErrors": [{"code": "INVALID", "field": ["query"], "message": str(error)}]}
        with self._lock:
            running = [op for op in self.operations.values() if not self._refresh(op).terminal]
            if len(running) >= self.settings.max_concurrent:
                message = f"A bulk query operation for this app and shop is already in progress: {running[0].gid}."
                return {"bulkOperation": None,
                        "userErrors": [{"code": "OPERATION_IN_PROGRESS", "field": None, "message": message}]}
            with _numbers_lock:
                number = next(_numbers)
            operation = BulkOperation(
                number=number, query=query, group_objects=groupObjects, created_at=datetime.now(timezone.utc),
                started=self.clock(), signature=secrets.token_hex(16),
                fail_with=self.settings.fail_next.pop(0) if self.settings.fail_next else None,
            )
            operation.status = "RUNNING"
            self.operations[number] = operation
        threading.Thread(target=self._generate, args=(operation, document), name=f"bulk-{number}", daemon=True).start()
        threading.Thread(target=self._watch, args=(operation,), name=f"bulk-watch-{number}", daemon=True).start()
        return {"bulkOperation": self._view(operation), "userErrors": []}

    def cancel(self, id: str) -> dict[str, Any]:
        operation = self._by_gid(id)
        if operation is None:
            return {"bulkOperation": None, "userErrors": [{"field": ["id"], "message": "Bulk operation does not exist"}]}
        with self._lock:
            self._refresh(operation)
            if operation.terminal:
                message = f"A bulk operation cannot be canceled when it is {operation.status.lower()}"
                return {"bulkOperation": self._view(operation), "userErrors": [{"field": None, "message": message}]}
            operation.status = "CANCELED"
            operation.completed_at = datetime.now(timezone.utc)
        self._finished(operation)
        return {"bulkOperation": self._view(operation), "userErrors": []}

    def current_view(self, type: str = "QUERY") -> dict[str, Any] | None:
        if type != "QUERY" or not self.operations:
            return None
        with self._lock:
            self.status_checks += 1
            return self._view(self.operations[max(self.operations)])

    def view_by_gid(self, gid: str) -> dict[str, Any] | None:
        operation = self._by_gid(gid)
        if operation is None:
            return None
        with self._lock:
            self.status_checks += 1
            return self._view(operation)

    def data_schema(self) -> GraphQLSchema:
        from shared.local.shopify_emulator import SCHEMA  # the emulator imports this module first

        return SCHEMA

    # --- the result file ----------------------------------------------------------------------

    def result(self, number: int, signature: str) -> bytes | None:
        """The JSONL body for a signed URL; None when the URL is not valid."""
        operation = self.operations.get(number)
        if operation is None or not hmac.compare_digest(signature.encode(), operation.signature.encode()):
            return None
        with self._lock:
            self._refresh(operation)
            lines = operation.lines or []
            if operation.status == "FAILED":
                lines = lines[: len(lines) // 2]  # what was written before it failed
            elif operation.status != "COMPLETED":
                return None
        cut = self.settings.cut_download_after_lines
        if cut is not None:
            lines = lines[:cut]
        return b"".join(lines)

    # --- the operation's life -----------------------------------------------------------------

    def _generate(self, operation: BulkOperation, document: DocumentNode) -> None:
        try:
            items = list(_run_bulk_query(document, self.data, self.data_schema()))
        except Exception:  # noqa: BLE001 - Shopify reports its own failures as INTERNAL_SERVER_ERROR
            items = None
        with self._lock:
            if items is None:
                operation.fail_with = operation.fail_with or "INTERNAL_SERVER_ERROR"
                operation.lines = []
            else:
                if operation.group_objects:
                    ordered = items
                else:
                    # Not grouped: no promise about order. Shuffle, so that children often precede parents.
                    ordered = list(items)
                    random.Random(operation.number).shuffle(ordered)
                operation.lines = [json.dumps(line, separators=(",", ":")).encode() + b"\n" for line, _ in ordered]
                operation.root_objects = sum(1 for _, is_root in items if is_root)
        operation.generated.set()

    def _watch(self, operation: BulkOperation) -> None:
        # Ends the operation on time even if nobody polls, so that the finish listeners hear of it.
        while True:
            with self._lock:
                if self._refresh(operation).terminal:
                    break
            time.sleep(0.01)
        self._finished(operation)

    def _refresh(self, operation: BulkOperation) -> BulkOperation:
        if operation.terminal:
            return operation
        due = self.clock() - operation.started >= self.settings.duration_seconds
        if due and operation.generated.is_set():
            if operation.fail_with:
                operation.status, operation.error_code = "FAILED", operation.fail_with
            else:
                operation.status = "COMPLETED"
            operation.completed_at = datetime.now(timezone.utc)
        return operation

    def _finished(self, operation: BulkOperation) -> None:
        with self._lock:
            if operation.announced:
                return
            operation.announced = True
        payload = {
            "admin_graphql_api_id": operation.gid,
            "completed_at": _iso(operation.completed_at),
            "created_at": _iso(operation.created_at),
            "error_code": operation.error_code.lower() if operation.error_code else None,
            "status": operation.status.lower(),
            "type": "query",
        }
        for listener in list(self._listeners):
            listener(self.domain, payload)

    def _by_gid(self, gid: str) -> BulkOperation | None:
        if not gid.startswith(_GID_PREFIX) or not gid[len(_GID_PREFIX):].isdigit():
            return None
        return self.operations.get(int(gid[len(_GID_PREFIX):]))

    def _url(self, operation: BulkOperation) -> str | None:
        if self.result_base_url is None:
            return None
        return f"{self.result_base_url()}/bulk-results/{self.domain}/{operation.number}.jsonl?signature={operation.signature}"

    def _view(self, operation: BulkOperation) -> dict[str, Any]:
        self._refresh(operation)
        lines = operation.lines or []
        if operation.status == "COMPLETED":
            count, size = len(lines), sum(len(line) for line in lines)
        else:
            # Progress while running: the share of the duration that has passed.
            elapsed = (self.clock() - operation.started) / max(self.settings.duration_seconds, 1e-9)
            count, size = int(len(lines) * min(1.0, elapsed) * (0.5 if operation.status == "FAILED" else 1)), None
        has_file = operation.status == "COMPLETED" and count > 0
        return {
            "__typename": "BulkOperation",
            "id": operation.gid,
            "status": operation.status,
            "errorCode": operation.error_code,
            "type": "QUERY",
            "query": operation.query,
            "createdAt": _iso(operation.created_at),
            "completedAt": _iso(operation.completed_at),
            "objectCount": str(count),
            "rootObjectCount": str(operation.root_objects if operation.status == "COMPLETED" else 0),
            "fileSize": str(size) if has_file else None,
            "url": self._url(operation) if has_file else None,
            "partialDataUrl": self._url(operation) if operation.status == "FAILED" and lines else None,
        }


def serve_result(shops: dict[str, Any], match: Any, query_string: str) -> tuple[int, dict[str, str], bytes]:
    """The download endpoint: the signed URL's JSONL, or 403 as a storage bucket answers."""
    shop = shops.get(match["shop"])
    signature = (parse_qs(query_string).get("signature") or [""])[0]
    body = shop.bulk_operations.result(int(match["number"]), signature) if shop is not None else None
    if body is None:
        return 403, {"Content-Type": "application/xml"}, b"<Error><Code>AccessDenied</Code></Error>"
    return 200, {"Content-Type": "application/jsonl"}, body


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


# --- the bulk query: checks and execution ----------------------------------------------------------


def _is_connection(named: Any) -> bool:
    return isinstance(named, GraphQLObjectType) and named.name.endswith("Connection") and "pageInfo" in named.fields


def _fields(type_: GraphQLObjectType, selection_set: SelectionSetNode | None) -> dict[str, list[FieldNode]]:
    out: dict[str, list[FieldNode]] = {}

    def collect(selections: SelectionSetNode | None) -> None:
        for selection in selections.selections if selections else ():
            if isinstance(selection, FieldNode):
                out.setdefault(selection.alias.value if selection.alias else selection.name.value, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition.name.value if selection.type_condition else None
                if condition is None or condition == type_.name or any(i.name == condition for i in type_.interfaces):
                    collect(selection.selection_set)
            else:
                raise BulkQueryInvalid("Fragments spreads are not supported in bulk queries by this emulator")

    collect(selection_set)
    return out


def _merged(nodes: list[FieldNode]) -> SelectionSetNode | None:
    selections = [s for node in nodes if node.selection_set for s in node.selection_set.selections]
    return SelectionSetNode(selections=tuple(selections)) if selections else None


def _node_selection(conn_type: GraphQLObjectType, selection: SelectionSetNode | None) -> SelectionSetNode | None:
    """The selection on a connection's nodes, from `nodes { }` or `edges { node { } }`."""
    parts: list[FieldNode] = []
    for nodes in _fields(conn_type, selection).values():
        name = nodes[0].name.value
        if name == "nodes":
            parts.extend(nodes)
        elif name == "edges":
            edge_type = get_named_type(conn_type.fields["edges"].type)
            for edge_nodes in _fields(edge_type, _merged(nodes)).values():
                if edge_nodes[0].name.value == "node":
                    parts.extend(edge_nodes)
    return _merged(parts)


def _checked_bulk_query(query: str, schema: GraphQLSchema) -> DocumentNode:
    try:
        document = parse(query)
    except GraphQLError as error:
        raise BulkQueryInvalid(f"Invalid bulk query: {error.message}") from None
    errors = validate(schema, document)
    if errors:
        raise BulkQueryInvalid(f"Invalid bulk query: {errors[0].message}")
    operation = get_operation_ast(document)
    if operation is None or operation.operation is not OperationType.QUERY:
        raise BulkQueryInvalid("Invalid bulk query: a bulk query must be one query operation")
    if any(d for d in document.definitions if d is not operation):
        raise BulkQueryInvalid("Invalid bulk query: fragments and several operations are not supported")
    root = schema.query_type
    connections = 0

    def walk(type_: Any, selection: SelectionSetNode | None, chain: int) -> None:
        nonlocal connections
        if selection is None or is_leaf_type(type_):
            return
        concrete = [type_] if not is_abstract_type(type_) else list(schema.get_possible_types(type_))
        for object_type in concrete:
            for nodes in _fields(object_type, selection).values():
                name = nodes[0].name.value
                if name.startswith("__"):
                    continue
                named = get_named_type(object_type.fields[name].type)
                if _is_connection(named):
                    connections += 1
                    if chain + 1 > MAX_CONNECTION_CHAIN:
                        raise BulkQueryInvalid(
                            f"Bulk queries cannot contain connections with a nesting depth greater than {MAX_CONNECTION_CHAIN}.")
                    walk(get_named_type(named.fields["nodes"].type), _node_selection(named, _merged(nodes)), chain + 1)
                else:
                    walk(named, _merged(nodes), chain)

    for nodes in _fields(root, operation.selection_set).values():
        name = nodes[0].name.value
        if name in ("node", "nodes"):
            raise BulkQueryInvalid("Bulk queries cannot use the top-level node or nodes fields.")
        if not _is_connection(get_named_type(root.fields[name].type)):
            raise BulkQueryInvalid(f"Bulk queries must select connections at the top level; {name} is not one.")
    walk(root, operation.selection_set, 0)
    if connections == 0:
        raise BulkQueryInvalid("Bulk queries must contain at least one connection.")
    if connections > MAX_CONNECTIONS:
        raise BulkQueryInvalid(f"Bulk queries cannot contain more than {MAX_CONNECTIONS} connections.")
    return document


def _run_bulk_query(document: DocumentNode, data: ShopData, schema: GraphQLSchema) -> Iterator[tuple[dict, bool]]:
    """Every object of the query as (line, is_root), parents before their children (grouped order)."""
    from shared.local.shopify_emulator import _Request  # per-request state the resolvers expect

    operation = get_operation_ast(document)
    variables: dict[str, Any] = {}
    root = data.root(_Request())
    query_root = schema.query_type

    def each_node(resolver: Callable[..., dict], args: dict[str, Any]) -> Iterator[dict]:
        after = None
        paging = {k: v for k, v in args.items() if k not in ("first", "last", "after", "before")}
        while True:
            page = resolver(**paging, first=_PAGE, after=after)
            yield from page["nodes"]
            if not page["pageInfo"]["hasNextPage"]:
                return
            after = page["pageInfo"]["endCursor"]

    def concrete(type_: Any, value: dict) -> GraphQLObjectType:
        if is_abstract_type(type_):
            return schema.get_type(value["__typename"])
        return type_

    def resolve(type_: GraphQLObjectType, selection: SelectionSetNode | None, value: dict,
                children: list[tuple[Any, SelectionSetNode | None, Callable, dict]]) -> dict:
        out: dict[str, Any] = {}
        for key, nodes in _fields(type_, selection).items():
            name = nodes[0].name.value
            if name == "__typename":
                out[key] = type_.name
                continue
            field_def = type_.fields[name]
            named = get_named_type(field_def.type)
            args = get_argument_values(field_def, nodes[0], variables)
            raw = value.get(name)
            if _is_connection(named):
                children.append((named, _node_selection(named, _merged(nodes)), raw, args))
                continue
            resolved = raw(**args) if callable(raw) else raw
            if resolved is None or is_leaf_type(named):
                out[key] = resolved
            elif isinstance(resolved, list):
                out[key] = [resolve(concrete(named, item), _merged(nodes), item, children) for item in resolved]
            else:
                out[key] = resolve(concrete(named, resolved), _merged(nodes), resolved, children)
        return out

    def lines(type_: Any, selection: SelectionSetNode | None, value: dict, parent_id: str | None) -> Iterator[tuple[dict, bool]]:
        children: list[tuple[Any, SelectionSetNode | None, Callable, dict]] = []
        line = resolve(concrete(type_, value), selection, value, children)
        if parent_id is not None:
            line["__parentId"] = parent_id
        yield line, parent_id is None
        for conn_type, node_selection, resolver, args in children:
            node_type = get_named_type(conn_type.fields["nodes"].type)
            for child in each_node(resolver, args):
                yield from lines(node_type, node_selection, child, value["id"])

    for nodes in _fields(query_root, operation.selection_set).values():
        field_def = query_root.fields[nodes[0].name.value]
        conn_type = get_named_type(field_def.type)
        args = get_argument_values(field_def, nodes[0], variables)
        node_type = get_named_type(conn_type.fields["nodes"].type)
        selection = _node_selection(conn_type, _merged(nodes))
        for value in each_node(root[nodes[0].name.value], args):
            yield from lines(node_type, selection, value, None)
