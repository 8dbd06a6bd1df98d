"""Social signals are a mock, and say so everywhere."""

from __future__ import annotations

from datetime import date

import pytest

from shared.db.pool import transaction
from shared.market.social import mock_social_signal, run_day, store_social_signals

from market_fixtures import make_shop


def test_mock_values_are_deterministic_labelled_and_in_range():
    first = mock_social_signal(1, 42, date(2026, 11, 29))
    assert first == mock_social_signal(1, 42, date(2026, 11, 29))
    assert first.is_mock is True
    others = [mock_social_signal(1, 42, date(2026, 11, d)) for d in range(1, 29)]
    assert len({(s.mentions, s.sentiment) for s in others}) > 20  # it varies by day
    assert all(s.mentions >= 0 and -1 <= s.sentiment <= 1 for s in others)


def test_run_day_comes_from_the_run_id():
    assert run_day("daily-shop.myshopify.com-2026-11-29") == date(2026, 11, 29)
    assert run_day("manual", default=date(2026, 1, 2)) == date(2026, 1, 2)


@pytest.mark.usefixtures("db")
def test_stored_rows_are_marked_mock_and_the_summary_says_mocked():
    shop = make_shop(products=3)
    run_id = "daily-x.myshopify.com-2026-11-29"
    summary = store_social_signals(shop.shop_id, run_id)
    again = store_social_signals(shop.shop_id, run_id)  # a retried step
    assert summary == again
    assert summary.mocked is True and summary.model_dump()["mocked"] is True and summary.counts()["mocked"] is True
    assert "mock" in summary.notice.lower()
    assert (summary.products, summary.stored) == (3, 3)
    with transaction() as conn:
        rows = conn.execute("SELECT product_id, mentions, is_mock FROM social_signals WHERE run_id = %s AND shop_id = %s",
                            (run_id, shop.shop_id)).fetchall()
    assert len(rows) == 3 and all(row["is_mock"] for row in rows)
    assert sum(row["mentions"] for row in rows) == summary.total_mentions


def test_the_provider_interface_and_its_mock_say_they_are_mocked():
    from shared.market.social import MockSocialProvider, SocialSignalProvider

    provider: SocialSignalProvider = MockSocialProvider()
    assert provider.is_mock and provider.name == "mock"
    signals = provider.signals(7, [(1, "Mug"), (2, "Board")], date(2026, 11, 29))
    assert [s.product_id for s in signals] == [1, 2] and all(s.is_mock for s in signals)
    assert signals[0] == mock_social_signal(7, 1, date(2026, 11, 29))
