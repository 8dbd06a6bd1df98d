"""The id prefixes app/uninstalled terminates by are those scheduling gives the shop's runs, and only that shop's."""

from __future__ import annotations

from datetime import datetime, timezone

from shared.run_termination import run_instance_prefixes
from shared.scheduling import daily_instance_id, manual_instance_id


def test_the_prefixes_match_every_run_of_the_shop_and_no_other_shops():
    now = datetime.now(timezone.utc)
    shop, neighbour = "hazel.myshopify.com", "hazel-2.myshopify.com"
    daily, manual = run_instance_prefixes(shop)
    assert daily_instance_id(shop, now).startswith(daily)
    assert manual_instance_id(shop, now).startswith(manual)
    assert f"{daily_instance_id(shop, now)}:fetch_trends".startswith(daily)  # a market-signal child
    assert not any(daily_instance_id(neighbour, now).startswith(p) or manual_instance_id(neighbour, now).startswith(p)
                   for p in (daily, manual))
