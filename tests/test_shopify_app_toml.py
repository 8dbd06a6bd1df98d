"""shopify.app.toml says what the code does: every topic handled is subscribed and nothing else,
at the pinned API version, to the endpoint's real route, with the scopes and callback the app uses."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from shared.settings import DEFAULT_SHOPIFY_API_VERSION, Settings
from shared.shopify import webhook_topics as topics
from shared.shopify.webhook_processing import HANDLERS
from shared.shopify.webhook_subscriptions import WEBHOOK_PATH

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def toml() -> dict:
    return tomllib.loads((ROOT / "shopify.app.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def http_routes() -> dict[str, str]:
    import function_app

    function_app.app.functions_bindings = None  # get_functions() refuses a second call otherwise
    prefix = json.loads((ROOT / "host.json").read_text())["extensions"]["http"]["routePrefix"]
    routes = {}
    for function in function_app.app.get_functions():
        trigger = next(b for b in json.loads(function.get_function_json())["bindings"] if b["type"].endswith("Trigger"))
        if trigger["type"] == "httpTrigger":
            routes[function.get_function_name()] = f"/{prefix}/{trigger['route']}"
    return routes


def subscribed(toml: dict, key: str) -> list[str]:
    return [t for s in toml["webhooks"]["subscriptions"] for t in s.get(key, [])]


def test_every_handled_topic_is_subscribed_and_every_subscribed_topic_is_handled(toml):
    plain, compliance = subscribed(toml, "topics"), subscribed(toml, "compliance_topics")
    assert len(plain) == len(set(plain)) and len(compliance) == len(set(compliance))
    assert set(plain) == topics.SUPPORTED_TOPICS - topics.COMPLIANCE_TOPICS
    assert set(compliance) == topics.COMPLIANCE_TOPICS == {"customers/data_request", "customers/redact", "shop/redact"}
    assert set(HANDLERS) == topics.SUPPORTED_TOPICS == set(plain) | set(compliance)


def test_subscriptions_go_to_the_webhook_endpoints_route(toml, http_routes):
    assert {s["uri"] for s in toml["webhooks"]["subscriptions"]} == {WEBHOOK_PATH}
    assert http_routes["shopify_webhook"] == WEBHOOK_PATH


def test_the_api_version_is_the_pinned_one(toml):
    assert toml["webhooks"]["api_version"] == DEFAULT_SHOPIFY_API_VERSION == Settings().shopify_api_version


def test_scopes_and_redirect_url_match_the_app(toml, http_routes):
    assert toml["access_scopes"]["scopes"] == Settings.model_fields["shopify_scopes"].default
    app_url = toml["application_url"].rstrip("/")
    assert app_url.startswith("https://")
    assert toml["auth"]["redirect_urls"] == [app_url + http_routes["shopify_callback"]]
    assert http_routes["shopify_callback"] == "/api/auth/shopify/callback"
    assert toml["client_id"] and "secret" not in json.dumps(toml).lower()
