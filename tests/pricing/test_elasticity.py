"""Elasticities learnt from sales: synthetic data with a known answer, and the sample store
against the values its generator planted."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from shared.local.backtest import StoreHistory
from shared.local.sample_store import CATEGORY_BY_KEY, generate_store
from shared.pricing.elasticity import BOUNDS, WeeklyPanel, estimate_elasticities, weekly_panel

AS_OF = datetime(2026, 11, 29, tzinfo=timezone.utc)


def synthetic_panel(elasticities: dict[str, float], moving: set[str], seed: int = 1, variants: int = 40,
                    weeks: int = 52, base: float = 3.0) -> WeeklyPanel:
    """Weekly Poisson sales with a shared Christmas-like season; only `moving` groups change price."""
    rng = np.random.default_rng(seed)
    names = tuple(sorted(elasticities))
    season = 0.6 * np.sin(np.arange(weeks) / weeks * 2 * np.pi) + np.where(np.arange(weeks) > 46, 0.8, 0.0)
    rows = []
    for g, name in enumerate(names):
        for v in range(variants):
            level = rng.lognormal(0, 0.5)
            if name in moving:
                price = 20.0 * np.exp(rng.choice([-0.25, 0.0, 0.25], size=weeks))
            else:
                price = np.full(weeks, 20.0)
            mu = base * level * (price / 20.0) ** elasticities[name] * np.exp(season)
            units = rng.poisson(mu)
            for w in range(weeks):
                rows.append((g * variants + v, g, w, units[w], price[w]))
    a = np.array(rows)
    return WeeklyPanel(variant=a[:, 0].astype(np.int64), group=a[:, 1].astype(np.int64),
                       week=a[:, 2].astype(np.int64), units=a[:, 3], price=a[:, 4], group_names=names, n_weeks=weeks)


def test_recovers_known_elasticities_despite_a_strong_season():
    truth = {"a": -0.6, "b": -1.5, "c": -2.5, "d": -1.0}
    estimates = estimate_elasticities(synthetic_panel(truth, moving=set(truth)))
    for name, planted in truth.items():
        group = estimates.by_group[name]
        assert group.source == "estimated"
        assert group.estimate == pytest.approx(planted, abs=0.15), (name, group)
        assert group.standard_error < 0.1


def test_a_group_whose_prices_never_moved_gets_the_prior():
    truth = {"a": -0.8, "b": -1.6, "c": -2.0, "flat": -3.0}
    estimates = estimate_elasticities(synthetic_panel(truth, moving={"a", "b", "c"}))
    flat = estimates.by_group["flat"]
    assert flat.source == "prior" and flat.raw_estimate is None and flat.standard_error is None
    assert flat.estimate == estimates.prior
    # The prior is the pooled estimate of the groups that were identified.
    assert -2.0 <= estimates.prior <= -0.8


def test_estimates_are_bounded():
    truth = {"a": -6.0, "b": -0.05, "c": -1.0}
    estimates = estimate_elasticities(synthetic_panel(truth, moving=set(truth)))
    for group in estimates.by_group.values():
        assert BOUNDS[0] <= group.estimate <= BOUNDS[1]
    assert estimates.by_group["a"].estimate == BOUNDS[0] and estimates.by_group["b"].estimate == BOUNDS[1]


@pytest.mark.parametrize("days_back", [0, 37, 74])
def test_sample_store_elasticities_match_the_planted_values_where_prices_were_tested(days_back):
    """The sample store sells ~550 units a year per category. Three categories run price tests
    (two-week blocks 25 % under and over the plan): their standard errors come out near 0.16,
    so they are estimated and must land within 0.3 of the planted values. The others moved
    their prices a little, too little to learn from at this volume, and get the prior. (Over
    twelve as-of dates 34 of 36 tested-category estimates fall within 0.3; the worst is 0.46.)"""
    store = generate_store(as_of=AS_OF - timedelta(days=days_back))
    estimates = estimate_elasticities(StoreHistory.of(store).panel(store.as_of))
    planted = store.truth.elasticity_by_category
    for name, group in estimates.by_group.items():
        if CATEGORY_BY_KEY[name].price_tests:
            assert group.source == "estimated", group
            assert abs(group.estimate - planted[name]) <= 0.3, (group, planted[name])
        else:
            assert group.source == "prior", group
            assert group.estimate == estimates.prior


@pytest.mark.parametrize("days_back", [0, 37, 74])
def test_sample_store_elasticities_from_order_lines_alone(days_back):
    """A freshly installed shop has no recorded prices: the panel is built from order lines
    only, as the pipeline does with an empty variant_price_history. Each variant sells ~14 units
    a year, so most weeks show no price; the group's repeat-sales index dates the category-wide
    price tests anyway. What it cannot date is a product repriced on its own, seen only at that
    product's next sale, and that still pulls the estimates ~20 % towards zero: the planted
    +-0.3 is NOT reached at this volume on every date. Over twelve as-of dates (0 to 333 days
    back every 37, and 14, 51) 17 of 36 tested-category estimates fall within 0.3 of the planted
    value and 30 within 0.5; the worst is 0.74 off (stationery -1.46 for -2.20, 37 days back).
    Carrying the last seen price instead gave 3 of 36 within 0.3, the worst 1.81 off. With ten
    times the orders every category is within 0.3 from order lines alone (the last test). So
    here, what holds on every date: each tested category is estimated, within 0.75 of the
    planted value, and their order is the planted one; the others get the prior.
    These windows start on the price tests' block boundaries; with the week grid shifted by
    1-5 days (a price change mid-week) the estimates fall further short (candles -0.5 to -1.0
    at 0 days back, see README); with recorded prices, -1.4 to -1.6."""
    store = generate_store(as_of=AS_OF - timedelta(days=days_back))
    history = StoreHistory.of(store)
    from_lines = history.panel(store.as_of, recorded_prices=False)
    estimates = estimate_elasticities(from_lines)
    planted = store.truth.elasticity_by_category
    tested = [name for name in estimates.by_group if CATEGORY_BY_KEY[name].price_tests]
    assert len(tested) == 3
    for name, group in estimates.by_group.items():
        if name in tested:
            assert group.source == "estimated", group
            assert abs(group.estimate - planted[name]) <= 0.75, (group, planted[name])
        else:
            assert group.source == "prior", group
            assert group.estimate == estimates.prior
    by_truth = sorted(tested, key=lambda name: planted[name])
    assert sorted(tested, key=lambda name: estimates.by_group[name].estimate) == by_truth
    # The panel really is the order lines' one: same variant-weeks and units as with the record,
    # and on the weeks a variant sold, the price it sold at.
    recorded = history.panel(store.as_of)
    assert from_lines.units.sum() == recorded.units.sum()
    sold = from_lines.units > 0
    assert not np.array_equal(from_lines.price[sold], recorded.price[_rows_of(recorded, from_lines)[sold]])


def _rows_of(panel: WeeklyPanel, other: WeeklyPanel) -> np.ndarray:
    """Index into `panel` of each (variant, week) row of `other`."""
    where = {(int(v), int(w)): i for i, (v, w) in enumerate(zip(panel.variant, panel.week))}
    return np.array([where[(int(v), int(w))] for v, w in zip(other.variant, other.week)])


def _lines(rows: list[tuple[int, int, float]], start: datetime) -> dict[str, np.ndarray]:
    """Order lines (variant, week, price), one unit each, on the Wednesday of the week."""
    return {
        "line_variant": np.array([r[0] for r in rows], dtype=np.int64),
        "line_time": np.array([(start + timedelta(weeks=r[1], days=2)).timestamp() for r in rows]),
        "line_units": np.ones(len(rows)),
        "line_price": np.array([r[2] for r in rows]),
    }


def test_an_unsold_week_takes_the_group_move_seen_on_other_variants():
    """Four variants in one group, all 20.00 then all cut to 15.00 from week 3 on; variant 0
    sells in weeks 0 and 6 only. Carrying its last price would keep it at 20.00 through weeks
    3-5; the other variants' sales date the cut."""
    start = datetime(2026, 1, 5, tzinfo=timezone.utc)
    rows = [(0, 0, 20.0), (0, 6, 15.0)]
    for v, weeks in ((1, (0, 1, 2, 3, 5, 7)), (2, (1, 2, 4, 5, 6)), (3, (0, 3, 4, 7))):
        rows += [(v, w, 20.0 if w < 3 else 15.0) for w in weeks]
    panel = weekly_panel(**_lines(rows, start), variant_group=np.zeros(4, dtype=np.int64),
                         variant_product=np.arange(4), group_names=("all",), start=start,
                         end=start + timedelta(weeks=8))
    prices = {int(w): float(p) for v, w, p in zip(panel.variant, panel.week, panel.price) if v == 0}
    assert [prices[w] for w in range(8)] == pytest.approx([20.0, 20.0, 20.0, 15.0, 15.0, 15.0, 15.0, 15.0], rel=0.01)


