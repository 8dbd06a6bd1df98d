"""`python -m shared.cli extract-price`: one JSON line per page file, and scores on a benchmark folder."""

from __future__ import annotations

import gzip
import json

from shared.cli import main

PAGE = """<html><head><script type="application/ld+json">
{"@context": "https://schema.org", "@type": "Product", "name": "Mug",
 "offers": {"@type": "Offer", "price": "12.34", "priceCurrency": "EUR", "availability": "https://schema.org/InStock"}}
</script></head><body><h1>Mug</h1></body></html>"""
NO_PRICE = "<html><head><title>About us</title></head><body><h1>About us</h1><p>We love mugs.</p></body></html>"


def test_one_json_line_per_file_gzip_or_not(tmp_path, capsys):
    (tmp_path / "mug.html").write_text(PAGE, encoding="utf-8")
    (tmp_path / "about.html.gz").write_bytes(gzip.compress(NO_PRICE.encode()))
    assert main(["extract-price", str(tmp_path / "mug.html"), str(tmp_path / "about.html.gz")]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines == [
        {"file": str(tmp_path / "mug.html"), "price": "12.34", "currency": "EUR", "availability": "in_stock",
         "source": "json_ld"},
        {"file": str(tmp_path / "about.html.gz"), "price": None, "currency": None, "availability": "unknown",
         "source": None},
    ]


def test_unreadable_files_are_named_and_fail_the_command(tmp_path, capsys):
    (tmp_path / "broken.html.gz").write_bytes(b"not gzip at all")
    (tmp_path / "notes.txt").write_text("x")
    assert main(["extract-price", str(tmp_path / "broken.html.gz"), str(tmp_path / "notes.txt")]) == 1
    err = capsys.readouterr().err
    assert "broken.html.gz: cannot read" in err and "notes.txt: not an .html or .html.gz file" in err


def test_eval_prints_precision_recall_f1_and_pages_per_second(tmp_path, capsys):
    (tmp_path / "html").mkdir()
    pages = {"right": (PAGE, ["12.34"]), "wrong": (PAGE.replace("12.34", "99.00"), ["10.00"]),
             "missed": (NO_PRICE, ["5.00"])}
    truth = {}
    for page_id, (html, price) in pages.items():
        (tmp_path / "html" / f"{page_id}.html.gz").write_bytes(gzip.compress(html.encode()))
        truth[page_id] = {"price": price, "url": f"https://shop.example/{page_id}"}
    (tmp_path / "ground-truth.json").write_text(json.dumps(truth))
    assert main(["extract-price", "--eval", str(tmp_path), "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    # TP 1, FP 1, FN 2: precision 1/2, recall 1/3, F1 0.4.
    assert "TP 1, FP 1, FN 2" in out
    assert "precision 0.500  recall 0.333  F1 0.400" in out
    assert "pages/s " in out


def test_eval_names_what_is_missing(tmp_path, capsys):
    (tmp_path / "ground-truth.json").write_text(json.dumps({"p1": {"price": ["1.00"]}}))
    assert main(["extract-price", "--eval", str(tmp_path)]) == 1
    assert "html/p1.html.gz is missing" in capsys.readouterr().err
