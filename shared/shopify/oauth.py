"""Installing the app: Shopify's authorization code grant, as two HTTP endpoints.

    GET /api/auth/shopify/install?shop=NAME.myshopify.com            -> install(req)
    GET /api/auth/shopify/callback?code&hmac&shop&state&timestamp    -> callback(req, client)

`install` checks the shop name, stores a single-use `state` (10 minutes), sets a signed
cookie binding it to this browser, and redirects to the shop's consent page for an offline
token (no per-user grant: the nightly pipeline works without a user). `callback` checks,
in this order and before any request leaves the app: the shop name, the `hmac` (current or
previous client secret), the timestamp, the cookie, then consumes the state. Only then is
the code exchanged (`expiring=1`), the granted scopes checked, the tokens sealed and
stored, the shop reactivated, its name and currency read, its webhooks subscribed
(`after_install`) and its first pipeline run started; the browser lands on the shop's
briefing page. A refusal answers 400/403 (502 if Shopify cannot be reached) with a short
reason and stores nothing.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, urlencode, urlsplit

import azure.functions as func

from shared import scheduling
from shared.briefing.links import briefing_link
from shared.db.oauth_states import consume_state, create_state
from shared.db.pool import transaction
from shared.db.shop_tokens import install_tokens
from shared.db.shops import InvalidShopDomainError, check_shop_domain, update_shop_profile
from shared.http_api import problem
from shared.secrets import MissingSecretError, get_optional_secret, get_secret
from shared.settings import get_settings
from shared.shopify import oauth_cookie, token_endpoint
from shared.shopify.shop_profile import fetch_shop_profile
from shared.shopify.signed_query import SignedQueryError, check_timestamp, parse_query, verify_query_hmac
from shared.shopify.token_endpoint import TokenEndpointError, TokenGrantRefusedError
from shared.shopify.tokens import seal_grant, token_cipher
from shared.shopify.webhook_subscriptions import register_webhook_subscriptions

log = logging.getLogger(__name__)

CALLBACK_PATH = "/api/auth/shopify/callback"
STATE_TTL = timedelta(minutes=10)
# Shopify redirects at once; a few minutes cover a slow browser and modest clock skew.
CALLBACK_MAX_AGE = timedelta(minutes=5)
CALLBACK_MAX_FUTURE_SKEW = timedelta(seconds=90)
_CALLBACK_PARAMS = ("code", "hmac", "shop", "state", "timestamp")


class InstallRefusedError(Exception):
    """A request the install flow will not act on; `status` and `reason` are what the browser gets."""

    retryable = False

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# --- the two endpoints ------------------------------------------------------------------------------


def install(req: func.HttpRequest, *, now: datetime | None = None) -> func.HttpResponse:
    """Start an install: state, cookie, and the redirect to the shop's consent page."""
    now = now or datetime.now(timezone.utc)
    try:
        shop = _shop_of(parse_query(_raw_query(req)))
        client_secret = get_secret("SHOPIFY_CLIENT_SECRET")
    except (InstallRefusedError, SignedQueryError) as exc:
        return _refuse(exc.status, exc.reason, None)
    except MissingSecretError as exc:
        log.error("install: %s", exc)
        return problem(500, "the app is not configured for installs (client secret missing)")
    state = secrets.token_urlsafe(32)
    with transaction() as conn:
        create_state(conn, state, shop, now=now, ttl=STATE_TTL)
    cookie = oauth_cookie.set_cookie_header(
        oauth_cookie.cookie_value(client_secret, shop, state),
        path=_cookie_path(), max_age_seconds=int(STATE_TTL.total_seconds()), secure=_secure_cookies(),
    )
    return _redirect(authorize_url(shop, state), cookie)


async def callback(req: func.HttpRequest, client, *, now: datetime | None = None) -> func.HttpResponse:
    """Finish an install: verify, exchange the code, store the tokens, start the first run."""
    now = now or datetime.now(timezone.utc)
    try:
        shop, code = _verified_callback(req, now)
    except (InstallRefusedError, SignedQueryError) as exc:
        return _refuse(exc.status, exc.reason, None)
    except MissingSecretError as exc:
        log.error("callback: %s", exc)
        return problem(500, "the app is not configured for installs (client secret missing)")
    try:
        grant = await asyncio.to_thread(token_endpoint.exchange_code, shop, code)
    except TokenGrantRefusedError as exc:
        return _refuse(400, f"Shopify refused the authorization code ({exc.error}); start the install again", shop)
    except TokenEndpointError as exc:
        log.warning("callback for %s: %s", shop, exc)
        return _refuse(502, "Shopify's token endpoint could not be reached; start the install again", shop)
    missing = missing_scopes(grant.scope, required_scopes())
    if missing:
        return _refuse(403, "the shop did not grant the access the app needs: " + ", ".join(missing), shop)
    with transaction() as conn:
        shop_id = install_tokens(conn, shop, seal_grant(token_cipher(), shop, grant, now), now=now)
    log.info("installed %s (expiring token: %s)", shop, grant.expires_in is not None)
    await _record_profile(shop, shop_id, grant.access_token.get_secret_value())
    await _after_install_safely(shop)
    try:
        instance_id = await scheduling.start_first_run(client, shop, now)
        log.info("first pipeline run of %s: %s", shop, instance_id or "not started (a run is under way)")
    except Exception as exc:  # noqa: BLE001 - the install stands; the daily timer runs it tomorrow
        log.warning("could not start the first run of %s: %s", shop, type(exc).__name__)
    clear = oauth_cookie.clear_cookie_header(path=_cookie_path(), secure=_secure_cookies())
    return _redirect(briefing_url(shop), clear)


