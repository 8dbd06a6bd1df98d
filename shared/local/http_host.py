"""A local stand-in for the Functions host's HTTP side, on 127.0.0.1.

It serves every HTTP trigger of an app from its metadata (route templates, methods, auth
levels), hands the user's functions real `azure.functions.HttpRequest` objects, and serves
the Durable extension's HTTP API backed by a `LocalDurableRunner`, so functions that take a
durable client binding (`client.start_new`, `get_status`, `create_check_status_response`)
work unmodified. `invoke_timer` fires a timer-triggered function on demand.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import json
import logging
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import azure.functions as func
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType
from azure.functions.decorators.function_app import FunctionRegister
from azure.functions.timer import TimerRequest  # func.TimerRequest is only the abstract base

from shared.local.durable import (
    InstanceAlreadyExistsError,
    InstanceStatus,
    LocalDurableRunner,
    RuntimeStatus,
    parse_timestamp,
)
from shared.local.function_index import (
    DurableClientBinding,
    FunctionIndex,
    HttpEntry,
    UnknownFunctionError,
)

__all__ = ["LocalFunctionsHost", "RouteTemplate"]

log = logging.getLogger(__name__)

DEFAULT_ROUTE_PREFIX = "api"
DEFAULT_TASK_HUB = "LocalTaskHub"
WEBHOOK_PATH = "/runtime/webhooks/durabletask"  # public Durable HTTP API (needs a key)
RPC_PATH = "/durabletask"  # what `rpcBaseUrl` points at; the SDK's client calls this
_INSTANCE_ID_PLACEHOLDER = "INSTANCEID"


# ----------------------------------------------------------------------------------------
# Route templates, as the Functions host (ASP.NET routing) understands them


def _is_int(value: str, bits: int) -> bool:
    if not re.fullmatch(r"[+-]?\d+", value):
        return False
    return -(2 ** (bits - 1)) <= int(value) < 2 ** (bits - 1)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


_CONSTRAINTS: dict[str, Callable[[str, list[str]], bool]] = {
    "int": lambda v, a: _is_int(v, 32),
    "long": lambda v, a: _is_int(v, 64),
    "bool": lambda v, a: v.lower() in ("true", "false"),
    "guid": lambda v, a: _is_guid(v),
    "datetime": lambda v, a: _is_datetime(v),
    "decimal": lambda v, a: _is_number(v),
    "double": lambda v, a: _is_number(v),
    "float": lambda v, a: _is_number(v),
    "alpha": lambda v, a: v.isascii() and v.isalpha(),
    "minlength": lambda v, a: len(v) >= int(a[0]),
    "maxlength": lambda v, a: len(v) <= int(a[0]),
    "length": lambda v, a: len(v) == int(a[0]) if len(a) == 1 else int(a[0]) <= len(v) <= int(a[1]),
    "min": lambda v, a: _is_int(v, 64) and int(v) >= int(a[0]),
    "max": lambda v, a: _is_int(v, 64) and int(v) <= int(a[0]),
    "range": lambda v, a: _is_int(v, 64) and int(a[0]) <= int(v) <= int(a[1]),
    # ASP.NET uses Regex.IsMatch (a search) with IgnoreCase; anchors are the author's job.
    "regex": lambda v, a: re.search(a[0], v, re.IGNORECASE) is not None,
}


@dataclass(frozen=True)
class _Parameter:
    name: str
    constraints: tuple[tuple[str, tuple[str, ...]], ...] = ()
    optional: bool = False
    default: str | None = None
    catch_all: bool = False

    def accepts(self, value: str) -> bool:
        return all(_CONSTRAINTS[name](value, list(args)) for name, args in self.constraints)


_Part = str | _Parameter


class RouteTemplate:
    """A compiled route template: literals, `{name}`, `{name:int}`, `{name?}`, `{name=x}`, `{*rest}`."""

    def __init__(self, template: str) -> None:
        self.template = template.strip("/")
        self.segments: list[list[_Part]] = (
            [_parse_segment(s) for s in self.template.split("/")] if self.template else []
        )
        self.parameters: list[_Parameter] = [p for seg in self.segments for p in seg if isinstance(p, _Parameter)]
        self._groups: dict[str, _Parameter] = {}
        self._regex = re.compile(self._build_regex(), re.IGNORECASE)

    def _build_regex(self) -> str:
        pattern = "^"
        for segment in self.segments:
            only = segment[0] if len(segment) == 1 else None
            if isinstance(only, _Parameter) and (only.optional or only.catch_all):
                # An optional or catch-all segment may be absent together with its slash.
                pattern += f"(?:/{self._group(only, whole_segment=True)})?"
                continue
            pattern += "/"
            for part in segment:
                if isinstance(part, str):
                    pattern += re.escape(part)
                else:
                    pattern += self._group(part, whole_segment=len(segment) == 1)
        return pattern + "/?$"

    def _group(self, parameter: _Parameter, whole_segment: bool) -> str:
        group = f"g{len(self._groups)}"
        self._groups[group] = parameter
        body = ".*" if parameter.catch_all else ("[^/]+" if whole_segment else "[^/]+?")
        return f"(?P<{group}>{body})"

    def match(self, path: str) -> dict[str, str] | None:
        """Route parameters if `path` (already percent-decoded) matches, else None."""
        found = self._regex.match("/" + path.strip("/"))
        if found is None:
            return None
        values: dict[str, str] = {}
        for group, parameter in self._groups.items():
            value = found.group(group)
            if value is None or value == "":
                if parameter.default is not None:
                    values[parameter.name] = parameter.default
                elif not (parameter.optional or parameter.catch_all):
                    return None
                continue
            if not parameter.accepts(value):
                return None
            values[parameter.name] = value
        return values

    def precedence(self) -> tuple[int, ...]:
        """Lower sorts first: literal segments beat constrained parameters beat plain ones."""
        ranks = []
        for segment in self.segments:
            params = [p for p in segment if isinstance(p, _Parameter)]
            if not params:
                ranks.append(0)
            elif len(segment) > 1:
                ranks.append(1)
            elif params[0].catch_all:
                ranks.append(5)
            elif params[0].optional:
                ranks.append(4)
            else:
                ranks.append(2 if params[0].constraints else 3)
        return tuple(ranks)

    def expand(self, values: Mapping[str, Any]) -> str:
        """The path for these parameter values (for building URLs)."""
        pieces = []
        for segment in self.segments:
            text = ""
            for part in segment:
                if isinstance(part, str):
                    text += part
                elif part.name in values:
                    text += quote(str(values[part.name]), safe="" if not part.catch_all else "/")
                elif not (part.optional or part.catch_all or part.default is not None):
                    raise KeyError(f"route parameter '{part.name}' is required by '{self.template}'")
            if text:
                pieces.append(text)
        return "/".join(pieces)


def _parse_segment(segment: str) -> list[_Part]:
    parts: list[_Part] = []
    literal = ""
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "{" and segment.startswith("{{", i):
            literal += "{"
            i += 2
        elif char == "}" and segment.startswith("}}", i):
            literal += "}"
            i += 2
        elif char == "{":
            end = _closing_brace(segment, i)
            if literal:
                parts.append(literal)
                literal = ""
            parts.append(_parse_parameter(segment[i + 1 : end]))
            i = end + 1
        else:
            literal += char
            i += 1
    if literal:
        parts.append(literal)
    return parts


def _closing_brace(segment: str, start: int) -> int:
    depth = 0  # braces inside a constraint's parentheses (a regex) do not close the parameter
    for index in range(start + 1, len(segment)):
        char = segment[index]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "}" and depth == 0:
            return index
    raise ValueError(f"unclosed '{{' in route segment {segment!r}")


def _parse_parameter(text: str) -> _Parameter:
    catch_all = text.startswith("*")
    text = text.lstrip("*")
    end = 0
    while end < len(text) and text[end] not in ":?=":
        end += 1
    name, rest = text[:end], text[end:]
    constraints: list[tuple[str, tuple[str, ...]]] = []
    optional, default = False, None
    while rest:
        if rest[0] == "?":
            optional, rest = True, rest[1:]
        elif rest[0] == "=":
            default, optional, rest = rest[1:], True, ""
        else:  # ":constraint" or ":constraint(args)"
            end = 1
            while end < len(rest) and rest[end] not in "(:?=":
                end += 1
            constraint = rest[1:end].lower()
            args: tuple[str, ...] = ()
            if end < len(rest) and rest[end] == "(":
                close = _matching_paren(rest, end)
                inner = rest[end + 1 : close]
                if constraint == "regex":  # route templates escape a regex's braces as {{ and }}
                    args = (inner.replace("{{", "{").replace("}}", "}"),)
                else:
                    args = tuple(a.strip() for a in inner.split(","))
                end = close + 1
            if constraint not in _CONSTRAINTS:
                raise ValueError(f"unsupported route constraint '{constraint}' on parameter '{name}'")
            constraints.append((constraint, args))
            rest = rest[end:]
    return _Parameter(name, tuple(constraints), optional, default, catch_all)


def _matching_paren(text: str, start: int) -> int:
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "(":
            depth += 1
        elif text[index] == ")":
            depth -= 1
            if depth == 0:
                return index
    raise ValueError(f"unbalanced parentheses in route constraint {text!r}")


@dataclass(frozen=True)
class _Route:
    entry: HttpEntry
    template: RouteTemplate


# ----------------------------------------------------------------------------------------
# Wire-level responses and the worker's event loop


@dataclass
class _WireResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @classmethod
    def json(cls, status: int, payload: Any, headers: Sequence[tuple[str, str]] = ()) -> _WireResponse:
        body = json.dumps(payload).encode("utf-8")
        return cls(status, [("Content-Type", "application/json; charset=utf-8"), *headers], body)

    @classmethod
    def text(cls, status: int, text: str) -> _WireResponse:
        return cls(status, [("Content-Type", "text/plain; charset=utf-8")], text.encode("utf-8"))


class _WorkerLoop:
    """One long-lived event loop for async functions, shared by every host in the process.

    The Python worker runs all async functions on a single loop, and the Durable SDK caches
    one aiohttp session in a module global bound to the loop that created it, so a fresh
    loop per call (asyncio.run) breaks the second client call.
    """

    _shared: _WorkerLoop | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="functions-worker-loop", daemon=True).start()

    @classmethod
    def shared(cls) -> _WorkerLoop:
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def run(self, awaitable: Any) -> Any:
        async def wait() -> Any:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wait(), self._loop).result()

    def close_durable_client_session(self) -> None:
        """Close the SDK's cached aiohttp session (it opens a new one on next use)."""
        from azure.durable_functions.models.utils import http_utils

        session = getattr(http_utils, "_client_session", None)
        if session is not None and not session.closed:
            self.run(session.close())


