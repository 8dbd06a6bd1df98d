"""The transport that lets Shopify's package reach the origin SHOPIFY_ADMIN_BASE_URL names."""

from __future__ import annotations

import httpx
import pytest

from shared.shopify.admin_origin import AdminOriginTransport


def routed_through(template: str, url: str) -> httpx.Request:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    with httpx.Client(transport=AdminOriginTransport(template, httpx.MockTransport(answer))) as client:
        client.post(url, json={"grant_type": "refresh_token"}, headers={"User-Agent": "shopifyapp v1"})
    [request] = seen
    return request


def test_a_shop_url_goes_to_the_templates_origin_with_path_body_and_headers_kept():
    request = routed_through("http://127.0.0.1:8123/{shop}", "https://demo.myshopify.com/admin/oauth/access_token")
    assert str(request.url) == "http://127.0.0.1:8123/demo.myshopify.com/admin/oauth/access_token"
    assert request.headers["host"] == "127.0.0.1:8123"
    assert request.headers["user-agent"] == "shopifyapp v1"
    assert request.content == b'{"grant_type":"refresh_token"}'


@pytest.mark.parametrize("host", ["evil.com", "demo.myshopify.com.evil.com", "xn--dmo-xma.myshopify.co"])
def test_a_host_that_is_not_a_shop_is_refused_before_any_request(host):
    with pytest.raises(ValueError):
        routed_through("http://127.0.0.1:8123/{shop}", f"https://{host}/admin/oauth/access_token")
