"""`python -m shared.cli backtest`: the sample store's year replayed under the engine."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from shared.local.backtest import run_backtest
from shared.local.sample_store import CATEGORIES

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def result():
    return run_backtest(as_of=datetime(2026, 11, 29, tzinfo=timezone.utc))


def test_the_numbers_are_sane(result):
    # The planted expectation at the prices really charged agrees with the recorded orders
    # (which add noise, refunds and cancellations) to within a few percent.
    assert result.actual_profit_recorded == pytest.approx(result.actual_profit_expected, rel=0.12)
    # The engine moves prices within its 10 % weekly limit: the outcome stays in the same range.
    assert 0.7 < result.engine_profit / result.actual_profit_expected < 1.3
    assert 0.5 < result.engine_units / result.actual_units_expected < 2.0
    assert result.price_changes > 0 and result.weeks == 40
    assert {c.category for c in result.categories} == {spec.key for spec in CATEGORIES}
    assert all(c.planted == next(s.elasticity for s in CATEGORIES if s.key == c.category) for c in result.categories)


def test_the_demand_rule_earns_more_than_the_history_where_competitors_are_left_out():
    # Without competitor prices the engine only acts where it learnt the demand (the price-
    # tested categories), moving them towards their most profitable price.
    alone = run_backtest(as_of=datetime(2026, 11, 29, tzinfo=timezone.utc), with_competitors=False)
    assert alone.engine_profit > alone.actual_profit_expected


def test_the_cli_prints_the_profit_comparison_and_the_elasticities():
    done = subprocess.run([sys.executable, "-m", "shared.cli", "backtest"], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    engine = re.search(r"engine policy \(planted demand\)\s+£([\d,]+\.\d\d)", out)
    actual = re.search(r"actual prices \(planted demand\)\s+£([\d,]+\.\d\d)", out)
    uplift = re.search(r"engine vs actual gross profit: ([+-]\d+\.\d)%", out)
    assert engine and actual and uplift, out
    e, a = (float(m.group(1).replace(",", "")) for m in (engine, actual))
    assert float(uplift.group(1)) == pytest.approx((e / a - 1) * 100, abs=0.051)
    for spec in CATEGORIES:
        assert re.search(rf"^{spec.key}\s+{spec.elasticity:.2f}\s+-\d\.\d\d", out, re.M), spec.key
