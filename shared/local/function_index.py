"""Typed view of a Functions app's metadata: what the local host and runner can invoke.

Everything here is read from the SDK's own indexing (`app.get_functions()` and each
Function's `get_function_json()`), the same metadata the Azure worker sends to the host,
so the local stand-ins never hard-code function names, routes or binding names.
"""

from __future__ import annotations

import inspect
import json
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from azure.functions.decorators.function_app import Function, FunctionRegister

ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
HTTP_TRIGGER = "httpTrigger"
TIMER_TRIGGER = "timerTrigger"
DURABLE_CLIENT = "durableClient"


@dataclass(frozen=True)
class DurableClientBinding:
    """A `durable_client_input` binding: the parameter that receives the client JSON."""

    arg_name: str
    task_hub: str | None = None
    connection_name: str | None = None


@dataclass(frozen=True)
class OrchestratorEntry:
    """An orchestrator function.

    `entrypoint` is what the worker calls (the SDK's `Orchestrator.create` handle: context
    JSON in, state JSON out); `generator_function` is the user's raw generator.
    """

    name: str
    function_name: str
    context_arg: str
    generator_function: Callable[..., Any]
    entrypoint: Callable[[str], str]


@dataclass(frozen=True)
class ActivityEntry:
    """An activity function; `fn` is the user's callable (sync or `async def`)."""

    name: str
    function_name: str
    input_arg: str
    fn: Callable[..., Any]

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.fn)


@dataclass(frozen=True)
class HttpEntry:
    """An HTTP-triggered function. An empty `methods` tuple means every method."""

    name: str
    route: str
    methods: tuple[str, ...]
    auth_level: func.AuthLevel
    request_arg: str
    fn: Callable[..., Any]
    durable_client: DurableClientBinding | None

    @property
    def takes_durable_client(self) -> bool:
        return self.durable_client is not None

    def allows(self, method: str) -> bool:
        return not self.methods or method.upper() in self.methods


@dataclass(frozen=True)
class TimerEntry:
    """A timer-triggered function (NCRONTAB schedule, six fields, UTC)."""

    name: str
    schedule: str
    arg_name: str
    run_on_startup: bool | None
    use_monitor: bool | None
    fn: Callable[..., Any]
    durable_client: DurableClientBinding | None

    @property
    def takes_durable_client(self) -> bool:
        return self.durable_client is not None


