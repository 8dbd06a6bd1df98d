"""`python -m shared.cli recommend`: the pricing engine on a CSV, without a shop.

Input columns (header names, any order; an empty cell means unknown):

    sku, price, cost, inventory, units_30d, competitor_min, competitor_median,
    competitor_max, trend_slope                      required columns
    map_price, compare_at_price, competitor_count, elasticity     optional columns

The output is the input (every column, in order) plus `recommended_price, change_pct,
confidence, reasons, explanation`. Bad input stops the run with every problem listed by
row and column, and no output file is written: the output goes to a temporary file in the
same folder that replaces the target only when it is complete.
"""

from __future__ import annotations

import csv
import io
import math
import os
import tempfile
import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from shared.csv_problems import CsvProblem
from shared.pricing.engine import SALES_WINDOW_DAYS, PricingArrays, compute_prices, explanations
from shared.pricing.explain import REASON_BIT, REASON_ORDER
from shared.pricing.policy import PricingPolicy

REQUIRED_COLUMNS = ("sku", "price", "cost", "inventory", "units_30d", "competitor_min", "competitor_median",
                    "competitor_max", "trend_slope")
OPTIONAL_COLUMNS = ("map_price", "compare_at_price", "competitor_count", "elasticity")
OUTPUT_COLUMNS = ("recommended_price", "change_pct", "confidence", "reasons", "explanation")
MAX_PROBLEMS_SHOWN = 25

# column -> (decimal places allowed or None for any, may be negative)
_NUMBER_RULES: dict[str, tuple[int | None, bool]] = {
    "price": (2, False), "cost": (4, False), "inventory": (0, True), "units_30d": (None, False),
    "competitor_min": (2, False), "competitor_median": (2, False), "competitor_max": (2, False),
    "trend_slope": (None, True), "map_price": (2, False), "compare_at_price": (2, False),
    "competitor_count": (0, False), "elasticity": (None, True),
}


def _problem(row: int, column: str | None, reason: str) -> CsvProblem:
    return CsvProblem(row=row, column=column, reason=reason)


class RecommendCsvError(Exception):
    """The input or the settings cannot be used; nothing was written."""

    retryable = False

    def __init__(self, problems: list[CsvProblem]):
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems[:MAX_PROBLEMS_SHOWN])
        more = len(problems) - MAX_PROBLEMS_SHOWN
        super().__init__(f"{len(problems)} problem(s):\n{shown}" + (f"\n  ... and {more} more" if more > 0 else ""))


class SettingsFileError(Exception):
    retryable = False


