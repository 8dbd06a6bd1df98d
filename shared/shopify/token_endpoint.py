"""Shopify's token endpoint, `POST {admin origin}/admin/oauth/access_token`, for three grants.

    exchange_code(shop, code)              authorization code -> expiring offline token (expiring=1)
    refresh_access_token(shop, refresh)    refresh token -> new access token and a rotated refresh token
    migrate_to_expiring(shop, legacy)      legacy non-expiring offline token -> expiring one (token exchange)

The refresh goes through Shopify's `shopify_app` package (`refresh_access_token`). The package
has no authorization-code grant (it serves embedded apps, which exchange session tokens), and
its token exchange only takes an ID token as the subject, not a legacy offline token: those two
grants are ours. Every call reaches the origin `SHOPIFY_ADMIN_BASE_URL` names (see
`admin_origin`), so the local emulator answers, and is one `shopify` span. The shop name is
checked before any URL is built from it. Requests carry the client secret and answers carry
tokens: neither is ever logged or put in an error.

Errors (each with `retryable`):

    TokenEndpointError              an answer the app cannot use (redirect, not JSON). Not retryable.
    ├── TokenGrantRefusedError      Shopify said no: `error` is its OAuth code (`invalid_grant`,
    │                               `invalid_request`, `invalid_client`, ...). Not retryable.
    └── TokenEndpointUnavailableError   network error, timeout, 429 or 5xx. Retryable.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import httpx
import shopify_app
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from shared.db.shops import check_shop_domain
from shared.secrets import get_secret
from shared.settings import get_settings
from shared.shopify.admin_api import USER_AGENT
from shared.shopify.admin_origin import TIMEOUT_SECONDS, admin_http_client, admin_url
from shared.telemetry import external_call

log = logging.getLogger(__name__)

OFFLINE_TOKEN_TYPE = "urn:shopify:params:oauth:token-type:offline-access-token"
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"


class TokenEndpointError(Exception):
    retryable = False


class TokenGrantRefusedError(TokenEndpointError):
    retryable = False

    def __init__(self, message: str, *, error: str, status: int) -> None:
        super().__init__(message)
        self.error = error
        self.status = status


class TokenEndpointUnavailableError(TokenEndpointError):
    retryable = True


class TokenGrant(BaseModel):
    """The endpoint's answer. Without `expires_in` the token does not expire (legacy)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    access_token: SecretStr = Field(min_length=1)
    scope: str = ""
    expires_in: int | None = Field(None, gt=0)
    refresh_token: SecretStr | None = None
    refresh_token_expires_in: int | None = Field(None, gt=0)

    def access_expires_at(self, issued_at: datetime) -> datetime | None:
        return issued_at + timedelta(seconds=self.expires_in) if self.expires_in else None

    def refresh_expires_at(self, issued_at: datetime) -> datetime | None:
        if self.refresh_token is None or not self.refresh_token_expires_in:
            return None
        return issued_at + timedelta(seconds=self.refresh_token_expires_in)


def token_url(shop: str) -> str:
    return admin_url(shop, "/admin/oauth/access_token")


def exchange_code(shop: str, code: str) -> TokenGrant:
    """Trade the callback's authorization code for an expiring offline token."""
    return _request(shop, {"code": code, "expiring": "1"}, "code exchange", "oauth_token")


def refresh_access_token(shop: str, refresh_token: str) -> TokenGrant:
    """Spend a refresh token; the answer holds its replacement (Shopify rotates them).

    The caller has decided the token is due (it renews earlier than the package's own one-minute
    margin), so the package is given no expiry to second-guess: it always spends the token.
    """
    domain = check_shop_domain(shop)
    current = {"shop": domain.removesuffix(".myshopify.com"), "refresh_token": refresh_token,
               "expires": "", "refresh_token_expires": "", "access_mode": "offline"}
    config = {"client_id": get_settings().shopify_client_id,
              "client_secret": get_secret("SHOPIFY_CLIENT_SECRET"), "old_client_secret": None}
    with external_call("shopify", "refresh_token", shop=domain) as call, admin_http_client() as client:
        result = shopify_app.refresh_access_token(current, config, http_client=client)
        if not result.ok or result.access_token is None:
            call.set_outcome(result.log.code)
            raise _refresh_error(domain, result)
    return _grant_of(result.access_token)


