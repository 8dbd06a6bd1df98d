"""Shopify's token endpoint, `POST {admin origin}/admin/oauth/access_token`, for three grants.

    exchange_code(shop, code)              authorization code -> expiring offline token (expiring=1)
    refresh_access_token(shop, refresh)    refresh token -> new access token and a rotated refresh token
    migrate_to_expiring(shop, legacy)      legacy non-expiring offline token -> expiring one (token exchange)

The origin comes from `SHOPIFY_ADMIN_BASE_URL`, like the GraphQL client's, so the local
emulator can answer. The shop name is checked before any URL is built from it. Requests
carry the client secret and answers carry tokens: neither is ever logged or put in an error.

Errors (each with `retryable`):

    TokenEndpointError              an answer the app cannot use (redirect, not JSON). Not retryable.
    ├── TokenGrantRefusedError      Shopify said no: `error` is its OAuth code (`invalid_grant`,
    │                               `invalid_request`, `invalid_client`, ...). Not retryable.
    └── TokenEndpointUnavailableError   network error, timeout, 429 or 5xx. Retryable.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from shared.db.shops import check_shop_domain
from shared.secrets import get_secret
from shared.settings import get_settings
from shared.shopify.admin_api import USER_AGENT
from shared.telemetry import external_call

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 15.0
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
    template = get_settings().shopify_admin_base_url
    if "{shop}" not in template:
        raise ValueError("SHOPIFY_ADMIN_BASE_URL must contain {shop}")
    return f"{template.format(shop=check_shop_domain(shop)).rstrip('/')}/admin/oauth/access_token"


def exchange_code(shop: str, code: str) -> TokenGrant:
    """Trade the callback's authorization code for an expiring offline token."""
    return _request(shop, {"code": code, "expiring": "1"}, "code exchange")


def refresh_access_token(shop: str, refresh_token: str) -> TokenGrant:
    """Spend a refresh token; the answer holds its replacement (Shopify rotates them)."""
    return _request(shop, {"grant_type": "refresh_token", "refresh_token": refresh_token}, "token refresh")


def migrate_to_expiring(shop: str, legacy_access_token: str) -> TokenGrant:
    """Exchange a legacy non-expiring offline token for an expiring one with a refresh token."""
    body = {
        "grant_type": TOKEN_EXCHANGE_GRANT,
        "subject_token": legacy_access_token,
        "subject_token_type": OFFLINE_TOKEN_TYPE,
        "requested_token_type": OFFLINE_TOKEN_TYPE,
        "expiring": "1",
    }
    return _request(shop, body, "token migration")


def _request(shop: str, grant: dict[str, str], what: str) -> TokenGrant:
    url = token_url(shop)  # checks the shop before anything else happens
    body = {"client_id": get_settings().shopify_client_id, "client_secret": get_secret("SHOPIFY_CLIENT_SECRET"), **grant}
    # The body holds the client secret and tokens: the span carries the grant type and the status only.
    with external_call("shopify", "oauth_token", shop=shop, grant_type=grant.get("grant_type", "")) as call:
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
            call.set_outcome("throttled" if response.status_code == 429 else "error")
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