class _InvocationContext(func.Context):
    """The `context` argument a function may declare."""

    def __init__(self, function_name: str) -> None:
        self._invocation_id = str(uuid.uuid4())
        self._function_name = function_name
        self._local = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return os.getcwd()

    @property
    def trace_context(self) -> Any:
        return None

    @property
    def retry_context(self) -> Any:
        return None


def _call_user_function(fn: Callable[..., Any], function_name: str, kwargs: dict[str, Any]) -> Any:
    if "context" not in kwargs and "context" in inspect.signature(fn).parameters:
        kwargs["context"] = _InvocationContext(function_name)
    result = fn(**kwargs)
    if inspect.isawaitable(result):
        result = _WorkerLoop.shared().run(result)
    return result


def _to_wire(result: Any) -> _WireResponse:
    """Convert what an HTTP function returned, like the worker's `$return` http output."""
    if isinstance(result, func.HttpResponse):
        headers = [(k, v) for k, v in result.headers.items()]
        if not any(k.lower() == "content-type" for k, _ in headers):
            mimetype = result.mimetype
            textual = mimetype.startswith("text/") or "json" in mimetype or "xml" in mimetype
            headers.append(("Content-Type", f"{mimetype}; charset={result.charset}" if textual else mimetype))
        return _WireResponse(result.status_code, headers, result.get_body() or b"")
    if result is None:
        return _WireResponse(204)
    if isinstance(result, str):
        return _WireResponse.text(200, result)
    if isinstance(result, (bytes, bytearray)):
        return _WireResponse(200, [("Content-Type", "application/octet-stream")], bytes(result))
    raise TypeError(f"an HTTP function must return func.HttpResponse, str or bytes, not {type(result).__name__}")