def after_install(shop: str) -> None:
    """What must follow every install or reinstall, once the tokens are stored (blocking).

    Shopify drops an app's webhook subscriptions on uninstall, so they are created again on
    every install. A failure here is logged and does not undo the install.
    """
    register_webhook_subscriptions(shop)


# --- URLs and checks --------------------------------------------------------------------------------


def required_scopes() -> list[str]:
    return [s.strip() for s in get_settings().shopify_scopes.split(",") if s.strip()]


def missing_scopes(granted: str, required: list[str]) -> list[str]:
    """Required scopes the grant lacks; `write_x` includes `read_x`, as Shopify documents."""
    have = {s.strip() for s in granted.split(",") if s.strip()}
    have |= {"read_" + s.removeprefix("write_") for s in have if s.startswith("write_")}
    return [s for s in required if s not in have]


def redirect_uri() -> str:
    return get_settings().app_base_url.rstrip("/") + CALLBACK_PATH


def authorize_url(shop: str, state: str) -> str:
    # The browser goes to the real shop: the consent page is Shopify's, never an emulator's.
    query = urlencode(
        {"client_id": get_settings().shopify_client_id, "scope": ",".join(required_scopes()),
         "redirect_uri": redirect_uri(), "state": state},
        quote_via=quote,
    )
    return f"https://{check_shop_domain(shop)}/admin/oauth/authorize?{query}"


def briefing_url(shop: str) -> str:
    # Signed: the merchant's browser holds no function key.
    return briefing_link(check_shop_domain(shop), datetime.now(timezone.utc))


def _verified_callback(req: func.HttpRequest, now: datetime) -> tuple[str, str]:
    raw = _raw_query(req)
    params = parse_query(raw)
    missing = [name for name in _CALLBACK_PARAMS if not params.get(name)]
    if missing:
        raise InstallRefusedError(400, "the callback lacks " + ", ".join(missing))
    shop = _shop_of(params)
    client_secrets = [get_secret("SHOPIFY_CLIENT_SECRET"), get_optional_secret("SHOPIFY_CLIENT_SECRET_PREVIOUS")]
    verify_query_hmac(raw, [s for s in client_secrets if s])
    check_timestamp(params, now, max_age=CALLBACK_MAX_AGE, max_skew=CALLBACK_MAX_FUTURE_SKEW)
    state = params["state"]
    cookie = oauth_cookie.state_cookie(req.headers.get("cookie"))
    if not oauth_cookie.cookie_matches(cookie, state=state, shop=shop, client_secrets=[s for s in client_secrets if s]):
        raise InstallRefusedError(403, "this browser did not start this install (state cookie missing or different)")
    with transaction() as conn:
        if not consume_state(conn, state, shop, now=now):
            raise InstallRefusedError(403, "the install state is unknown, expired or already used; start again")
    return shop, params["code"]


def _shop_of(params: dict[str, str]) -> str:
    raw = params.get("shop")
    if not raw:
        raise InstallRefusedError(400, "the shop parameter is missing")
    try:
        return check_shop_domain(raw)
    except InvalidShopDomainError:
        raise InstallRefusedError(400, "shop must be the shop's NAME.myshopify.com domain") from None


def _raw_query(req: func.HttpRequest) -> str:
    # The query exactly as sent: the hmac is checked over these bytes, not over a re-encoding.
    return urlsplit(req.url).query


def _cookie_path() -> str:
    return urlsplit(get_settings().app_base_url).path.rstrip("/") + CALLBACK_PATH


def _secure_cookies() -> bool:
    return get_settings().app_base_url.lower().startswith("https://")


def _redirect(location: str, set_cookie: str) -> func.HttpResponse:
    return func.HttpResponse(
        status_code=302,
        headers={"Location": location, "Set-Cookie": set_cookie, "Cache-Control": "no-store",
                 "Referrer-Policy": "no-referrer"},
    )


def _refuse(status: int, reason: str, shop: str | None) -> func.HttpResponse:
    log.warning("install refused (%d) for %s: %s", status, shop or "an unchecked shop", reason)
    return problem(status, reason)


async def _record_profile(shop: str, shop_id: int, access_token: str) -> None:
    try:
        profile = await fetch_shop_profile(shop, access_token)
    except Exception as exc:  # noqa: BLE001 - the profile is a nicety; the install stands
        log.warning("could not read the profile (name, currency, country) of %s: %s", shop, type(exc).__name__)
        return
    with transaction() as conn:
        update_shop_profile(conn, shop_id, name=profile.name, currency=profile.currency, country=profile.country)


async def _after_install_safely(shop: str) -> None:
    try:
        await asyncio.to_thread(after_install, shop)
    except Exception as exc:  # noqa: BLE001 - see after_install
        log.warning("after-install work for %s failed: %s: %s", shop, type(exc).__name__, exc)
