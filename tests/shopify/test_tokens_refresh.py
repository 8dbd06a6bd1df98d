"""get_access_token: renewal before expiry, one spend per refresh token, and what a refusal does."""

from __future__ import annotations

import itertools
import logging
import socket
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from shared.db.pool import transaction
from shared.db.shop_tokens import SealedTokens, install_tokens
from shared.local.demo import apply_settings
from shared.local.sample_store import generate_store
from shared.local.shopify_emulator import ShopifyEmulator
from shared.local.shopify_oauth_standin import ShopifyOAuthStandIn
from shared.shopify import token_endpoint
from shared.shopify.admin_api import AdminApiClient
from shared.shopify.token_endpoint import TokenEndpointUnavailableError, TokenGrantRefusedError
from shared.shopify.tokens import (
    REFRESH_MARGIN,
    ShopNeedsReauthError,
    ShopNotAuthorizedError,
    get_access_token,
    migrate_to_expiring_token,
    seal_grant,
    token_cipher,
)

SECRET = "refresh-test-client-secret"
CLIENT_ID = "refresh-test-client-id"
_shops = itertools.count(1)


@pytest.fixture()
def standin(db, restore_environment):
    with ShopifyEmulator() as emulator:
        # A pause on every answer, so that twenty callers really do overlap.
        stand_in = ShopifyOAuthStandIn(emulator, client_id=CLIENT_ID, client_secret=SECRET, answer_delay=0.2)
        apply_settings({"SHOPIFY_CLIENT_ID": CLIENT_ID, "SHOPIFY_CLIENT_SECRET": SECRET,
                        "SHOPIFY_ADMIN_BASE_URL": emulator.admin_base_url_template})
        yield stand_in


def new_shop() -> str:
    return f"refresh-{next(_shops)}-{datetime.now(timezone.utc):%H%M%S%f}.myshopify.com"


def install(standin: ShopifyOAuthStandIn, shop: str) -> str:
    """An installed shop with an expiring token; returns the access token."""
    grant = token_endpoint.exchange_code(shop, standin.mint_code(shop))
    now = datetime.now(timezone.utc)
    with transaction() as conn:
        install_tokens(conn, shop, seal_grant(token_cipher(), shop, grant, now), now=now)
    return grant.access_token.get_secret_value()


def expire_soon(shop: str, within: timedelta = timedelta(minutes=1)) -> None:
    with transaction() as conn:
        conn.execute("UPDATE shops SET access_token_expires_at = %s WHERE domain = %s",
                     (datetime.now(timezone.utc) + within, shop))


def row(shop: str) -> dict:
    with transaction() as conn:
        return conn.execute("SELECT * FROM shops WHERE domain = %s", (shop,)).fetchone()


def test_a_token_far_from_expiry_is_returned_without_a_request(standin):
    shop = new_shop()
    token = install(standin, shop)
    expire_soon(shop, REFRESH_MARGIN + timedelta(minutes=1))
    assert get_access_token(shop) == token
    assert standin.requests(grant="refresh_token") == []


def test_twenty_concurrent_callers_near_expiry_spend_the_refresh_token_once(standin):
    shop = new_shop()
    old = install(standin, shop)
    expire_soon(shop)
    old_refresh = token_cipher().open(row(shop)["refresh_token_ciphertext"], shop)
    with ThreadPoolExecutor(max_workers=20) as pool:
        tokens = list(pool.map(lambda _: get_access_token(shop), range(20)))
    refreshes = standin.requests(grant="refresh_token", shop=shop)
    assert [r.status for r in refreshes] == [200]
    assert len(set(tokens)) == 1 and tokens[0] != old
    stored = row(shop)
    assert token_cipher().open(stored["access_token_ciphertext"], shop) == tokens[0]
    new_refresh = token_cipher().open(stored["refresh_token_ciphertext"], shop)
    assert new_refresh != old_refresh  # rotated, and stored with the new access token
    assert stored["access_token_expires_at"] > datetime.now(timezone.utc) + timedelta(minutes=55)
    assert stored["status"] == "active" and stored["tokens_renewed_at"] is not None
    # The stored refresh token is the live one: the next renewal works with it.
    expire_soon(shop)
    assert get_access_token(shop) not in (old, tokens[0])
    assert [r.status for r in standin.requests(grant="refresh_token", shop=shop)] == [200, 200]


def test_the_refresh_is_shopifys_package_routed_to_the_emulator_and_one_span(standin, spans):
    exporter = spans
    shop = new_shop()
    install(standin, shop)
    expire_soon(shop)
    get_access_token(shop)
    [refresh] = standin.requests(grant="refresh_token", shop=shop)
    assert refresh.status == 200 and refresh.user_agent.startswith("shopifyapp v")  # the package sent it
    [code_exchange] = standin.requests(grant="authorization_code", shop=shop)
    assert not code_exchange.user_agent.startswith("shopifyapp")  # ours: the package has no code grant
    spans = {(s.attributes["external.operation"], s.attributes["external.outcome"]): s
             for s in exporter.get_finished_spans() if s.attributes.get("external.service") == "shopify"}
    assert set(spans) == {("oauth_token", "ok"), ("refresh_token", "ok")}
    assert spans[("refresh_token", "ok")].attributes["shop"] == shop


