"""One keyword per product group: the merchant's override, the product type, or the title."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from shared.db.pool import transaction
from shared.local.trends_standin import TrendsStandIn
from shared.market.trend_keywords import (
    keyword_for,
    keyword_from_title,
    normalise_keyword,
    product_keywords,
    set_trend_keyword,
    shop_keywords,
)


def test_keywords_are_normalised_and_taken_in_order_override_type_title():
    assert normalise_keyword("  Tea-Towels & Aprons!! ") == "tea towels and aprons"
    assert normalise_keyword("MUGS") == normalise_keyword("mugs ") == "mugs"
    assert normalise_keyword("!!!") is None
    assert keyword_from_title("Speckled Stoneware Mug 350ml, Blue") == "stoneware mug blue"
    assert keyword_for(override=" Coffee Mugs ", product_type="Kitchen", title="Mug") == "coffee mugs"
    assert keyword_for(override=None, product_type="Kitchen", title="Mug") == "kitchen"
    assert keyword_for(override=None, product_type=" ", title="Large Oak Chopping Board 40cm") == "oak chopping board"


@pytest.fixture
def shop(db):
    domain = f"kw-{uuid.uuid4().hex[:10]}.myshopify.com"
    products = [("Speckled Mug", "Mugs", 3), ("Plain Mug", "mugs", 1), ("Beeswax Pillar Candle", None, 2),
                ("Linen Apron", "Aprons", 1)]
    with transaction() as conn:
        shop_id = conn.execute("INSERT INTO shops (domain, currency, country) VALUES (%s, 'EUR', 'IE') RETURNING id",
                               (domain,)).fetchone()["id"]
        ids = []
        for n, (title, product_type, variants) in enumerate(products):
            product_id = conn.execute(
                "INSERT INTO products (shop_id, shopify_id, title, product_type, handle) VALUES (%s, %s, %s, %s, %s) "
                "RETURNING id", (shop_id, f"p{n}", title, product_type, title.lower().replace(" ", "-"))).fetchone()["id"]
            ids.append(product_id)
            for v in range(variants):
                conn.execute("INSERT INTO variants (shop_id, product_id, shopify_id, sku, price) VALUES (%s, %s, %s, %s, 5)",
                             (shop_id, product_id, f"v{n}-{v}", f"SKU-{n}-{v}"))
    return domain, shop_id, ids


def test_products_group_by_keyword_and_the_merchant_can_override_one(shop):
    _, shop_id, ids = shop
    with transaction() as conn:
        assert shop_keywords(conn, shop_id, limit=20) == ["mugs", "beeswax pillar candle", "aprons"]
        set_trend_keyword(conn, shop_id, ids[3], "Kitchen Aprons")
        assert product_keywords(conn, shop_id)[ids[3]] == "kitchen aprons"
        assert shop_keywords(conn, shop_id, limit=2) == ["mugs", "beeswax pillar candle"]
        with pytest.raises(LookupError):
            set_trend_keyword(conn, shop_id + 10_000, ids[0], "x")
        set_trend_keyword(conn, shop_id, ids[3], None)
        assert product_keywords(conn, shop_id)[ids[3]] == "aprons"


def test_the_trends_step_asks_for_the_shops_groups_in_the_shops_country(shop, restore_environment, monkeypatch):
    from activities.fetch_trends import _fetch
    from activities.step import StepInput
    from shared.settings import get_settings

    domain, shop_id, _ = shop
    with TrendsStandIn(today=date.today()) as standin:
        monkeypatch.setenv("TRENDS_BASE_URL", standin.base_url)
        monkeypatch.setenv("TRENDS_PAUSE_SECONDS", "0")
        get_settings.cache_clear()
        with transaction() as conn:
            conn.execute("INSERT INTO pipeline_runs (id, shop_id, trigger, status, started_at) VALUES (%s, %s, 'test', 'running', %s)",
                         (f"run-kw-{shop_id}", shop_id, datetime.now(UTC)))
        summary = _fetch(StepInput(shop=domain, run_id=f"run-kw-{shop_id}"))
    assert summary.status == "ok" and summary.counts["keywords"] == 3
    assert standin.geos == ["IE"]
    asked = [k for endpoint, k in standin.requests if endpoint == "multiline"]
    assert asked == [("gift", "mugs", "beeswax pillar candle", "aprons")]


def test_the_command_line_sets_and_clears_a_products_keyword(shop, capsys):
    from shared.cli import main

    domain, shop_id, ids = shop
    assert main(["trend-keyword", "linen-apron", "Kitchen Aprons", "--shop", domain]) == 0
    assert "'kitchen aprons'" in capsys.readouterr().out
    with transaction() as conn:
        assert product_keywords(conn, shop_id)[ids[3]] == "kitchen aprons"
    assert main(["trend-keyword", "linen-apron", "--clear", "--shop", domain]) == 0
    assert main(["trend-keyword", "no-such-thing", "x", "--shop", domain]) == 1
    assert "no product with handle 'no-such-thing'" in capsys.readouterr().err
    with transaction() as conn:
        assert product_keywords(conn, shop_id)[ids[3]] == "aprons"
