"""A shop's pricing settings: the app's defaults under the shop's own overrides (shops.pricing_settings)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from shared.db.shops import Shop
from shared.pricing import Position, Rounding, Strategy
from shared.pricing.inputs import shop_policy
from shared.settings import Settings


def shop(**pricing_settings) -> Shop:
    return Shop(id=1, domain="x.myshopify.com", name="X", currency="EUR", status="active",
                pricing_settings=pricing_settings, token_key_id=None, has_access_token=False,
                last_sync_at=None, last_full_sync_at=None)


def test_defaults_come_from_settings_and_the_shop_currency():
    policy = shop_policy(shop(), Settings(pricing_min_margin_pct=35, pricing_overstock_days=90))
    assert policy.min_margin_pct == 35 and policy.overstock_days == 90 and policy.currency == "EUR"
    assert policy.strategy is Strategy.MATCH and policy.position is Position.MEDIAN


def test_shop_overrides_win_including_strategy_map_and_exclusions():
    policy = shop_policy(shop(strategy="premium", strategy_pct=4, position="min", rounding="whole",
                              map_prices={"SKU-1": "12.50"}, excluded=["SKU-2", 42], low_stock_days=7,
                              currency="USD", unknown_key=1),
                         Settings(pricing_offset_pct=-3))
    assert policy.offset_pct == 4 and policy.strategy is Strategy.PREMIUM and policy.position is Position.MIN
    assert policy.rounding is Rounding.WHOLE and policy.low_stock_days == 7
    assert policy.map_prices == {"SKU-1": Decimal("12.50")} and policy.excluded == frozenset({"SKU-2", "42"})
    assert policy.currency == "EUR"  # the shop's currency is not a pricing setting


def test_an_invalid_override_is_refused_naming_it():
    with pytest.raises(ValidationError, match="max_change_pct"):
        shop_policy(shop(max_change_pct=0), Settings())
    with pytest.raises(ValidationError, match="strategy_pct"):
        shop_policy(shop(strategy="undercut", strategy_pct=-2), Settings())
