from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.briefing.links import BriefingLinkError, briefing_link, verify_briefing_link
from shared.secrets import reset_secret_store
from shared.settings import get_settings

SHOP = "a-shop.myshopify.com"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def client_secret(monkeypatch):
    monkeypatch.setenv("SHOPIFY_CLIENT_SECRET", "current-secret")
    monkeypatch.delenv("SHOPIFY_CLIENT_SECRET_PREVIOUS", raising=False)
    get_settings.cache_clear()
    reset_secret_store()
    yield
    get_settings.cache_clear()
    reset_secret_store()


def parts(url: str) -> tuple[str, str]:
    query = parse_qs(urlsplit(url).query)
    return query["expires"][0], query["sig"][0]


def test_a_fresh_link_opens_only_its_own_shop():
    expires, sig = parts(briefing_link(SHOP, NOW))
    verify_briefing_link(SHOP, expires, sig, NOW + timedelta(hours=1))
    with pytest.raises(BriefingLinkError, match="signature"):
        verify_briefing_link("other-shop.myshopify.com", expires, sig, NOW)


def test_expired_tampered_and_missing_links_are_refused():
    expires, sig = parts(briefing_link(SHOP, NOW, valid_for=timedelta(hours=1)))
    with pytest.raises(BriefingLinkError, match="expired"):
        verify_briefing_link(SHOP, expires, sig, NOW + timedelta(hours=2))
    with pytest.raises(BriefingLinkError, match="signature"):
        verify_briefing_link(SHOP, str(int(expires) + 3600), sig, NOW)  # a longer life, same signature
    with pytest.raises(BriefingLinkError, match="signature"):
        verify_briefing_link(SHOP, expires, sig[:-1] + ("0" if sig[-1] != "0" else "1"), NOW)
    with pytest.raises(BriefingLinkError, match="signed link"):
        verify_briefing_link(SHOP, None, None, NOW)
    with pytest.raises(BriefingLinkError, match="not a number"):
        verify_briefing_link(SHOP, "soon", sig, NOW)


def test_links_survive_a_client_secret_rotation(monkeypatch):
    expires, sig = parts(briefing_link(SHOP, NOW))
    monkeypatch.setenv("SHOPIFY_CLIENT_SECRET", "new-secret")
    monkeypatch.setenv("SHOPIFY_CLIENT_SECRET_PREVIOUS", "current-secret")
    get_settings.cache_clear()
    reset_secret_store()
    verify_briefing_link(SHOP, expires, sig, NOW)
    monkeypatch.delenv("SHOPIFY_CLIENT_SECRET_PREVIOUS")
    get_settings.cache_clear()
    reset_secret_store()
    with pytest.raises(BriefingLinkError):
        verify_briefing_link(SHOP, expires, sig, NOW)
