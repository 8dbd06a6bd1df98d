"""`python -m shared.cli recommend`: a CSV in, the same CSV with recommendations out, or a
clear error naming row and column and no output file at all."""

from __future__ import annotations

import csv
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEADER = "sku,price,cost,inventory,units_30d,competitor_min,competitor_median,competitor_max,trend_slope"


def run_cli(tmp_path: Path, body: str, settings: str | None = None, header: str = HEADER):
    source = tmp_path / "in.csv"
    source.write_text(header + "\n" + body, encoding="utf-8")
    out = tmp_path / "out.csv"
    command = [sys.executable, "-m", "shared.cli", "recommend", "--input", str(source), "--output", str(out)]
    if settings is not None:
        (tmp_path / "settings.toml").write_text(settings, encoding="utf-8")
        command += ["--settings", str(tmp_path / "settings.toml")]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    return done, out


def read(out: Path) -> list[dict[str, str]]:
    with out.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_recommends_each_row_keeping_the_input_columns(tmp_path):
    done, out = run_cli(tmp_path, "A,24.99,14.00,40,12,19.00,21.50,25.00,0.1,extra\n"
                                  "B,20.00,8.00,400,20,,,,,x\n"
                                  "C,19.99,,5,3,18,19,20,,y\n",
                        header=HEADER + ",note")
    assert done.returncode == 0, done.stderr
    rows = read(out)
    assert list(rows[0]) == HEADER.split(",") + ["note", "recommended_price", "change_pct", "confidence", "reasons",
                                                 "explanation"]
    a, b, c = rows
    assert a["note"] == "extra" and a["recommended_price"] == "22.99" and a["change_pct"] == "-8.00"
    assert a["reasons"].split() == ["MATCH_MEDIAN", "CLAMPED_MAX_CHANGE", "ROUNDED"]
    # 400 in stock at 20 a month is 560 days of cover at the 28-day pace: marked down 5 %.
    assert b["recommended_price"] == "18.99" and "OVERSTOCK_MARKDOWN" in b["reasons"]
    assert c["recommended_price"] == "" and c["reasons"] == "NO_COST" and "cost" in c["explanation"]


def test_settings_file_sets_strategy_rounding_and_map(tmp_path):
    settings = 'strategy = "undercut"\nstrategy_pct = 2\nrounding = ".95"\n[map_prices]\nF = 17.50\n'
    done, out = run_cli(tmp_path, "A,24.99,14.00,40,12,19.00,21.50,25.00,0.1\nF,18.99,5.00,30,30,14,15,16,\n", settings)
    assert done.returncode == 0, done.stderr
    a, f = read(out)
    assert a["recommended_price"] == "22.95" and "UNDERCUT" in a["reasons"]
    assert Decimal(f["recommended_price"]) >= Decimal("17.50") and "MAP_FLOOR" in f["reasons"]


@pytest.mark.parametrize("header, body, message", [
    (HEADER.replace(",units_30d", ""), "A,1,1,1,1,1,1,1\n", "row 1, column units_30d: required column is missing"),
    (HEADER, "A,1.00,0.50,1,1,,,,\nB,abc,0.50,1,1,,,,\n", "row 3, column price: 'abc' is not a number"),
    (HEADER, "A,1.00,-0.50,1,1,,,,\n", "row 2, column cost: -0.50 is negative"),
    (HEADER, "A,1.001,0.50,1,1,,,,\n", "row 2, column price: 1.001 must have at most 2 decimal places"),
    (HEADER, "A,1.00,0.50,1,1,3,2,1,\n", "row 2, column competitor_median: needs competitor_min <= competitor_median"),
    (HEADER, "A,1.00,0.50,1,1,,,,\nA,2.00,0.50,1,1,,,,\n", "row 3, column sku: 'A' repeats row 2"),
])
def test_bad_input_names_row_and_column_and_writes_nothing(tmp_path, header, body, message):
    done, out = run_cli(tmp_path, body, header=header)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr
    assert not out.exists()
    assert list(tmp_path.glob(".out.csv.*")) == []


def test_a_bad_input_leaves_an_earlier_output_untouched(tmp_path):
    (tmp_path / "out.csv").write_text("earlier\n", encoding="utf-8")
    done, out = run_cli(tmp_path, "A,1.00,nope,1,1,,,,\n")
    assert done.returncode != 0 and "row 2, column cost" in done.stderr
    assert out.read_text(encoding="utf-8") == "earlier\n"


def test_bad_settings_are_named_and_nothing_is_written(tmp_path):
    done, out = run_cli(tmp_path, "A,1.00,0.50,1,1,,,,\n", "max_change_pct = 500\n")
    assert done.returncode == 2 and "max_change_pct" in done.stderr and not out.exists()
    done, out = run_cli(tmp_path, "A,1.00,0.50,1,1,,,,\n", "colour = 'blue'\n")
    assert done.returncode == 2 and "colour" in done.stderr and not out.exists()
