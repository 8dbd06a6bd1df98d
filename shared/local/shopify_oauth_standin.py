"""Shopify's server side of OAuth, served by the local emulator, and signed callbacks for tests.

Added to a `ShopifyEmulator` through `add_route`:

    GET /{shop}/admin/oauth/authorize?client_id&scope&redirect_uri&state
                                           the consent page, approved at once (as a merchant clicking
                                           Install would): 302 to redirect_uri with a fresh code, the
                                           state, a timestamp and Shopify's hmac; 400 for another app's
                                           client id or a redirect URI the app did not register
    POST /{shop}/admin/oauth/access_token   (JSON or form body, with client_id and client_secret)
        code, expiring=1                       authorization code grant; each code works once
        grant_type=refresh_token               spends the refresh token, answers with a new pair
        grant_type=urn:ietf:params:oauth:grant-type:token-exchange, subject_token=<legacy token>
                                               migrates a non-expiring offline token to an expiring one

Answers are Shopify's: `{access_token, scope}`, plus `expires_in`, `refresh_token` and
`refresh_token_expires_in` for an expiring token. Refusals use the OAuth error shape the
official libraries read, `{"error", "error_description"}`: 400 `invalid_request` for an
unknown or used code, 400 `invalid_grant` for a spent, expired or unknown refresh token,
400 `invalid_subject_token` for a token exchange of something that is not a live legacy
token, 401 `invalid_client` for wrong app credentials. Each access token issued becomes
the one the emulated shop's GraphQL endpoint accepts.

Stand-in choices: a spent refresh token is refused at once (Shopify now keeps the previous
one usable until its replacement is first used; being stricter makes a double spend show).
The consent page asks nothing: the stand-in grants the scopes it was configured with (a
development store may grant `read_all_orders` too). `callback_query` gives the same signed
query for tests that skip the browser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

from shared.local.shopify_emulator import EmulatorRequest, Response, ShopifyEmulator, json_response

TOKEN_ROUTE = r"^/(?P<shop>[^/?#]+)/admin/oauth/access_token$"
AUTHORIZE_ROUTE = r"^/(?P<shop>[^/?#]+)/admin/oauth/authorize$"
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
OFFLINE_TOKEN_TYPE = "urn:shopify:params:oauth:token-type:offline-access-token"
DEFAULT_SCOPES = "read_products,read_inventory,read_orders"


@dataclass(frozen=True)
class TokenRequest:
    """One request the token endpoint answered: which grant, for which shop, and how."""

    shop: str
    grant: str  # authorization_code | refresh_token | token_exchange | unknown
    status: int
    error: str | None
    user_agent: str = ""
    issued_token_sha256: str | None = None  # of the access token answered, to match with what was stored


@dataclass
class _Code:
    shop: str
    scopes: str
    used: bool = False


@dataclass
class _RefreshToken:
    shop: str
    expires_at: float
    spent: bool = False


class ShopifyOAuthStandIn:
    """`ShopifyOAuthStandIn(emulator, client_id=..., client_secret=...)` serves the token endpoint.

    `clock` (seconds) decides refresh-token expiry; `answer_delay` holds every answer back
    that long, so concurrent callers overlap as they would against a distant Shopify.
    """

    def __init__(
        self,
        emulator: ShopifyEmulator,
        *,
        client_id: str,
        client_secret: str,
        scopes: str = DEFAULT_SCOPES,
        access_token_ttl: int = 3600,
        refresh_token_ttl: int = 90 * 24 * 3600,
        clock: Callable[[], float] = time.time,
        answer_delay: float = 0.0,
        redirect_uris: tuple[str, ...] = (),
    ) -> None:
        self.emulator = emulator
        self.client_id = client_id
        self.client_secret = client_secret
        self.scopes = scopes
        self.access_token_ttl = access_token_ttl
        self.refresh_token_ttl = refresh_token_ttl
        self.clock = clock
        self.answer_delay = answer_delay
        self.redirect_uris = redirect_uris  # allowed redirect URIs (the app's configuration); empty: any
        self._codes: dict[str, _Code] = {}
        self._refresh_tokens: dict[str, _RefreshToken] = {}
        self._legacy_tokens: dict[str, str] = {}  # token -> shop
        self._requests: list[TokenRequest] = []
        self._lock = threading.Lock()
        emulator.add_route("POST", TOKEN_ROUTE, self._handle)
        emulator.add_route("GET", AUTHORIZE_ROUTE, self._authorize)

    # --- what tests and the demo use ------------------------------------------------------------

    def mint_code(self, shop: str, *, scopes: str | None = None) -> str:
        """An authorization code, as the consent page would issue it (single use)."""
        code = secrets.token_hex(16)
        with self._lock:
            self._codes[code] = _Code(shop, self.scopes if scopes is None else scopes)
        return code

    def callback_query(
        self,
        shop: str,
        state: str,
        *,
        code: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
        scopes: str | None = None,
    ) -> str:
        """The query Shopify appends to the redirect URI: a fresh code, signed with the client secret."""
        host = base64.b64encode(f"admin.shopify.com/store/{shop.split('.')[0]}".encode()).decode()
        params = {
            "code": code or self.mint_code(shop, scopes=scopes),
            "host": host,
            "shop": shop,
            "state": state,
            "timestamp": str(int(time.time()) if timestamp is None else timestamp),
        }
        return sign_query(params, secret or self.client_secret)

    def issue_legacy_token(self, shop: str) -> str:
        """A non-expiring offline token, as apps installed before expiring tokens hold."""
        token = "shpat_" + secrets.token_hex(16)
        with self._lock:
            self._legacy_tokens[token] = shop
        self._register(shop, token)
        return token

    def revoke_refresh_tokens(self, shop: str) -> None:
        """What an uninstall or a revoked grant does: every refresh token of the shop stops working."""
        with self._lock:
            for record in self._refresh_tokens.values():
                if record.shop == shop:
                    record.spent = True

    def requests(self, grant: str | None = None, shop: str | None = None) -> list[TokenRequest]:
        with self._lock:
            return [r for r in self._requests if (grant is None or r.grant == grant) and (shop is None or r.shop == shop)]

    # --- the endpoint -----------------------------------------------------------------------------

    def _handle(self, request: EmulatorRequest) -> Response:
        if self.answer_delay:
            time.sleep(self.answer_delay)
        shop = request.match["shop"]
        body = _body(request)
        grant = _grant_name(body)
        with self._lock:
            status, payload = self._answer(shop, grant, body)
            issued = payload.get("access_token")
            self._requests.append(TokenRequest(
                shop, grant, status, payload.get("error"), request.headers.get("user-agent", ""),
                hashlib.sha256(issued.encode()).hexdigest() if issued else None))
        if status == 200:
            self._register(shop, payload["access_token"])
        return json_response(status, payload)

    def _authorize(self, request: EmulatorRequest) -> Response:
        shop = request.match["shop"]
        params = dict(parse_qsl(request.query))
        redirect_uri = params.get("redirect_uri", "")
        if params.get("client_id") != self.client_id:
            return json_response(400, {"error": "invalid_request", "error_description": "Unknown client_id"})
        if not redirect_uri or (self.redirect_uris and redirect_uri not in self.redirect_uris):
            return json_response(400, {"error": "invalid_request",
                                       "error_description": "The redirect_uri is not whitelisted for this app"})
        if not params.get("state"):
            return json_response(400, {"error": "invalid_request", "error_description": "state is required"})
        query = self.callback_query(shop, params["state"])
        separator = "&" if "?" in redirect_uri else "?"
        return 302, {"Location": f"{redirect_uri}{separator}{query}", "Cache-Control": "no-store"}, b""

    def _answer(self, shop: str, grant: str, body: dict[str, str]) -> tuple[int, dict]:
        if body.get("client_id") != self.client_id or not hmac.compare_digest(
            str(body.get("client_secret", "")).encode(), self.client_secret.encode()
        ):
            return _error(401, "invalid_client", "Client authentication failed")
        expiring = str(body.get("expiring", "")) in ("1", "true", "True")
        if grant == "authorization_code":
            record = self._codes.get(str(body.get("code", "")))
            if record is None or record.used or record.shop != shop:
                return _error(400, "invalid_request", "The authorization code was not found or was already used")
            record.used = True
            return 200, self._tokens(shop, record.scopes, expiring)
        if grant == "refresh_token":
            record = self._refresh_tokens.get(str(body.get("refresh_token", "")))
            if record is None or record.shop != shop or record.spent or record.expires_at <= self.clock():
                return _error(400, "invalid_grant", "The refresh token is invalid, expired or already used")
            record.spent = True
            return 200, self._tokens(shop, self.scopes, expiring=True)
        if grant == "token_exchange":
            subject = str(body.get("subject_token", ""))
            if body.get("subject_token_type") != OFFLINE_TOKEN_TYPE or self._legacy_tokens.get(subject) != shop:
                return _error(400, "invalid_subject_token", "The subject token is not a valid offline access token")
            del self._legacy_tokens[subject]  # the migrated token stops working
            return 200, self._tokens(shop, self.scopes, expiring)
        return _error(400, "unsupported_grant_type", "The grant type is not supported")

    def _tokens(self, shop: str, scopes: str, expiring: bool) -> dict:
        answer: dict = {"access_token": "shpat_" + secrets.token_hex(16), "scope": scopes}
        if not expiring:
            self._legacy_tokens[answer["access_token"]] = shop
            return answer
        refresh_token = "shprt_" + secrets.token_hex(24)
        self._refresh_tokens[refresh_token] = _RefreshToken(shop, self.clock() + self.refresh_token_ttl)
        answer.update(expires_in=self.access_token_ttl, refresh_token=refresh_token,
                      refresh_token_expires_in=self.refresh_token_ttl)
        return answer

    def _register(self, shop: str, access_token: str) -> None:
        emulated = self.emulator.shops.get(shop)
        if emulated is not None:
            emulated.access_token = access_token


def sign_query(params: dict[str, str], secret: str) -> str:
    """A query string of `params` with Shopify's `hmac` over its pairs as sent (percent-encoded)."""
    pairs = sorted((quote(k, safe=""), quote(v, safe="")) for k, v in params.items())
    message = "&".join(f"{k}={v}" for k, v in pairs)
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return message + "&hmac=" + digest


def _body(request: EmulatorRequest) -> dict[str, str]:
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            payload = json.loads(request.body or b"{}")
        except ValueError:
            return {}
        return payload if isinstance(payload, dict) else {}
    return dict(parse_qsl(request.body.decode("utf-8", errors="replace")))


def _grant_name(body: dict[str, str]) -> str:
    grant_type = body.get("grant_type")
    if grant_type is None and "code" in body:
        return "authorization_code"
    return {"refresh_token": "refresh_token", TOKEN_EXCHANGE_GRANT: "token_exchange"}.get(str(grant_type), "unknown")


def _error(status: int, error: str, description: str) -> tuple[int, dict]:
    return status, {"error": error, "error_description": description}