async def test_get_access_token_async_leaves_the_event_loop_free(standin):
    import asyncio

    from shared.shopify.tokens import get_access_token_async

    shop = new_shop()
    install(standin, shop)
    expire_soon(shop)  # the refresh waits 0.2 s on the stand-in's answer
    ticks = 0

    async def tick():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    token = await get_access_token_async(shop)
    ticker.cancel()
    assert token == token_cipher().open(row(shop)["access_token_ciphertext"], shop)
    assert ticks >= 5  # the loop kept running while the token was renewed


async def test_the_renewed_token_is_the_one_the_graphql_endpoint_accepts(standin):
    store = generate_store(n_products=3)
    shop = new_shop()
    standin.emulator.add_shop(store, "shpat_before_install", domain=shop)
    install(standin, shop)
    expire_soon(shop)
    token = get_access_token(shop)
    async with AdminApiClient(shop, token) as client:
        data = await client.execute("query { shop { name } }")
    assert data["shop"]["name"] == store.name


def test_a_refused_refresh_marks_the_shop_and_is_not_retryable(standin):
    shop = new_shop()
    install(standin, shop)
    expire_soon(shop)
    standin.revoke_refresh_tokens(shop)  # e.g. the merchant revoked the grant
    with pytest.raises(ShopNeedsReauthError) as error:
        get_access_token(shop)
    assert error.value.retryable is False
    assert "invalid_grant" in error.value.reason and shop in str(error.value)
    stored = row(shop)
    assert stored["status"] == "needs_reauth" and "invalid_grant" in stored["reauth_reason"]
    # Later callers are told at once, without spending anything.
    with pytest.raises(ShopNeedsReauthError, match="invalid_grant"):
        get_access_token(shop)
    assert len(standin.requests(grant="refresh_token", shop=shop)) == 1


def test_an_expired_refresh_token_marks_the_shop_without_a_request(standin):
    shop = new_shop()
    install(standin, shop)
    with transaction() as conn:
        conn.execute("""UPDATE shops SET access_token_expires_at = now() - interval '1 minute',
                                         refresh_token_expires_at = now() - interval '1 second' WHERE domain = %s""",
                     (shop,))
    with pytest.raises(ShopNeedsReauthError, match="refresh token has expired"):
        get_access_token(shop)
    assert row(shop)["status"] == "needs_reauth"
    assert standin.requests(grant="refresh_token", shop=shop) == []


def test_an_unreachable_shopify_is_retryable_and_leaves_the_shop_as_it_was(standin):
    shop = new_shop()
    install(standin, shop)
    expire_soon(shop)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/{{shop}}"
    apply_settings({"SHOPIFY_ADMIN_BASE_URL": closed})
    before = row(shop)
    with pytest.raises(TokenEndpointUnavailableError) as error:
        get_access_token(shop)
    assert error.value.retryable is True
    after = row(shop)
    assert after["status"] == "active"
    assert bytes(after["refresh_token_ciphertext"]) == bytes(before["refresh_token_ciphertext"])


def test_wrong_app_credentials_do_not_blame_the_shop(standin):
    shop = new_shop()
    install(standin, shop)
    expire_soon(shop)
    apply_settings({"SHOPIFY_CLIENT_SECRET": "rotated-wrongly"})
    with pytest.raises(TokenGrantRefusedError) as error:
        get_access_token(shop)
    assert error.value.error == "invalid_client" and error.value.retryable is False
    assert "rotated-wrongly" not in str(error.value)
    assert row(shop)["status"] == "active"


def test_a_legacy_non_expiring_token_keeps_working_and_can_be_migrated(standin):
    shop = new_shop()
    legacy = standin.issue_legacy_token(shop)
    cipher, now = token_cipher(), datetime.now(timezone.utc)
    with transaction() as conn:
        install_tokens(conn, shop, SealedTokens(
            access_token_ciphertext=cipher.seal(legacy, shop), refresh_token_ciphertext=None,
            token_key_id=cipher.current_key_id, access_token_expires_at=None, refresh_token_expires_at=None,
            scopes="read_products"), now=now)
    assert get_access_token(shop) == legacy
    assert standin.requests() == []
    assert migrate_to_expiring_token(shop) is True
    [exchange] = standin.requests(shop=shop)
    assert (exchange.grant, exchange.status) == ("token_exchange", 200)
    stored = row(shop)
    assert stored["access_token_expires_at"] is not None and stored["refresh_token_ciphertext"] is not None
    migrated = get_access_token(shop)
    assert migrated != legacy
    assert migrate_to_expiring_token(shop) is False  # already expiring: nothing to do
    assert len(standin.requests(shop=shop)) == 1


def test_shops_that_cannot_have_a_token_say_why(standin):
    with pytest.raises(ShopNotAuthorizedError, match="not installed"):
        get_access_token("never-installed.myshopify.com")
    shop = new_shop()
    install(standin, shop)
    with transaction() as conn:
        conn.execute("UPDATE shops SET status = 'uninstalled' WHERE domain = %s", (shop,))
    with pytest.raises(ShopNotAuthorizedError, match="install the app again"):
        get_access_token(shop)


def test_no_token_reaches_a_log_line(standin, caplog):
    shop = new_shop()
    first = install(standin, shop)
    expire_soon(shop)
    with caplog.at_level(logging.DEBUG):
        renewed = get_access_token(shop)
        standin.revoke_refresh_tokens(shop)
        expire_soon(shop)
        with pytest.raises(ShopNeedsReauthError):
            get_access_token(shop)
    refresh = token_cipher().open(row(shop)["refresh_token_ciphertext"], shop)
    assert caplog.records
    for record in caplog.records:
        text = record.getMessage()
        assert not any(secret in text for secret in (first, renewed, refresh, SECRET)), text

