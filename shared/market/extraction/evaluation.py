"""Scoring price extraction on a folder laid out like the product-extraction benchmark.

    DIR/ground-truth.json   {page_id: {"price": ["12.34", ...], "url": ..., ...}}
    DIR/html/<page_id>.html.gz

The matching rule is the benchmark's evaluate.py: per page, a predicted price equal to one of
the accepted decimals is a true positive; a wrong one is a false positive and, when the page
has a price, also a false negative; no prediction on a page with a price is a false negative.
Speed is pages per CPU-second of this process (HTML already decompressed, parsing included),
so other load on a shared machine does not count against it.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from shared.market.extraction.extract import extract_price


class EvaluationDataError(ValueError):
    """The folder is not laid out like the benchmark; the message says what is missing."""


@dataclass(frozen=True)
class Scores:
    pages: int
    with_price: int
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float


def read_html(path: Path) -> str:
    """A page file's text: `.html.gz` decompressed, undecodable bytes replaced."""
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return raw.decode("utf-8", errors="replace")


def load_pages(data_dir: Path) -> tuple[dict[str, dict], dict[str, str]]:
    """(ground truth by page id, HTML by page id) for every page the ground truth lists."""
    truth_file = data_dir / "ground-truth.json"
    if not truth_file.is_file():
        raise EvaluationDataError(f"{data_dir}: no ground-truth.json")
    try:
        truth = json.loads(truth_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise EvaluationDataError(f"{truth_file}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    pages = {}
    for page_id in sorted(truth):
        page_file = data_dir / "html" / f"{page_id}.html.gz"
        if not page_file.is_file():
            raise EvaluationDataError(f"{data_dir}: page {page_id} is in ground-truth.json but html/{page_file.name} is missing")
        pages[page_id] = read_html(page_file)
    return truth, pages


def _accepted(expected: dict) -> set[Decimal]:
    accepted = set()
    for value in expected.get("price") or []:
        try:
            accepted.add(Decimal(str(value)))
        except InvalidOperation:
            continue
    return accepted


def score(truth: dict[str, dict], predictions: dict[str, Decimal | None]) -> Scores:
    tp = fp = fn = 0
    for page_id, expected in truth.items():
        accepted = _accepted(expected)
        predicted = predictions.get(page_id)
        if predicted is None:
            fn += bool(accepted)
        elif predicted in accepted:
            tp += 1
        else:
            fp += 1
            fn += bool(accepted)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(len(truth), sum(bool(_accepted(t)) for t in truth.values()), tp, fp, fn, precision, recall, f1)


Extractor = Callable[[str, str | None], Decimal | None]


def layered(html: str, url: str | None = None) -> Decimal | None:
    return extract_price(html, url).price


def run(extractor: Extractor, truth: dict[str, dict], pages: dict[str, str], rounds: int = 3
        ) -> tuple[dict[str, Decimal | None], float]:
    """(predictions, pages per CPU-second): one pass for the answers, `rounds` timed passes."""
    predictions = {page_id: extractor(html, truth[page_id].get("url")) for page_id, html in pages.items()}
    started = time.process_time()
    for _ in range(rounds):
        for page_id, html in pages.items():
            extractor(html, truth[page_id].get("url"))
    elapsed = max(time.process_time() - started, 1e-9)
    return predictions, len(pages) * rounds / elapsed


def evaluate(data_dir: Path, rounds: int = 3) -> tuple[Scores, float]:
    truth, pages = load_pages(data_dir)
    predictions, pages_per_second = run(layered, truth, pages, rounds)
    return score(truth, predictions), pages_per_second
