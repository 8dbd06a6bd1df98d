"""Price extraction against the product-page benchmark: accuracy and speed, with a baseline.

    .venv/bin/python benchmarks/price_extraction.py [--data DIR] [--rounds N] [--show-errors]

Scoring and timing are those of `shared.market.extraction.evaluation` (the benchmark's own
matching rule), which `python -m shared.cli extract-price --eval DIR` uses too.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.market.extraction import extract_price, load_json_ld, parse_amount  # noqa: E402
from shared.market.extraction.evaluation import layered, load_pages, run, score  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("PRODUCT_PAGES_DIR", "/work/shared/data/product-pages"))


def json_ld_only(html: str, url: str | None = None) -> Decimal | None:
    """Baseline: the first schema.org Product's offers.price (or lowPrice) in JSON-LD."""
    for script in LexborHTMLParser(html).css("script[type*='ld+json' i]"):
        for document in load_json_ld(script.text()):
            stack = [document]
            while stack:
                node = stack.pop(0)
                if isinstance(node, list):
                    stack.extend(node)
                    continue
                if not isinstance(node, dict):
                    continue
                if "@graph" in node:
                    stack.extend(node["@graph"] if isinstance(node["@graph"], list) else [node["@graph"]])
                offers = node.get("offers")
                for offer in offers if isinstance(offers, list) else [offers]:
                    if isinstance(offer, dict):
                        amount, _ = parse_amount(offer.get("price", offer.get("lowPrice")), structured=True)
                        if amount is not None:
                            return amount
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the figure claims

    truth, pages = load_pages(args.data)
    rows = []
    results = {}
    for name, extractor in (("JSON-LD only (baseline)", json_ld_only), ("layered extract_price", layered)):
        predictions, pages_per_second = run(extractor, truth, pages, args.rounds)
        results[name] = predictions
        rows.append((name, score(truth, predictions), pages_per_second))

    print(f"{len(pages)} pages, {sum(bool(t.get('price')) for t in truth.values())} with a price; one core")
    print(f"{'extractor':<26}{'F1':>7}{'prec.':>8}{'recall':>8}{'TP':>5}{'FP':>5}{'FN':>5}{'pages/s':>10}")
    for name, metrics, speed in rows:
        print(
            f"{name:<26}{metrics.f1:>7.3f}{metrics.precision:>8.3f}{metrics.recall:>8.3f}"
            f"{metrics.tp:>5}{metrics.fp:>5}{metrics.fn:>5}{speed:>10.1f}"
        )
    sources = Counter(
        (extract_price(html, truth[page_id].get("url")).source or "none") for page_id, html in pages.items()
    )
    print("layered, by source:", ", ".join(f"{source}={count}" for source, count in sources.most_common()))

    if args.show_errors:
        for page_id, html in pages.items():
            accepted = truth[page_id].get("price", [])
            result = extract_price(html, truth[page_id].get("url"))
            if result.price is None and not accepted:
                continue
            if result.price is None or result.price not in {Decimal(v) for v in accepted}:
                print(
                    f"  {page_id[:10]} expected {accepted} got {result.price} {result.currency} "
                    f"via {result.source} ({result.availability}) {truth[page_id].get('url', '')[:70]}"
                )


if __name__ == "__main__":
    main()