@dataclass(frozen=True)
class FunctionIndex:
    """All functions of one app, grouped by what can run them locally."""

    orchestrators: Mapping[str, OrchestratorEntry]
    activities: Mapping[str, ActivityEntry]
    http: Mapping[str, HttpEntry]
    timers: Mapping[str, TimerEntry]
    unsupported: Mapping[str, str]  # function name -> trigger type nothing local can fire

    @classmethod
    def of(cls, app: FunctionRegister) -> FunctionIndex:
        """The index of `app`, built once per app object and then cached."""
        with _CACHE_LOCK:
            cached = _CACHE.get(app)
            if cached is None:
                cached = cls.from_functions(_index_once(app))
                _CACHE[app] = cached
            return cached

    @classmethod
    def from_functions(cls, functions: Iterable[Function]) -> FunctionIndex:
        orchestrators: dict[str, OrchestratorEntry] = {}
        activities: dict[str, ActivityEntry] = {}
        http: dict[str, HttpEntry] = {}
        timers: dict[str, TimerEntry] = {}
        unsupported: dict[str, str] = {}
        for function in functions:
            name = function.get_function_name() or ""
            bindings = _bindings_of(function)
            trigger = next((b for b in bindings if _is_trigger(b)), {})
            client = _durable_client_of(bindings)
            user_fn = function.get_user_function()
            kind = trigger.get("type")
            if kind == ORCHESTRATION_TRIGGER:
                # The extension registers an orchestrator under the trigger's
                # `orchestration` name when given, else under the function name.
                entry_name = trigger.get("orchestration") or name
                orchestrators[entry_name] = OrchestratorEntry(
                    name=entry_name,
                    function_name=name,
                    context_arg=trigger["name"],
                    generator_function=getattr(user_fn, "orchestrator_function", user_fn),
                    entrypoint=user_fn,
                )
            elif kind == ACTIVITY_TRIGGER:
                entry_name = trigger.get("activity") or name
                activities[entry_name] = ActivityEntry(
                    name=entry_name, function_name=name, input_arg=trigger["name"], fn=user_fn
                )
            elif kind == HTTP_TRIGGER:
                http[name] = HttpEntry(
                    name=name,
                    route=trigger.get("route") or name,
                    methods=tuple(m.upper() for m in (trigger.get("methods") or ())),
                    auth_level=_auth_level(trigger.get("authLevel")),
                    request_arg=trigger["name"],
                    fn=user_fn,
                    durable_client=client,
                )
            elif kind == TIMER_TRIGGER:
                timers[name] = TimerEntry(
                    name=name,
                    schedule=trigger["schedule"],
                    arg_name=trigger["name"],
                    run_on_startup=trigger.get("runOnStartup"),
                    use_monitor=trigger.get("useMonitor"),
                    fn=user_fn,
                    durable_client=client,
                )
            else:
                unsupported[name] = str(kind)
        return cls(orchestrators, activities, http, timers, unsupported)

    def orchestrator(self, name: str) -> OrchestratorEntry:
        try:
            return self.orchestrators[name]
        except KeyError:
            raise UnknownFunctionError(name, "orchestrator", self.orchestrators) from None

    def activity(self, name: str) -> ActivityEntry:
        try:
            return self.activities[name]
        except KeyError:
            raise UnknownFunctionError(name, "activity", self.activities) from None

    def timer(self, name: str) -> TimerEntry:
        try:
            return self.timers[name]
        except KeyError:
            raise UnknownFunctionError(name, "timer", self.timers) from None


class UnknownFunctionError(LookupError):
    """No function of that name and kind; worded like the Durable extension's message."""

    def __init__(self, name: str, kind: str, known: Mapping[str, object]) -> None:
        self.name = name
        self.kind = kind
        super().__init__(
            f"The function '{name}' doesn't exist, is disabled, or is not an {kind} function. "
            f"Additional info: the app's {kind} functions are {sorted(known) or 'none'}."
        )


_CACHE: weakref.WeakKeyDictionary[FunctionRegister, FunctionIndex] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def _index_once(app: FunctionRegister) -> list[Function]:
    # `get_functions()` remembers the names it has seen in `functions_bindings` and a second
    # call on the same app raises a duplicate-name ValueError. If something else (an indexing
    # test, a CLI) already indexed this app, clear that memo so the real duplicate check still
    # runs once for us instead of failing on our own earlier names.
    if getattr(app, "functions_bindings", None):
        app.functions_bindings = None
    return app.get_functions()


def _bindings_of(function: Function) -> list[dict[str, Any]]:
    return list(json.loads(function.get_function_json())["bindings"])


def _is_trigger(binding: Mapping[str, Any]) -> bool:
    return str(binding.get("type", "")).endswith("Trigger")


def _durable_client_of(bindings: Iterable[Mapping[str, Any]]) -> DurableClientBinding | None:
    for binding in bindings:
        if binding.get("type") == DURABLE_CLIENT:
            return DurableClientBinding(
                arg_name=binding["name"],
                task_hub=binding.get("taskHub"),
                connection_name=binding.get("connectionName"),
            )
    return None


def _auth_level(value: str | None) -> func.AuthLevel:
    # The metadata carries the enum's name ("FUNCTION"); the host's default is FUNCTION.
    if not value:
        return func.AuthLevel.FUNCTION
    try:
        return func.AuthLevel[value.upper()]
    except KeyError:
        return func.AuthLevel(value.lower())