# ----------------------------------------------------------------------------------------
# The Durable extension's HTTP API, backed by the local runner


class _DurableHttpApi:
    """`/runtime/webhooks/durabletask/...` and the `rpcBaseUrl` routes the SDK's client calls."""

    _START = RouteTemplate("orchestrators/{functionName}/{instanceId?}")
    _RAISE_EVENT = RouteTemplate("instances/{instanceId}/raiseEvent/{eventName}")
    _INSTANCES = RouteTemplate("instances/{instanceId?}/{operation?}")
    _ENTITIES = RouteTemplate("entities/{*rest}")

    def __init__(self, runner: LocalDurableRunner, management_links: Callable[[str], dict[str, str]]) -> None:
        self._runner = runner
        self._links = management_links

    def handle(self, method: str, path: str, query: Mapping[str, str], body: bytes) -> _WireResponse:
        if (values := self._START.match(path)) is not None:
            if method != "POST":
                return _WireResponse(404)
            return self._start(values["functionName"], values.get("instanceId"), body)
        if self._RAISE_EVENT.match(path) is not None or self._ENTITIES.match(path) is not None:
            return _WireResponse.json(501, {"Message": "External events and entities are not supported locally."})
        if (values := self._INSTANCES.match(path)) is None:
            return _WireResponse(404)
        instance_id, operation = values.get("instanceId"), values.get("operation")
        if instance_id is None:
            if method == "GET":
                return self._list(query)
            if method == "DELETE":
                return self._purge_where(query)
            return _WireResponse(404)
        if operation is None:
            if method == "GET":
                return self._status(instance_id, query)
            if method == "DELETE":
                return self._purge(instance_id)
            return _WireResponse(404)
        if method != "POST":
            return _WireResponse(404)
        if operation.lower() == "terminate":
            return self._terminate(instance_id, query.get("reason", ""))
        return _WireResponse.json(501, {"Message": f"'{operation}' is not supported by the local durable runner."})

    def _start(self, function_name: str, instance_id: str | None, body: bytes) -> _WireResponse:
        try:
            serialized = _serialized_input(body)
        except json.JSONDecodeError as exc:
            return _WireResponse.json(400, {"Message": "Invalid JSON content", "ExceptionMessage": str(exc)})
        try:
            instance_id = self._runner.start_new_serialized(function_name, instance_id or None, serialized)
        except (UnknownFunctionError, ValueError) as exc:
            return _WireResponse.json(
                400, {"Message": "One or more of the arguments submitted is incorrect", "ExceptionMessage": str(exc)}
            )
        except InstanceAlreadyExistsError as exc:
            return _WireResponse.json(409, {"Message": str(exc)})
        self._runner.start_in_background(instance_id)
        links = self._links(instance_id)
        return _WireResponse.json(202, links, [("Location", links["statusQueryGetUri"]), ("Retry-After", "10")])

    def _status(self, instance_id: str, query: Mapping[str, str]) -> _WireResponse:
        show_history = _flag(query, "showHistory", False)
        status = self._runner.get_status(instance_id, include_history=show_history)
        if status is None:
            return _WireResponse(404)
        payload = _status_payload(
            status,
            show_input=_flag(query, "showInput", True),
            show_history_output=_flag(query, "showHistoryOutput", False),
        )
        if status.runtime_status in (RuntimeStatus.Pending, RuntimeStatus.Running):
            return _WireResponse.json(
                202, payload, [("Location", self._links(instance_id)["statusQueryGetUri"]), ("Retry-After", "5")]
            )
        failed = status.runtime_status is RuntimeStatus.Failed
        return _WireResponse.json(
            500 if failed and _flag(query, "returnInternalServerErrorOnFailure", False) else 200, payload
        )

    def _list(self, query: Mapping[str, str]) -> _WireResponse:
        statuses = [
            RuntimeStatus(s) for s in query.get("runtimeStatus", "").split(",") if s in RuntimeStatus.__members__
        ]
        found = self._runner.list_instances(
            statuses=statuses or None,
            instance_id_prefix=query.get("instanceIdPrefix"),
            created_from=_query_time(query, "createdTimeFrom"),
            created_to=_query_time(query, "createdTimeTo"),
        )
        show_input = _flag(query, "showInput", True)
        return _WireResponse.json(200, [_status_payload(s, show_input=show_input) for s in found])

    def _purge(self, instance_id: str) -> _WireResponse:
        status = self._runner.get_status(instance_id)
        if status is None:
            return _WireResponse(404)
        if not status.is_terminal:
            return _WireResponse.json(
                412,
                f"Only orchestrations in a terminal state can be purged, but the orchestration with instance ID "
                f"{instance_id} has status {status.runtime_status.value}",
            )
        return _WireResponse.json(200, {"instancesDeleted": int(self._runner.purge(instance_id))})

    def _purge_where(self, query: Mapping[str, str]) -> _WireResponse:
        created_from = _query_time(query, "createdTimeFrom")
        if created_from is None:
            return _WireResponse.json(400, "Please provide value for 'createdTimeFrom' parameter.")
        statuses = [
            RuntimeStatus(s) for s in query.get("runtimeStatus", "").split(",") if s in RuntimeStatus.__members__
        ]
        deleted = 0
        for status in self._runner.list_instances(
            statuses=statuses or None, created_from=created_from, created_to=_query_time(query, "createdTimeTo")
        ):
            if status.is_terminal:
                deleted += int(self._runner.purge(status.instance_id))
        return _WireResponse(404) if deleted == 0 else _WireResponse.json(200, {"instancesDeleted": deleted})

    def _terminate(self, instance_id: str, reason: str) -> _WireResponse:
        status = self._runner.get_status(instance_id)
        if status is None:
            return _WireResponse(404)
        if status.is_terminal:
            return _WireResponse(410)
        self._runner.terminate(instance_id, reason)
        return _WireResponse(202)


