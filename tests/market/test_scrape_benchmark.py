"""`bench scrape` runs end to end on a small scale (the timing itself is the benchmark's to print)."""

from __future__ import annotations

from benchmarks.scrape import run_benchmark


def test_a_small_scrape_benchmark_fetches_and_prices_every_page_politely():
    lines: list[str] = []
    run_benchmark(urls=24, domains=3, interval=0.05, concurrency=3, progress=lines.append)
    text = "\n".join(lines)
    assert "requests: 27 (3 robots.txt + 24 pages); pages priced: 24" in text
    assert "least time the politeness rules allow: 0.40 s (8 intervals on the busiest domain)" in text
    mean_gap = float(text.split("smallest over the domains: ")[1].split(" s")[0])
    assert mean_gap >= 0.04  # the interval kept (as the sites stamped them; a loaded machine may stamp late)
    assert "ratio " in text and text.splitlines()[-1] in ("PASS", "FAIL")
