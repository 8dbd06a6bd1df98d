"""Where a shop's Admin endpoints live: `SHOPIFY_ADMIN_BASE_URL` with `{shop}` filled in.

In Azure the template is `https://{shop}`. Locally it names the emulator on loopback,
`http://127.0.0.1:{port}/{shop}`. Our own calls build their URLs from it (`admin_url`).
Shopify's `shopify_app` package builds `https://{shop}/admin/...` itself and takes no base
URL, but it accepts an `httpx.Client`: `admin_http_client()` gives it one whose transport
sends each request to the origin the template names for that request's shop. With the
default template that is the very URL the package built, so nothing changes in Azure.
"""

from __future__ import annotations

import httpx

from shared.db.shops import check_shop_domain
from shared.settings import get_settings

DEFAULT_TEMPLATE = "https://{shop}"
TIMEOUT_SECONDS = 15.0


def admin_origin(shop: str, template: str | None = None) -> str:
    """The shop's Admin origin (no trailing slash). The shop name is checked before any URL is built."""
    template = template or get_settings().shopify_admin_base_url
    if "{shop}" not in template:
        raise ValueError("SHOPIFY_ADMIN_BASE_URL must contain {shop}")
    return template.format(shop=check_shop_domain(shop)).rstrip("/")


def admin_url(shop: str, path: str) -> str:
    return admin_origin(shop) + path


class AdminOriginTransport(httpx.BaseTransport):
    """Routes `https://{shop}/...` to `admin_origin(shop)/...`; refuses any host that is not a shop."""

    def __init__(self, template: str, inner: httpx.BaseTransport | None = None) -> None:
        self._template = template
        self._inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        origin = httpx.URL(admin_origin(request.url.host, self._template))
        target = request.url.copy_with(
            scheme=origin.scheme, host=origin.host, port=origin.port,
            raw_path=origin.raw_path.rstrip(b"/") + request.url.raw_path,
        )
        headers = [(name, value) for name, value in request.headers.raw if name.lower() != b"host"]
        routed = httpx.Request(request.method, target, headers=headers, content=request.read(),
                               extensions=request.extensions)
        return self._inner.handle_request(routed)

    def close(self) -> None:
        self._inner.close()


def admin_http_client(timeout: float = TIMEOUT_SECONDS) -> httpx.Client:
    """A client for the `shopify_app` package's calls to a shop: routed by the template, no redirects."""
    template = get_settings().shopify_admin_base_url
    transport = None if template == DEFAULT_TEMPLATE else AdminOriginTransport(template)
    return httpx.Client(
        transport=transport,
        timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
        follow_redirects=False,
    )