def _serialized_input(body: bytes) -> str | None:
    """The orchestration input as the JSON text `context.get_input()` will decode.

    The Python SDK posts `json=df_dumps(input)`, i.e. a JSON string whose content is the JSON
    text; the extension unwraps that string when it builds the orchestrator's context. A body
    that is plain JSON (from curl) is the input itself.
    """
    if not body.strip():
        return None
    parsed = json.loads(body)
    if isinstance(parsed, str):
        try:
            json.loads(parsed)
            return parsed
        except json.JSONDecodeError:
            return json.dumps(parsed)
    return json.dumps(parsed)


def _flag(query: Mapping[str, str], name: str, default: bool) -> bool:
    value = query.get(name)
    return default if value is None else value.strip().lower() == "true"


def _query_time(query: Mapping[str, str], name: str) -> datetime | None:
    value = query.get(name)
    if not value:
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _api_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status_payload(
    status: InstanceStatus, *, show_input: bool = True, show_history_output: bool = False
) -> dict[str, Any]:
    """The status JSON of the extension's HTTP API (`DurableOrchestrationStatus.from_json` reads it)."""
    payload: dict[str, Any] = {
        "name": status.name,
        "instanceId": status.instance_id,
        "runtimeStatus": status.runtime_status.value,
        "input": status.input if show_input else None,
        "customStatus": status.custom_status,
        "output": status.output,
        "createdTime": _api_time(status.created_time),
        "lastUpdatedTime": _api_time(status.last_updated_time),
    }
    if status.history is not None:
        payload["historyEvents"] = _api_history(status.history, show_history_output)
    return payload