def _refresh_error(shop: str, result) -> TokenEndpointError:
    """The package's verdict as one of our typed errors (its `log.code` is the OAuth error or its own)."""
    code = result.log.code
    status = result.http_logs[-1].res.status if result.http_logs else 0
    if code in ("network_error", "server_error") or status == 429 or status >= 500:
        return TokenEndpointUnavailableError(f"token refresh for {shop}: Shopify unavailable ({code}, {status or 'no answer'})")
    if code in ("invalid_grant", "invalid_client", "refresh_token_expired"):
        log.warning("token refresh for %s refused: %s %s", shop, status, code)
        return TokenGrantRefusedError(f"token refresh for {shop} refused: {code}", error=code, status=status)
    log.warning("token refresh for %s refused: %s %s", shop, status, code)
    return TokenGrantRefusedError(f"token refresh for {shop} refused: {code} (HTTP {status})",
                                  error=code, status=status)


def _grant_of(token) -> TokenGrant:
    """The package's TokenExchangeAccessToken (absolute ISO expiries) as a TokenGrant (seconds from now)."""
    now = datetime.now(timezone.utc)

    def seconds_until(moment: str | None) -> int | None:
        if not moment:
            return None
        remaining = datetime.fromisoformat(moment.replace("Z", "+00:00")) - now
        return max(1, round(remaining.total_seconds()))

    try:
        return TokenGrant(access_token=token.token, scope=token.scope or "",
                          expires_in=seconds_until(token.expires), refresh_token=token.refresh_token or None,
                          refresh_token_expires_in=seconds_until(token.refresh_token_expires))
    except (ValidationError, ValueError):
        raise TokenEndpointError("token refresh: the answer is not a token grant") from None


def migrate_to_expiring(shop: str, legacy_access_token: str) -> TokenGrant:
    """Exchange a legacy non-expiring offline token for an expiring one with a refresh token."""
    body = {
        "grant_type": TOKEN_EXCHANGE_GRANT,
        "subject_token": legacy_access_token,
        "subject_token_type": OFFLINE_TOKEN_TYPE,
        "requested_token_type": OFFLINE_TOKEN_TYPE,
        "expiring": "1",
    }
    return _request(shop, body, "token migration", "token_exchange")


def _request(shop: str, grant: dict[str, str], what: str, operation: str) -> TokenGrant:
    url = token_url(shop)  # checks the shop before anything else happens
    body = {"client_id": get_settings().shopify_client_id, "client_secret": get_secret("SHOPIFY_CLIENT_SECRET"), **grant}
    # The body holds the client secret and tokens: the span carries the grant type and the status only.
    with external_call("shopify", operation, shop=check_shop_domain(shop), grant_type=grant.get("grant_type", "")) as call:
        try:
            response = httpx.post(
                url,
                json=body,
                headers={"Accept": "application/json", "User-Agent": USER_AGENT},
                timeout=httpx.Timeout(TIMEOUT_SECONDS, connect=min(10.0, TIMEOUT_SECONDS)),
                follow_redirects=False,
            )
        except httpx.HTTPError as exc:
            raise TokenEndpointUnavailableError(f"{what} for {shop}: Shopify unreachable ({type(exc).__name__})") from None
        call.set_attribute("http.response.status_code", response.status_code)
        if response.status_code != 200:
            call.set_outcome("throttled" if response.status_code == 429 else f"http_{response.status_code}")
    return _answer(response, shop, what)


def _answer(response: httpx.Response, shop: str, what: str) -> TokenGrant:
    status = response.status_code
    if status == 429 or status >= 500:
        raise TokenEndpointUnavailableError(f"{what} for {shop}: Shopify answered {status}")
    if 400 <= status < 500:
        error, description = _oauth_error(response)
        log.warning("%s for %s refused: %s %s", what, shop, status, error)
        raise TokenGrantRefusedError(f"{what} for {shop} refused: {error}{description}", error=error, status=status)
    if status != 200:
        raise TokenEndpointError(f"{what} for {shop}: unexpected answer {status}")
    try:
        return TokenGrant.model_validate_json(response.content)
    except ValidationError:
        # The validation message could quote the body, which holds tokens: say only what failed.
        raise TokenEndpointError(f"{what} for {shop}: the answer is not a token grant") from None


def _oauth_error(response: httpx.Response) -> tuple[str, str]:
    """Shopify's OAuth error shape: {"error": code, "error_description": text}."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        return f"http_{response.status_code}", ""
    error = payload.get("error")
    error = error if isinstance(error, str) and error.isascii() and len(error) <= 64 else f"http_{response.status_code}"
    description = payload.get("error_description")
    description = f" ({description[:160]})" if isinstance(description, str) and description else ""
    return error, description