def test_a_product_repriced_alone_keeps_its_own_price_until_it_sells_again():
    """Variant 0 (its own product) is cut to 10.00 in week 2 while its group stays at 20.00:
    the group says nothing about that, so the cut shows from its next sale on; before the cut
    its weeks follow the group."""
    start = datetime(2026, 1, 5, tzinfo=timezone.utc)
    rows = [(0, 0, 20.0), (0, 4, 10.0)]
    rows += [(v, w, 20.0) for v in (1, 2) for w in range(8)]
    panel = weekly_panel(**_lines(rows, start), variant_group=np.zeros(3, dtype=np.int64),
                         variant_product=np.arange(3), group_names=("all",), start=start,
                         end=start + timedelta(weeks=8))
    prices = {int(w): float(p) for v, w, p in zip(panel.variant, panel.week, panel.price) if v == 0}
    assert [prices[w] for w in range(8)] == pytest.approx([20.0, 20.0, 20.0, 20.0, 10.0, 10.0, 10.0, 10.0], rel=0.01)


def test_variants_of_one_product_share_a_repricing():
    """Variants 0 and 1 are sizes of one product (10.00 and 20.00; both sold in weeks 0 and 7),
    both cut by half in week 3, a move the rest of the group does not make. Variant 1 sells in
    week 3: variant 0, which does not sell again until week 7, is taken as cut from week 3 too."""
    start = datetime(2026, 1, 5, tzinfo=timezone.utc)
    rows = [(0, 0, 10.0), (0, 7, 5.0), (1, 0, 20.0), (1, 1, 20.0), (1, 3, 10.0), (1, 7, 10.0)]
    rows += [(v, w, 30.0) for v in (2, 3, 4) for w in range(8)]
    panel = weekly_panel(**_lines(rows, start), variant_group=np.zeros(5, dtype=np.int64),
                         variant_product=np.array([0, 0, 1, 2, 3]), group_names=("all",), start=start,
                         end=start + timedelta(weeks=8))
    prices = {int(w): float(p) for v, w, p in zip(panel.variant, panel.week, panel.price) if v == 0}
    assert [prices[w] for w in range(8)] == pytest.approx([10.0, 10.0, 10.0, 5.0, 5.0, 5.0, 5.0, 5.0], rel=0.01)


def test_with_ten_times_the_orders_every_category_is_estimated_within_0_3():
    """With ten times the orders every category is estimated within 0.3, from the recorded
    prices and from the order lines alone."""
    busy = generate_store(as_of=AS_OF, annual_orders=20_000)
    history = StoreHistory.of(busy)
    planted = busy.truth.elasticity_by_category
    for recorded_prices in (True, False):
        estimates = estimate_elasticities(history.panel(busy.as_of, recorded_prices=recorded_prices))
        for name, group in estimates.by_group.items():
            assert group.source == "estimated", (recorded_prices, group)
            assert abs(group.estimate - planted[name]) <= 0.3, (recorded_prices, group, planted[name])