_HIDDEN_HISTORY = {
    HistoryEventType.ORCHESTRATOR_STARTED,
    HistoryEventType.ORCHESTRATOR_COMPLETED,
    HistoryEventType.TASK_SCHEDULED,
    HistoryEventType.SUB_ORCHESTRATION_INSTANCE_CREATED,
}


def _api_history(events: Iterable[Mapping[str, Any]], show_output: bool) -> list[dict[str, Any]]:
    """History as the status API shows it: scheduling folded into each completion."""
    events = list(events)
    scheduled = {
        e["EventId"]: e
        for e in events
        if e["EventType"] in (HistoryEventType.TASK_SCHEDULED, HistoryEventType.SUB_ORCHESTRATION_INSTANCE_CREATED)
    }
    shown = []
    for event in events:
        kind = HistoryEventType(event["EventType"])
        if kind in _HIDDEN_HISTORY:
            continue
        item: dict[str, Any] = {"EventType": kind.name.title().replace("_", ""), "Timestamp": event["Timestamp"]}
        if kind is HistoryEventType.EXECUTION_STARTED:
            item["FunctionName"] = event.get("Name")
            if show_output:
                item["Input"] = _json_or_text(event.get("Input"))
        elif "TaskScheduledId" in event:
            origin = scheduled.get(event["TaskScheduledId"], {})
            item["FunctionName"] = origin.get("Name")
            item["ScheduledTime"] = origin.get("Timestamp")
            if origin.get("InstanceId"):
                item["InstanceId"] = origin["InstanceId"]
            if "Reason" in event and event.get("Reason") is not None:
                item["Reason"], item["Details"] = event["Reason"], event.get("Details")
            if show_output and "Result" in event:
                item["Result"] = _json_or_text(event["Result"])
        elif kind in (HistoryEventType.TIMER_CREATED, HistoryEventType.TIMER_FIRED):
            item["FireAt"] = event.get("FireAt")
        elif kind is HistoryEventType.EXECUTION_COMPLETED:
            item["OrchestrationStatus"] = event.get("OrchestrationStatus")
            if show_output:
                item["Result"] = _json_or_text(event.get("Result"))
            if event.get("FailureDetails"):
                item["FailureDetails"] = event["FailureDetails"]
        elif kind is HistoryEventType.EXECUTION_TERMINATED:
            item["Input"] = _json_or_text(event.get("Input"))
        shown.append(item)
    return shown


