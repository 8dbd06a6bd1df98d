"""Installing through Shopify's authorization code grant: what is checked, and that nothing leaks out first.

"No request" is proven by pointing the admin origin (SHOPIFY_ADMIN_BASE_URL) at a server that
records every request it gets; a positive control shows that a good callback does reach it.
"""

from __future__ import annotations

from types import SimpleNamespace

import hashlib
import json
import os
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

import azure.functions as func
import httpx
import pytest

from shared.briefing.links import verify_briefing_link
from shared.db.oauth_states import state_hash
from shared.db.pool import transaction
from shared.db.shops import InvalidShopDomainError
from shared.local.demo import apply_settings, local_functions, sample_store_stand_ins
from shared.local.shopify_emulator import ShopifyEmulator
from shared.local.shopify_oauth_standin import ShopifyOAuthStandIn, sign_query
from shared.local.shopify_webhook_subscriptions_standin import WebhookSubscriptionsStandIn
from shared import scheduling
from shared.shopify import oauth, oauth_cookie, token_endpoint
from shared.shopify.signed_query import (
    SignedQueryError,
    check_timestamp,
    query_digest,
    verify_query_hmac,
)
from shared.shopify.tokens import token_cipher

SECRET = "oauth-test-client-secret"
CLIENT_ID = "oauth-test-client-id"
SHOP = "oauth-checks.myshopify.com"
SCOPES = "read_products,read_inventory,read_orders"


# --- a server that records whatever reaches it ---------------------------------------------------------