def load_settings_file(path: Path) -> PricingPolicy:
    """A TOML file of shop settings: the keys of `PricingPolicy` (strategy = "undercut",
    strategy_pct = 2, min_margin_pct = 25, rounding = ".95", excluded = ["SKU-1"], and a
    [map_prices] table of SKU = price)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsFileError(f"{path}: cannot read the settings file ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsFileError(f"{path}: not valid TOML ({exc})") from None
    if "map_prices" in data:
        if not isinstance(data["map_prices"], dict):
            raise SettingsFileError(f"{path}: map_prices must be a table of SKU = price")
        data["map_prices"] = {str(k): Decimal(str(v)) for k, v in data["map_prices"].items()}
    if "excluded" in data:
        data["excluded"] = frozenset(str(x) for x in data["excluded"])
    try:
        return PricingPolicy.model_validate(data)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise SettingsFileError(f"{path}: {details}") from None


def _number(text: str, column: str, row: int, problems: list[CsvProblem]) -> float:
    text = text.strip()
    if not text:
        return math.nan
    try:
        value = Decimal(text)
    except InvalidOperation:
        problems.append(_problem(row, column, f"{text!r} is not a number"))
        return math.nan
    if not value.is_finite():
        problems.append(_problem(row, column, f"{text!r} is not a finite number"))
        return math.nan
    places, negative_ok = _NUMBER_RULES[column]
    if value < 0 and not negative_ok:
        problems.append(_problem(row, column, f"{text} is negative; it must be 0 or more"))
        return math.nan
    if abs(value) >= Decimal("1e10"):
        problems.append(_problem(row, column, f"{text} is too large"))
        return math.nan
    if places is not None and value != value.quantize(Decimal(1).scaleb(-places)):
        allowed = "a whole number" if places == 0 else f"at most {places} decimal places"
        problems.append(_problem(row, column, f"{text} must be {allowed}" if places == 0 else f"{text} must have {allowed}"))
        return math.nan
    return float(value)


@dataclass(frozen=True)
class ParsedInput:
    header: list[str]
    rows: list[list[str]]
    arrays: PricingArrays


def parse_input(text: str, policy: PricingPolicy) -> ParsedInput:
    """Validated columns as engine arrays; RecommendCsvError lists every problem found."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise RecommendCsvError([_problem(1, None, "the file is empty; it needs a header line")]) from None
    problems = [_problem(1, c, "required column is missing") for c in REQUIRED_COLUMNS if c not in header]
    duplicated = sorted({h for h in header if header.count(h) > 1 and h})
    problems += [_problem(1, c, "column appears more than once") for c in duplicated]
    if problems:
        raise RecommendCsvError(problems)
    position = {name: header.index(name) for name in header if name}
    rows = [r for r in reader if any(cell.strip() for cell in r)]
    numbers = {c: np.full(len(rows), np.nan) for c in (*REQUIRED_COLUMNS[1:], *OPTIONAL_COLUMNS)}
    seen_skus: dict[str, int] = {}
    for i, cells in enumerate(rows):
        line = i + 2
        if len(cells) != len(header):
            problems.append(_problem(line, None, f"has {len(cells)} cells, the header has {len(header)}"))
            continue
        sku = cells[position["sku"]].strip()
        if not sku:
            problems.append(_problem(line, "sku", "is empty; every row needs a SKU"))
        elif sku in seen_skus:
            problems.append(_problem(line, "sku", f"{sku!r} repeats row {seen_skus[sku]}"))
        else:
            seen_skus[sku] = line
        for column in numbers:
            if column in position:
                numbers[column][i] = _number(cells[position[column]], column, line, problems)
        cmin, cmed, cmax = (numbers[c][i] for c in ("competitor_min", "competitor_median", "competitor_max"))
        known = [v for v in (cmin, cmed, cmax) if not math.isnan(v)]
        if any(v == 0 for v in known):
            problems.append(_problem(line, "competitor_min", "competitor prices must be above 0"))
        if not (math.isnan(cmin) or math.isnan(cmed) or math.isnan(cmax)) and not cmin <= cmed <= cmax:
            problems.append(_problem(line, "competitor_median", f"needs competitor_min <= competitor_median <= "
                                                               f"competitor_max, got {cmin:g}, {cmed:g}, {cmax:g}"))
        if not math.isnan(numbers["elasticity"][i]) and numbers["elasticity"][i] > 0:
            problems.append(_problem(line, "elasticity", "must be 0 or negative (demand falls as the price rises)"))
    if problems:
        raise RecommendCsvError(problems)

    # A partial competitor summary is completed from what is there: the median of a
    # known min and max is their midpoint, a missing min or max is the closest known value.
    cmin, cmed, cmax = numbers["competitor_min"], numbers["competitor_median"], numbers["competitor_max"]
    cmed = np.where(np.isnan(cmed), (cmin + cmax) / 2, cmed)
    cmed = np.where(np.isnan(cmed), np.fmax(cmin, cmax), cmed)
    cmin = np.where(np.isnan(cmin), cmed, cmin)
    cmax = np.where(np.isnan(cmax), cmed, cmax)
    has_comp = ~np.isnan(cmed)
    # Without a count, the fewest prices the summary implies: two if min < max, else one.
    implied = np.where(cmin < cmax, 2, 1)
    count = np.where(np.isnan(numbers["competitor_count"]), implied, numbers["competitor_count"])
    count = np.where(has_comp, np.maximum(count, 1), 0).astype(np.int64)
    price = numbers["price"]
    skus = [cells[position["sku"]].strip() for cells in rows]
    excluded = np.array([s in policy.excluded for s in skus], dtype=bool)
    shop_map = np.array([float(policy.map_prices[s]) if s in policy.map_prices else np.nan for s in skus])
    arrays = PricingArrays(
        current_cents=np.where(np.isnan(price), -1, np.round(np.nan_to_num(price) * 100)).astype(np.int64),
        cost=numbers["cost"],
        competitor_min=cmin, competitor_median=cmed, competitor_max=cmax,
        competitor_count=count,
        competitor_age_hours=np.full(len(rows), np.nan),
        map_price=np.fmax(numbers["map_price"], shop_map),
        compare_at=numbers["compare_at_price"],
        excluded=excluded,
        stock=numbers["inventory"],
        units_28d=numbers["units_30d"] * SALES_WINDOW_DAYS / 30.0,
        trend_slope=numbers["trend_slope"],
        elasticity=numbers["elasticity"],
    )
    return ParsedInput(header=header, rows=rows, arrays=arrays)


def _cents_text(cents: int) -> str:
    return "" if cents < 0 else f"{cents // 100}.{cents % 100:02d}"


def recommend_rows(parsed: ParsedInput, policy: PricingPolicy) -> list[list[str]]:
    decisions = compute_prices(parsed.arrays, policy)
    lines = explanations(parsed.arrays, decisions, policy)
    change = decisions.change_pct
    codes_by_bits: dict[int, str] = {}
    out = []
    for i, cells in enumerate(parsed.rows):
        bits = int(decisions.reason_bits[i])
        if bits not in codes_by_bits:
            codes_by_bits[bits] = " ".join(c.value for c in REASON_ORDER if bits & REASON_BIT[c])
        out.append([*cells, _cents_text(int(decisions.recommended_cents[i])),
                    "" if math.isnan(change[i]) else f"{change[i]:.2f}", f"{decisions.confidence[i]:.3f}",
                    codes_by_bits[bits], lines[i]])
    return out


def write_atomically(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """Write next to `path` and rename over it: a reader never sees half a file."""
    path = path.resolve()
    handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="", dir=path.parent,
                                         prefix=f".{path.name}.", suffix=".tmp", delete=False)
    try:
        with handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def run(input_path: Path, output_path: Path, settings_path: Path | None = None) -> int:
    """Read, recommend, write; returns the number of rows. Raises the errors above."""
    policy = load_settings_file(settings_path) if settings_path else PricingPolicy()
    try:
        text = input_path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RecommendCsvError([_problem(1, None, "the file is not UTF-8 text")]) from None
    parsed = parse_input(text, policy)
    rows = recommend_rows(parsed, policy)
    write_atomically(output_path, [*parsed.header, *OUTPUT_COLUMNS], rows)
    return len(rows)
