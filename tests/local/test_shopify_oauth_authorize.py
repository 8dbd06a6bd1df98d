"""The OAuth stand-in's consent page: approves the app's own request, refuses another's."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from shared.local.shopify_emulator import ShopifyEmulator
from shared.local.shopify_oauth_standin import ShopifyOAuthStandIn
from shared.shopify.signed_query import verify_query_hmac

SHOP = "consent.myshopify.com"
CALLBACK = "http://127.0.0.1:7071/api/auth/shopify/callback"


@pytest.fixture()
def consent():
    with ShopifyEmulator() as emulator:
        standin = ShopifyOAuthStandIn(emulator, client_id="app-id", client_secret="app-secret", redirect_uris=(CALLBACK,))

        def ask(**params) -> httpx.Response:
            query = urlencode({"client_id": "app-id", "scope": "read_products", "redirect_uri": CALLBACK,
                               "state": "s-123", **params})
            return httpx.get(f"{emulator.base_url}/{SHOP}/admin/oauth/authorize?{query}", timeout=10)

        yield standin, ask


def test_approval_redirects_to_the_callback_with_a_signed_single_use_code(consent):
    standin, ask = consent
    answer = ask()
    assert answer.status_code == 302
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    params = dict(parse_qsl(location.query))
    assert (params["shop"], params["state"]) == (SHOP, "s-123") and params["code"] and params["timestamp"]
    verify_query_hmac(location.query, ["app-secret"])  # signed as Shopify signs it
    first = httpx.post(f"{standin.emulator.base_url}/{SHOP}/admin/oauth/access_token", timeout=10,
                       json={"client_id": "app-id", "client_secret": "app-secret", "code": params["code"]})
    again = httpx.post(f"{standin.emulator.base_url}/{SHOP}/admin/oauth/access_token", timeout=10,
                       json={"client_id": "app-id", "client_secret": "app-secret", "code": params["code"]})
    assert (first.status_code, again.status_code) == (200, 400)


@pytest.mark.parametrize("params", [{"client_id": "another-app"}, {"redirect_uri": "https://evil.example/cb"},
                                    {"redirect_uri": ""}, {"state": ""}])
def test_another_apps_request_or_an_unregistered_redirect_is_refused(consent, params):
    standin, ask = consent
    answer = ask(**params)
    assert answer.status_code == 400 and "location" not in answer.headers
    assert standin.requests() == []