def _json_or_text(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except (TypeError, json.JSONDecodeError):
        return value


# ----------------------------------------------------------------------------------------
# host.json


@dataclass(frozen=True)
class _HostSettings:
    route_prefix: str = DEFAULT_ROUTE_PREFIX
    hub_name: str | None = None


def _read_host_json(path: str | os.PathLike[str] | None) -> _HostSettings:
    if path is None:
        return _HostSettings()
    document = json.loads(Path(path).read_text(encoding="utf-8"))
    extensions = document.get("extensions", {})
    prefix = extensions.get("http", {}).get("routePrefix", DEFAULT_ROUTE_PREFIX)
    hub = extensions.get("durableTask", {}).get("hubName")
    return _HostSettings(route_prefix=(prefix or "").strip("/"), hub_name=_resolve_setting(hub))


def _resolve_setting(value: str | None) -> str | None:
    # host.json may reference an app setting as %NAME%.
    if value and value.startswith("%") and value.endswith("%"):
        return os.environ.get(value.strip("%")) or None
    return value or None


# ----------------------------------------------------------------------------------------
# The host


class LocalFunctionsHost:
    """Serves an app's HTTP triggers and the Durable HTTP API on 127.0.0.1.

    Keys: ANONYMOUS functions are open; FUNCTION needs one of `function_keys` or the
    `master_key`, ADMIN needs the `master_key`, passed as `x-functions-key` or `?code=`.
    """

    def __init__(
        self,
        app: FunctionRegister | FunctionIndex,
        runner: LocalDurableRunner | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        host_json: str | os.PathLike[str] | None = None,
        function_keys: Iterable[str] = (),
        master_key: str | None = None,
        task_hub: str | None = None,
    ) -> None:
        self.index = app if isinstance(app, FunctionIndex) else FunctionIndex.of(app)
        self.runner = runner
        settings = _read_host_json(host_json)
        self.route_prefix = settings.route_prefix
        self.task_hub = task_hub or settings.hub_name or DEFAULT_TASK_HUB
        self._function_keys = tuple(k for k in function_keys if k)
        self._master_key = master_key or None
        self._bind = (host, port)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        routes = [_Route(e, RouteTemplate(self._full_route(e.route))) for e in self.index.http.values()]
        self._routes = sorted(routes, key=lambda r: r.template.precedence())
        self._durable_api = _DurableHttpApi(runner, self._management_links) if runner is not None else None

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> LocalFunctionsHost:
        if self._server is not None:
            return self
        handler = type("_BoundHandler", (_RequestHandler,), {"host": self})
        self._server = ThreadingHTTPServer(self._bind, handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how long stop() waits for the loop to notice
            name="local-functions-host",
            daemon=True,
        )
        self._thread.start()
        log.info("local Functions host listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        _WorkerLoop.shared().close_durable_client_session()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server, self._thread = None, None

    def __enter__(self) -> LocalFunctionsHost:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the host is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._bind[0]}:{self.port}"

    def url_for(self, function_name: str, **route_params: Any) -> str:
        """The URL of an HTTP function, filling its route template with `route_params`."""
        entry = self.index.http[function_name]
        return f"{self.base_url}/{RouteTemplate(self._full_route(entry.route)).expand(route_params)}"

    # -- Durable client binding -------------------------------------------------------

    def durable_client_binding(self, binding: DurableClientBinding | None = None) -> str:
        """The client binding JSON the SDK's DurableOrchestrationClient parses, pointing here."""
        hub = (binding.task_hub if binding else None) or self.task_hub
        webhook = self.base_url + WEBHOOK_PATH
        query = self._webhook_query(hub, binding.connection_name if binding else None)
        orchestrators = f"{webhook}/orchestrators/{{functionName}}[/{{instanceId}}]"
        return json.dumps(
            {
                "taskHubName": hub,
                "creationUrls": {
                    "createNewInstancePostUri": f"{orchestrators}?{query}",
                    "createAndWaitOnNewInstancePostUri": (
                        f"{orchestrators}?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&{query}"
                    ),
                },
                "managementUrls": self._management_links(_INSTANCE_ID_PLACEHOLDER, hub=hub, query=query),
                "baseUrl": webhook,
                "requiredQueryStringParameters": query,
                "rpcBaseUrl": f"{self.base_url}{RPC_PATH}/",
                "httpBaseUrl": "",
                "maxGrpcMessageSizeInBytes": 0,
                "grpcHttpClientTimeout": "00:01:40",
            }
        )

    def _webhook_query(self, hub: str, connection: str | None) -> str:
        query = f"taskHub={quote(hub)}&connection={quote(connection or 'Storage')}"
        system_key = self._master_key or (self._function_keys[0] if self._function_keys else None)
        return f"{query}&code={quote(system_key)}" if system_key else query

    def _management_links(
        self, instance_id: str, *, hub: str | None = None, query: str | None = None
    ) -> dict[str, str]:
        query = query or self._webhook_query(hub or self.task_hub, None)
        instance = f"{self.base_url}{WEBHOOK_PATH}/instances/{instance_id}"
        return {
            "id": instance_id,
            "statusQueryGetUri": f"{instance}?{query}",
            "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
            "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
            "rewindPostUri": f"{instance}/rewind?reason={{text}}&{query}",
            "purgeHistoryDeleteUri": f"{instance}?{query}",
            "restartPostUri": f"{instance}/restart?{query}",
            "suspendPostUri": f"{instance}/suspend?reason={{text}}&{query}",
            "resumePostUri": f"{instance}/resume?reason={{text}}&{query}",
        }

    # -- timers -----------------------------------------------------------------------

    def invoke_timer(self, function_name: str, *, past_due: bool = False) -> Any:
        """Run a timer-triggered function now, with its durable client binding if it has one."""
        entry = self.index.timer(function_name)
        kwargs: dict[str, Any] = {entry.arg_name: TimerRequest(past_due=past_due)}
        if entry.durable_client is not None:
            if self._server is None:
                raise RuntimeError("start the host first: the durable client binding points at its HTTP API")
            kwargs[entry.durable_client.arg_name] = self.durable_client_binding(entry.durable_client)
        return _call_user_function(entry.fn, entry.name, kwargs)

    # -- request handling -------------------------------------------------------------

    def _full_route(self, route: str) -> str:
        return "/".join(p for p in (self.route_prefix, route.strip("/")) if p)

    def _handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> _WireResponse:
        """Answer one request (`target` is the path and query as sent)."""
        method = method.upper()
        split = urlsplit(target)
        path = unquote(split.path)
        params = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        lowered = {k.lower(): v for k, v in headers.items()}

        for base, needs_key in ((WEBHOOK_PATH, True), (RPC_PATH, False)):
            if path == base or path.startswith(base + "/"):
                if self._durable_api is None:
                    return _WireResponse.json(503, {"Message": "This host has no LocalDurableRunner."})
                if (
                    needs_key
                    and (self._function_keys or self._master_key)
                    and not self._key_ok(func.AuthLevel.FUNCTION, lowered, params)
                ):
                    return _WireResponse(401)
                return self._durable_api.handle(method, path[len(base) :], params, body)

        candidates = [(route, values) for route in self._routes if (values := route.template.match(path)) is not None]
        if not candidates:
            return _WireResponse(404)
        chosen = next(((r, v) for r, v in candidates if r.entry.allows(method)), None)
        if chosen is None:
            allowed = sorted({m for r, _ in candidates for m in r.entry.methods})
            return _WireResponse(405, [("Allow", ", ".join(allowed))])
        route, route_params = chosen
        if not self._key_ok(route.entry.auth_level, lowered, params):
            return _WireResponse(401)
        host_header = lowered.get("host") or f"{self._bind[0]}:{self.port}"
        request = func.HttpRequest(
            method,
            f"http://{host_header}{target}",
            headers=dict(headers),
            params=params,
            route_params=route_params,
            body=body,
        )
        return self._invoke_http(route.entry, request)

    def _invoke_http(self, entry: HttpEntry, request: func.HttpRequest) -> _WireResponse:
        kwargs: dict[str, Any] = {entry.request_arg: request}
        if entry.durable_client is not None:
            kwargs[entry.durable_client.arg_name] = self.durable_client_binding(entry.durable_client)
        try:
            return _to_wire(_call_user_function(entry.fn, entry.name, kwargs))
        except Exception as exc:
            log.exception("Executed 'Functions.%s' (Failed)", entry.name)
            return _WireResponse.text(500, f"Exception while executing function: Functions.{entry.name}: {exc}")

    def _key_ok(self, level: func.AuthLevel, headers: Mapping[str, str], params: Mapping[str, str]) -> bool:
        if level is func.AuthLevel.ANONYMOUS:
            return True
        key = headers.get("x-functions-key") or params.get("code")
        if not key:
            return False
        accepted = [self._master_key] if level is func.AuthLevel.ADMIN else [*self._function_keys, self._master_key]
        return any(k and hmac.compare_digest(key.encode(), k.encode()) for k in accepted)


class _RequestHandler(BaseHTTPRequestHandler):
    """Thin adapter from http.server to `LocalFunctionsHost._handle`."""

    host: LocalFunctionsHost
    server_version = "LocalFunctionsHost/1.0"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            response = self.host._handle(self.command, self.path, dict(self.headers.items()), body)
        except Exception as exc:  # never leave a client hanging on a host bug
            log.exception("local host failed on %s %s", self.command, self.path)
            response = _WireResponse.text(500, f"local host error: {exc}")
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)