class RequestRecorder:
    """Answers 503 to everything and remembers (method, path, body)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                recorder.requests.append((self.command, self.path, self.rfile.read(length) if length else b""))
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

            def log_message(self, *args) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def template(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/{{shop}}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _set_env(values: dict[str, str]) -> None:
    apply_settings(values)


@pytest.fixture()
def env(db, restore_environment):
    """Settings for one test; restore_environment puts the environment back afterwards."""
    values = {"SHOPIFY_CLIENT_ID": CLIENT_ID, "SHOPIFY_CLIENT_SECRET": SECRET, "SHOPIFY_SCOPES": SCOPES,
              "APP_BASE_URL": "http://127.0.0.1:7071"}
    os.environ.pop("SHOPIFY_CLIENT_SECRET_PREVIOUS", None)
    _set_env(values)
    return values


@pytest.fixture()
def recorder(env):
    server = RequestRecorder()
    _set_env({"SHOPIFY_ADMIN_BASE_URL": server.template})
    yield server
    server.close()


@pytest.fixture()
def standin(env):
    with ShopifyEmulator() as emulator:
        stand_in = ShopifyOAuthStandIn(emulator, client_id=CLIENT_ID, client_secret=SECRET, scopes=SCOPES)
        _set_env({"SHOPIFY_ADMIN_BASE_URL": emulator.admin_base_url_template})
        yield stand_in


class FakeDurableClient:
    """Records starts; `running` lists instance ids it reports as running."""

    def __init__(self, running: tuple[str, ...] = ()) -> None:
        self.started: list[tuple[str, str, dict]] = []
        self.running = list(running)

    async def start_new(self, name: str, instance_id: str, payload: dict) -> str:
        self.started.append((name, instance_id, payload))
        return instance_id

    async def get_status_by(self, runtime_status=None, instance_id_prefix: str = "") -> list:
        return [SimpleNamespace(instance_id=i, runtime_status=SimpleNamespace(value="Running"))
                for i in self.running if i.startswith(instance_id_prefix)]


def request(path: str, query: str = "", cookie: str | None = None) -> func.HttpRequest:
    url = f"http://127.0.0.1:7071/api/auth/shopify/{path}" + (f"?{query}" if query else "")
    headers = {"Cookie": cookie} if cookie else {}
    params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
    return func.HttpRequest("GET", url, headers=headers, params=params, body=b"")


def start_install(shop: str = SHOP, now: datetime | None = None) -> tuple[str, str]:
    """Run the install endpoint; returns (state, Cookie header value to send back)."""
    response = oauth.install(request("install", f"shop={quote(shop, safe='')}"), now=now)
    assert response.status_code == 302, response.get_body()
    state = parse_qs(urlsplit(response.headers["Location"]).query)["state"][0]
    cookie = response.headers["Set-Cookie"].split(";", 1)[0]
    return state, cookie


async def finish(query: str, cookie: str | None, client: FakeDurableClient | None = None) -> func.HttpResponse:
    return await oauth.callback(request("callback", query, cookie), client or FakeDurableClient())


def error_of(response: func.HttpResponse) -> str:
    return json.loads(response.get_body())["error"]


def state_rows() -> int:
    with transaction() as conn:
        return conn.execute("SELECT count(*) AS n FROM oauth_states").fetchone()["n"]


def stored_shop(shop: str) -> dict | None:
    with transaction() as conn:
        return conn.execute("SELECT * FROM shops WHERE domain = %s", (shop,)).fetchone()


# --- the official HMAC vectors (reference section 9) ---------------------------------------------------

VECTORS = [
    ("hush", "code=0907a61c0c8d55e99db179b68161bc00&shop=some-shop.myshopify.com&state=0.6784241404160823"
             "&timestamp=1337178173", "700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf"),
    ("hush", "code=0907a61c0c8d55e99db179b68161bc00&shop=some-shop.myshopify.com&timestamp=1337178173",
     "4712bf92ffc2917d15a2f5a273e39f0116667419aa4b6ac0b3baaf26fa3c4d20"),
    ("hush", "code=a94a110d86d2452eb3e2af4cfb8a3828&shop=some-shop.myshopify.com&timestamp=1337178173",
     "2cb1a277650a659f1b11e92a4a64275b128e037f2c3390e3c8fd2d8721dac9e2"),
    ("hush", 'ids=["2", "1"]&shop=some-shop.myshopify.com',
     "b93b9f82996f6f8bf9f1b7bbddec284c8fabacdc4e12dc80550b4705f3003b1e"),
    ("secret", "a=1%26b=2&c%3D3%26d=4", "8de3c7e965d22fa21e059868e4004f5b6fbdcef293d1622ff9408edd6325bc6b"),
]


@pytest.mark.parametrize("secret, message, digest", VECTORS, ids=["O1", "O2", "O3", "O4", "O5"])
def test_the_official_vectors_digest(secret, message, digest):
    assert query_digest(secret, message) == digest


# O4's list encoding is ShopifyAPI's own, not a query Shopify sends, so it is checked as a digest only.
@pytest.mark.parametrize("secret, message, digest", [VECTORS[i] for i in (0, 1, 2, 4)], ids=["O1", "O2", "O3", "O5"])
def test_the_official_vectors_verify_as_received_queries_in_any_order(secret, message, digest):
    pairs = message.split("&")
    as_sent = "&".join([f"hmac={digest}", *reversed(pairs)])  # hmac first, the rest out of order
    params = verify_query_hmac(as_sent, [secret])
    assert params["hmac"] == digest
    with pytest.raises(SignedQueryError):
        verify_query_hmac(as_sent, ["not-" + secret])


# --- forged, truncated, re-encoded and stale queries ---------------------------------------------------


def signed() -> str:
    host = "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvc2hvcA=="  # padded base64, as Shopify's host can be
    return sign_query({"code": "abc123", "host": host, "shop": "some-shop.myshopify.com", "state": "st-1 x",
                       "timestamp": "1700000000"}, SECRET)


def test_a_query_as_shopify_sends_it_verifies_and_is_decoded():
    params = verify_query_hmac(signed(), [SECRET])
    assert params["shop"] == "some-shop.myshopify.com"
    assert params["state"] == "st-1 x" and params["host"].endswith("==")


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda q: q.replace("shop=some-shop", "shop=other-shop"), id="forged-value"),
        pytest.param(lambda q: q.replace("code=abc123", "code=abc124"), id="forged-code"),
        pytest.param(lambda q: q[:-1], id="truncated-hmac"),
        pytest.param(lambda q: q[: q.index("hmac=") + 5 + 32], id="half-hmac"),
        pytest.param(lambda q: q[: q.index("hmac=") + 5], id="empty-hmac"),
        pytest.param(lambda q: q.replace(q[q.index("hmac=") + 5:], q[q.index("hmac=") + 5:].upper()), id="upper-hmac"),
        pytest.param(lambda q: q.replace("some-shop", "some%2Dshop"), id="re-encoded-hyphen"),
        pytest.param(lambda q: q.replace("%3D%3D", "=="), id="re-encoded-padding"),
        pytest.param(lambda q: q.replace("st-1%20x", "st-1+x"), id="re-encoded-space"),
        pytest.param(lambda q: q.replace("myshopify.com", "myshopify%2Ecom"), id="re-encoded-dot"),
        pytest.param(lambda q: q + "&extra=1", id="added-pair"),
        pytest.param(lambda q: "&".join(p for p in q.split("&") if not p.startswith("host=")), id="dropped-pair"),
        pytest.param(lambda q: "&".join(p for p in q.split("&") if not p.startswith("hmac=")), id="no-hmac"),
    ],
)
def test_a_forged_truncated_or_re_encoded_query_is_refused(tamper):
    tampered = tamper(signed())
    assert tampered != signed()
    with pytest.raises(SignedQueryError):
        verify_query_hmac(tampered, [SECRET])


def test_a_parameter_given_twice_is_refused_even_if_signed():
    doubled = sign_query({"shop": "a.myshopify.com", "timestamp": "1"}, SECRET) + "&shop=evil.myshopify.com"
    with pytest.raises(SignedQueryError, match="more than once") as error:
        verify_query_hmac(doubled, [SECRET])
    assert error.value.status == 400


def test_during_a_rotation_the_previous_secret_still_verifies():
    old = sign_query({"shop": "a.myshopify.com", "timestamp": "1"}, "old-secret")
    assert verify_query_hmac(old, [SECRET, "old-secret"])["shop"] == "a.myshopify.com"
    with pytest.raises(SignedQueryError):
        verify_query_hmac(old, [SECRET])


@pytest.mark.parametrize("offset, ok", [(-60, True), (-290, True), (-301, False), (-86400, False), (60, True),
                                        (120, False)])
def test_the_timestamp_must_be_recent(offset, ok):
    now = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
    params = {"timestamp": str(int(now.timestamp()) + offset)}
    check = lambda: check_timestamp(params, now, max_age=oauth.CALLBACK_MAX_AGE,  # noqa: E731
                                    max_skew=oauth.CALLBACK_MAX_FUTURE_SKEW)
    if ok:
        check()
    else:
        with pytest.raises(SignedQueryError):
            check()


# --- hostile shop names: refused before any request ----------------------------------------------------

HOSTILE_SHOPS = [
    "evil.com",
    "shop.myshopify.com.evil.com",
    "shop.myshopify.com@evil.com",
    "https://shop.myshopify.com",
    "//shop.myshopify.com",
    "shop.myshopify.com/admin",
    "shop.myshopify.com/../../evil.com",
    "-shop.myshopify.com",
    "\u0455hop.myshopify.com",  # Cyrillic dze for s
    "sh\u043e\u0440.myshopify.com",  # Cyrillic o and er
    "shop\uff0emyshopify\uff0ecom",  # full-width full stops
    "shop\u3002myshopify\u3002com",  # ideographic full stops
    "shop.myshopify\u2024com",  # one dot leader
    "ｓhop.myshopify.com",  # full-width s
    "",
    " ",
    "shop.myshopify.com\n",
    "shop.myshopify.com\r\nX-Injected: 1",
    " shop.myshopify.com",
    "shop.myshopify.com ",
    "shop.myshopify.com\x00",
    "shop.myshopify.com%00",
    "shop.MYSHOPIFY.COM",
    "shop.myshopify.COM",
    "shop.MyShopify.com",
    "shop.myshopify.com.",
    "shop.myshopify.com:443",
    "shop.myshopify.com:8080",
    "shop.myshopify.com#",
    "shop.myshopify.com?x=1",
    "shop.myshopify.com\\@evil.com",
    "evil.com#.myshopify.com",
    "evil.com?.myshopify.com",
    "evil.com/.myshopify.com",
    "a.b.myshopify.com",
    "shop..myshopify.com",
    ".myshopify.com",
    "myshopify.com",
    "shop_name.myshopify.com",
    "shop.myshopify.co",
    "shop.myshopify.com.au",
    "shop.shopify.com",
    "localhost",
    "127.0.0.1",
    "169.254.169.254",
    "[::1]",
    "shop%2Emyshopify%2Ecom",
]


@pytest.mark.parametrize("hostile", HOSTILE_SHOPS, ids=lambda s: repr(s))
def test_install_refuses_a_hostile_shop_and_nothing_happens(recorder, hostile):
    before = state_rows()
    response = oauth.install(request("install", "shop=" + quote(hostile, safe="")))
    assert response.status_code == 400
    assert "shop" in error_of(response)
    assert "Location" not in response.headers and "Set-Cookie" not in response.headers
    assert state_rows() == before
    assert recorder.requests == []


@pytest.mark.parametrize("hostile", HOSTILE_SHOPS, ids=lambda s: repr(s))
async def test_callback_refuses_a_hostile_shop_even_when_signed_and_sends_nothing(recorder, hostile):
    state, cookie = start_install()
    query = sign_query({"code": "c0de", "shop": hostile, "state": state, "timestamp": str(int(time.time()))}, SECRET)
    response = await finish(query, cookie)
    assert response.status_code == 400
    assert "shop" in error_of(response)
    assert recorder.requests == []
    # The state was not spent on a refused request: the real shop can still finish with it.
    with transaction() as conn:
        row = conn.execute("SELECT consumed_at FROM oauth_states WHERE state_hash = %s", (state_hash(state),)).fetchone()
    assert row["consumed_at"] is None


@pytest.mark.parametrize("hostile", HOSTILE_SHOPS, ids=lambda s: repr(s))
def test_the_token_endpoint_refuses_a_hostile_shop_before_any_request(recorder, hostile):
    for call in (lambda: token_endpoint.exchange_code(hostile, "c0de"),
                 lambda: token_endpoint.refresh_access_token(hostile, "shprt_x"),
                 lambda: token_endpoint.migrate_to_expiring(hostile, "shpat_x")):
        with pytest.raises(InvalidShopDomainError):
            call()
    assert recorder.requests == []


async def test_control_a_good_callback_does_reach_the_recording_server(recorder):
    """Without this, the "no request" tests above could pass against a server nobody calls."""
    state, cookie = start_install()
    query = sign_query({"code": "c0de", "shop": SHOP, "state": state, "timestamp": str(int(time.time()))}, SECRET)
    response = await finish(query, cookie)
    assert response.status_code == 502  # the recorder answers 503
    assert len(recorder.requests) == 1
    method, path, body = recorder.requests[0]
    assert (method, path) == ("POST", f"/{SHOP}/admin/oauth/access_token")
    sent = json.loads(body)
    assert sent == {"client_id": CLIENT_ID, "client_secret": SECRET, "code": "c0de", "expiring": "1"}
    assert SECRET not in error_of(response)


# --- the install endpoint --------------------------------------------------------------------------------


def test_install_stores_a_hashed_single_use_state_and_redirects_to_the_consent_page(recorder):
    now = datetime.now(timezone.utc)
    response = oauth.install(request("install", f"shop={SHOP}&timestamp=1&hmac=ignored"), now=now)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == ("https", SHOP, "/admin/oauth/authorize")
    query = parse_qs(location.query)
    assert set(query) == {"client_id", "scope", "redirect_uri", "state"}  # no grant_options: an offline token
    assert query["client_id"] == [CLIENT_ID] and query["scope"] == [SCOPES]
    assert query["redirect_uri"] == ["http://127.0.0.1:7071/api/auth/shopify/callback"]
    state = query["state"][0]
    assert len(state) >= 40
    with transaction() as conn:
        row = conn.execute("SELECT * FROM oauth_states WHERE state_hash = %s", (state_hash(state),)).fetchone()
        in_clear = conn.execute("SELECT count(*) AS n FROM oauth_states WHERE position(convert_to(%s, 'UTF8') "
                                "in state_hash) > 0", (state,)).fetchone()["n"]
    assert row["shop_domain"] == SHOP and row["consumed_at"] is None
    assert row["expires_at"] - row["created_at"] == timedelta(minutes=10)
    assert bytes(row["state_hash"]) == hashlib.sha256(state.encode()).digest() and in_clear == 0
    cookie = [p.strip() for p in response.headers["Set-Cookie"].split(";")]
    assert cookie[0].startswith(f"{oauth_cookie.COOKIE_NAME}={state}.")
    assert {"HttpOnly", "SameSite=Lax", "Max-Age=600", "Path=/api/auth/shopify/callback"} <= set(cookie)
    assert "Secure" not in cookie  # APP_BASE_URL is http here
    assert recorder.requests == []


def test_the_cookie_is_secure_when_the_app_is_served_over_https(recorder):
    _set_env({"APP_BASE_URL": "https://advisor.example.com"})
    response = oauth.install(request("install", f"shop={SHOP}"))
    assert "Secure" in [p.strip() for p in response.headers["Set-Cookie"].split(";")]
    assert "redirect_uri=https%3A%2F%2Fadvisor.example.com%2Fapi%2Fauth%2Fshopify%2Fcallback" in \
        response.headers["Location"]


def test_install_without_a_client_secret_says_so_without_redirecting(env):
    os.environ.pop("SHOPIFY_CLIENT_SECRET", None)
    _set_env({})
    response = oauth.install(request("install", f"shop={SHOP}"))
    assert response.status_code == 500 and "client secret" in error_of(response)


# --- the callback ----------------------------------------------------------------------------------------


async def test_a_replayed_callback_is_refused_and_the_code_is_exchanged_once(standin):
    state, cookie = start_install()
    query = standin.callback_query(SHOP, state)
    client = FakeDurableClient()
    first = await finish(query, cookie, client)
    assert first.status_code == 302
    replay = await finish(query, cookie, client)
    assert replay.status_code == 403 and "already used" in error_of(replay)
    assert len(standin.requests(grant="authorization_code")) == 1
    assert len(client.started) == 1


async def test_a_code_used_twice_is_refused_by_shopify_and_nothing_is_stored(standin):
    state_one, cookie_one = start_install()
    code = standin.mint_code(SHOP)
    assert (await finish(standin.callback_query(SHOP, state_one, code=code), cookie_one)).status_code == 302
    before = stored_shop(SHOP)
    state_two, cookie_two = start_install()
    client = FakeDurableClient()
    second = await finish(standin.callback_query(SHOP, state_two, code=code), cookie_two, client)
    assert second.status_code == 400 and "invalid_request" in error_of(second)
    assert [r.status for r in standin.requests(grant="authorization_code")] == [200, 400]
    assert bytes(stored_shop(SHOP)["access_token_ciphertext"]) == bytes(before["access_token_ciphertext"])
    assert client.started == []


@pytest.mark.parametrize("cookie_kind", ["none", "other-state", "forged-mac", "other-shop"])
async def test_a_callback_from_a_browser_that_did_not_start_the_install_is_refused(standin, cookie_kind):
    state, cookie = start_install()
    other_state, other_cookie = start_install()
    cookie = {
        "none": None,
        "other-state": other_cookie,
        "forged-mac": f"{oauth_cookie.COOKIE_NAME}={state}.{'A' * 43}",
        "other-shop": f"{oauth_cookie.COOKIE_NAME}={oauth_cookie.cookie_value(SECRET, 'x.myshopify.com', state)}",
    }[cookie_kind]
    response = await finish(standin.callback_query(SHOP, state), cookie)
    assert response.status_code == 403 and "browser" in error_of(response)
    assert standin.requests() == []


async def test_an_expired_state_is_refused(standin):
    state, cookie = start_install(now=datetime.now(timezone.utc) - timedelta(minutes=11))
    response = await finish(standin.callback_query(SHOP, state), cookie)
    assert response.status_code == 403 and "expired" in error_of(response)
    assert standin.requests() == []


async def test_a_state_issued_for_another_shop_is_refused(standin):
    state, _ = start_install("someone-else.myshopify.com")
    cookie = f"{oauth_cookie.COOKIE_NAME}={oauth_cookie.cookie_value(SECRET, SHOP, state)}"  # even with its cookie
    response = await finish(standin.callback_query(SHOP, state), cookie)
    assert response.status_code == 403 and "state" in error_of(response)
    assert standin.requests() == []


async def test_a_stale_callback_is_refused_and_keeps_its_state(standin):
    state, cookie = start_install()
    stale = standin.callback_query(SHOP, state, timestamp=int(time.time()) - 600)
    response = await finish(stale, cookie)
    assert response.status_code == 403 and "expired" in error_of(response)
    assert standin.requests() == []
    fresh = await finish(standin.callback_query(SHOP, state), cookie)
    assert fresh.status_code == 302


async def test_a_callback_signed_with_another_secret_is_refused(standin):
    state, cookie = start_install()
    response = await finish(standin.callback_query(SHOP, state, secret="not-the-secret"), cookie)
    assert response.status_code == 403 and "hmac" in error_of(response)
    assert standin.requests() == []


async def test_during_a_rotation_a_callback_signed_with_the_previous_secret_completes(standin):
    _set_env({"SHOPIFY_CLIENT_SECRET_PREVIOUS": "the-old-secret"})
    state, cookie = start_install()
    response = await finish(standin.callback_query(SHOP, state, secret="the-old-secret"), cookie)
    assert response.status_code == 302


async def test_a_callback_missing_parameters_names_them(standin):
    state, cookie = start_install()
    response = await finish(f"shop={SHOP}&state={state}", cookie)
    assert response.status_code == 400
    assert error_of(response) == "the callback lacks code, hmac, timestamp"


async def test_a_grant_without_the_required_scopes_is_refused_and_not_stored(standin):
    shop = "scant-scopes.myshopify.com"
    state, cookie = start_install(shop)
    client = FakeDurableClient()
    response = await finish(standin.callback_query(shop, state, scopes="read_products"), cookie, client)
    assert response.status_code == 403
    assert error_of(response).endswith("read_inventory, read_orders")
    assert stored_shop(shop) is None and client.started == []


def test_write_scopes_include_read_scopes():
    assert oauth.missing_scopes("write_products,read_orders", ["read_products", "read_orders"]) == []
    assert oauth.missing_scopes("read_products", ["write_products"]) == ["write_products"]
    assert oauth.missing_scopes("", ["read_orders"]) == ["read_orders"]


async def test_a_reinstall_reactivates_the_shop_with_new_tokens(standin):
    shop = "comes-back.myshopify.com"
    state, cookie = start_install(shop)
    assert (await finish(standin.callback_query(shop, state), cookie)).status_code == 302
    first = stored_shop(shop)
    with transaction() as conn:
        conn.execute("UPDATE shops SET status = 'needs_reauth', reauth_reason = 'refresh refused' WHERE domain = %s",
                     (shop,))
    state, cookie = start_install(shop)
    client = FakeDurableClient()
    assert (await finish(standin.callback_query(shop, state), cookie, client)).status_code == 302
    again = stored_shop(shop)
    assert again["id"] == first["id"]
    assert (again["status"], again["reauth_reason"]) == ("active", None)
    assert again["installed_at"] > first["installed_at"]  # a late uninstall webhook from before is ignored
    assert bytes(again["access_token_ciphertext"]) != bytes(first["access_token_ciphertext"])
    assert [name for name, _, _ in client.started] == ["daily_pipeline"]


async def test_a_reinstall_while_a_run_is_under_way_starts_no_second_run(standin):
    shop = "rerun-" + SHOP
    running = scheduling.manual_instance_id(shop, datetime.now(timezone.utc))
    client = FakeDurableClient(running=(running, scheduling.manual_instance_id("other-" + SHOP, datetime.now(timezone.utc))))
    state, cookie = start_install(shop)
    assert (await finish(standin.callback_query(shop, state), cookie, client)).status_code == 302
    assert stored_shop(shop)["status"] == "active"  # the tokens are renewed all the same
    assert client.started == []
    client.running = [running.replace(shop, "other-" + SHOP)]  # another shop's run does not count
    state, cookie = start_install(shop)
    assert (await finish(standin.callback_query(shop, state), cookie, client)).status_code == 302
    assert [instance for _, instance, _ in client.started][0].startswith(f"manual-{shop}-")


# --- the whole install through the local Functions host and Durable runner ------------------------------

E2E_SHOP = "oauth-e2e.myshopify.com"


@pytest.fixture(scope="module")
def installed_through_http(local_data_dir):
    saved = dict(os.environ)
    try:
        with sample_store_stand_ins(n_products=8) as stand_ins:
            stand_ins.emulator.add_shop(stand_ins.store, "shpat_not_issued_yet", domain=E2E_SHOP)
            standin = ShopifyOAuthStandIn(stand_ins.emulator, client_id=CLIENT_ID, client_secret=SECRET)
            subscriptions = WebhookSubscriptionsStandIn(stand_ins.emulator)
            apply_settings({"SHOPIFY_CLIENT_ID": CLIENT_ID, "SHOPIFY_CLIENT_SECRET": SECRET, "SHOPIFY_SCOPES": SCOPES})
            with local_functions(lambda line: None) as (runner, host, key):
                apply_settings({"APP_BASE_URL": host.base_url})
                with httpx.Client(base_url=host.base_url, follow_redirects=False, timeout=60) as browser:
                    install = browser.get("/api/auth/shopify/install", params={"shop": E2E_SHOP})
                    state = parse_qs(urlsplit(install.headers["location"]).query)["state"][0]
                    # The merchant approves on Shopify, which sends the browser back to the redirect URI.
                    callback = browser.get("/api/auth/shopify/callback?" + standin.callback_query(E2E_SHOP, state))
                started = [s for s in runner.list_instances() if (s.input or {}).get("shop") == E2E_SHOP]
                final = runner.wait_for_completion(started[0].instance_id, timeout=600) if started else None
                yield {"install": install, "callback": callback, "started": started, "final": final,
                       "standin": standin, "host": host, "emulator": stand_ins.emulator,
                       "subscriptions": subscriptions.of(E2E_SHOP)}
    finally:
        os.environ.clear()
        os.environ.update(saved)
        apply_settings({})
        # The shop shares the sample store's ids; later modules count catalogue rows by those ids.
        with transaction() as conn:
            conn.execute("DELETE FROM shops WHERE domain = %s", (E2E_SHOP,))


def test_install_over_http_redirects_to_shopify_with_a_cookie(installed_through_http):
    install = installed_through_http["install"]
    assert install.status_code == 302
    assert install.headers["location"].startswith(f"https://{E2E_SHOP}/admin/oauth/authorize?")
    assert oauth_cookie.COOKIE_NAME in install.headers["set-cookie"]


def test_the_callback_lands_on_the_briefing_page_and_clears_the_cookie(installed_through_http):
    callback, host = installed_through_http["callback"], installed_through_http["host"]
    assert callback.status_code == 302, callback.text
    location = callback.headers["location"]
    assert location.startswith(f"{host.base_url}/api/shops/{E2E_SHOP}/briefings/latest?")
    query = parse_qs(urlsplit(location).query)
    # A signed, expiring link: the merchant's browser holds no function key.
    verify_briefing_link(E2E_SHOP, query["expires"][0], query["sig"][0], datetime.now(timezone.utc))
    assert "Max-Age=0" in callback.headers["set-cookie"]


def test_the_tokens_are_stored_sealed_with_both_expiries(installed_through_http):
    row = stored_shop(E2E_SHOP)
    assert row["status"] == "active" and row["scopes"] == SCOPES
    now = datetime.now(timezone.utc)
    assert timedelta(minutes=50) < row["access_token_expires_at"] - now <= timedelta(hours=1)
    assert timedelta(days=89) < row["refresh_token_expires_at"] - now <= timedelta(days=90)
    emulated = installed_through_http["emulator"].shop(E2E_SHOP)
    access = token_cipher().open(row["access_token_ciphertext"], E2E_SHOP)
    assert access == emulated.access_token  # the token the shop's GraphQL endpoint now accepts
    assert access.encode() not in bytes(row["access_token_ciphertext"])
    assert token_cipher().open(row["refresh_token_ciphertext"], E2E_SHOP).startswith("shprt_")
    assert row["name"] == "Hare & Hazel Home"  # read from the shop with the new token


def test_the_first_pipeline_run_started_and_synced_with_the_new_token(installed_through_http):
    started, final = installed_through_http["started"], installed_through_http["final"]
    assert len(started) == 1 and started[0].instance_id.startswith(f"manual-{E2E_SHOP}-")
    assert getattr(final.runtime_status, "value", final.runtime_status) == "Completed"
    with transaction() as conn:
        sync = conn.execute(
            """SELECT st.status FROM pipeline_steps st JOIN pipeline_runs r ON r.id = st.run_id
               JOIN shops s ON s.id = r.shop_id WHERE s.domain = %s AND st.step = 'sync_shopify'""",
            (E2E_SHOP,),
        ).fetchall()
    assert [r["status"] for r in sync] == ["ok"]
    assert len(installed_through_http["standin"].requests(grant="authorization_code")) == 1


def test_the_after_install_hook_subscribed_the_shop_to_its_webhooks(installed_through_http):
    subscriptions, host = installed_through_http["subscriptions"], installed_through_http["host"]
    assert subscriptions, "no webhook subscription was created"
    assert {s.uri for s in subscriptions} == {f"{host.base_url}/api/webhooks/shopify"}
