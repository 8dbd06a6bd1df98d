"""The shop's profile read at install: name, currency and the country Trends is read for."""

from __future__ import annotations

import asyncio
from datetime import date

from shared.db.pool import transaction
from shared.db.shops import update_shop_profile, upsert_shop
from shared.local.sample_store import generate_store
from shared.local.shopify_emulator import ShopifyEmulator
from shared.settings import get_settings
from shared.shopify.shop_profile import fetch_shop_profile

TOKEN = "shpat_profile_token"


def test_the_profile_names_the_shops_country(monkeypatch, restore_environment):
    store = generate_store(n_products=3, as_of=date(2026, 11, 28))
    with ShopifyEmulator() as emulator:
        emulator.add_shop(store, TOKEN, plan="standard")
        monkeypatch.setenv("SHOPIFY_ADMIN_BASE_URL", emulator.admin_base_url_template)
        get_settings.cache_clear()
        profile = asyncio.run(fetch_shop_profile(store.domain, TOKEN))
    assert (profile.name, profile.currency, profile.country) == (store.name, "GBP", "GB")


def test_an_unknown_country_keeps_the_stored_one(db):
    with transaction() as conn:
        shop_id = upsert_shop(conn, "profile-country.myshopify.com", name=None, currency="EUR",
                              access_token_ciphertext=None, token_key_id=None, scopes=None).id
        update_shop_profile(conn, shop_id, name="Profile", currency="EUR", country="IE")
        update_shop_profile(conn, shop_id, name="Profile", currency="EUR", country=None)
        row = conn.execute("SELECT country, currency FROM shops WHERE id = %s", (shop_id,)).fetchone()
    assert (row["country"], row["currency"]) == ("IE", "EUR")
