"""Price extraction: each layer on a small hand-written page, then the benchmark pages."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from shared.market.extraction import (
    Availability,
    PriceHints,
    PriceSource,
    currency_code,
    extract_price,
    load_json_ld,
    parse_amount,
)
from shared.market.extraction.evaluation import evaluate, score

BENCHMARK = Path(os.environ.get("PRODUCT_PAGES_DIR", "/work/shared/data/product-pages"))


def page(head: str = "", body: str = "", title: str = "Oak Chopping Board") -> str:
    return f"<!doctype html><html><head><title>{title} | Shop</title>{head}</head><body>{body}</body></html>"


def ld(data: object) -> str:
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


# --- JSON-LD --------------------------------------------------------------------------------


def test_json_ld_graph_with_aggregate_offer_takes_low_price():
    html = page(
        ld(
            {
                "@context": "https://schema.org",
                "@graph": [
                    {"@type": "BreadcrumbList", "itemListElement": []},
                    {
                        "@type": "Product",
                        "name": "Oak Chopping Board",
                        "offers": {
                            "@type": "AggregateOffer",
                            "lowPrice": "24.50",
                            "highPrice": "39.00",
                            "priceCurrency": "GBP",
                            "availability": "https://schema.org/InStock",
                        },
                    },
                ],
            }
        )
    )
    result = extract_price(html)
    assert result.price == Decimal("24.50")
    assert result.currency == "GBP"
    assert result.availability is Availability.in_stock
    assert result.source is PriceSource.json_ld


def test_json_ld_price_specification_skips_the_strike_through_price():
    html = page(
        ld(
            {
                "@context": "https://schema.org/",
                "@type": "Product",
                "name": "Oak Chopping Board",
                "offers": {
                    "@type": "Offer",
                    "priceCurrency": "EUR",
                    "availability": "http://schema.org/InStock",
                    "priceSpecification": [
                        {
                            "@type": "UnitPriceSpecification",
                            "priceType": "https://schema.org/StrikethroughPrice",
                            "price": 49.99,
                            "priceCurrency": "EUR",
                        },
                        {"@type": "UnitPriceSpecification", "price": 39.99, "priceCurrency": "EUR"},
                    ],
                },
            }
        )
    )
    result = extract_price(html)
    assert result.price == Decimal("39.99")
    assert result.currency == "EUR"


def test_json_ld_product_group_picks_the_variant_of_the_url_and_ignores_related_products():
    group = {
        "@context": "https://schema.org",
        "@type": "ProductGroup",
        "name": "Linen Shirt",
        "isRelatedTo": {"@type": "Product", "offers": {"@type": "Offer", "price": "5.00"}},
        "hasVariant": [
            {"@type": "Product", "name": "S", "offers": {"@type": "Offer", "price": "30.00", "priceCurrency": "GBP",
                                                        "url": "https://shop.example/shirt?variant=1"}},
            {"@type": "Product", "name": "XL", "offers": {"@type": "Offer", "price": "34.00", "priceCurrency": "GBP",
                                                         "url": "https://shop.example/shirt?variant=2"}},
        ],
    }
    assert extract_price(page(ld(group)), url="https://shop.example/shirt?variant=2").price == Decimal("34.00")
    # Without a variant in the URL: the lowest, as AggregateOffer.lowPrice would say.
    assert extract_price(page(ld(group)), url="https://shop.example/shirt").price == Decimal("30.00")


def test_json_ld_list_of_offers_prefers_an_in_stock_one():
    html = page(
        ld(
            {
                "@type": "Product",
                "offers": [
                    {"@type": "Offer", "price": "10.00", "priceCurrency": "GBP", "availability": "OutOfStock"},
                    {"@type": "Offer", "price": "12.00", "priceCurrency": "GBP", "availability": "InStock"},
                ],
            }
        )
    )
    assert extract_price(html).price == Decimal("12.00")


def test_malformed_json_ld_is_tolerated():
    broken = """<script type="application/ld+json">
        <!-- {"@type": "Product", "offers": {"@type": "Offer", "price": "19.95", "priceCurrency": "GBP",},} -->
    </script><script type="application/ld+json">{not json at all</script>"""
    assert extract_price(page(broken)).price == Decimal("19.95")
    assert load_json_ld("{oops") == []


def test_out_of_stock_price_is_kept_and_flagged():
    html = page(ld({"@type": "Product", "offers": {"@type": "Offer", "price": "8", "priceCurrency": "GBP",
                                                  "availability": "http://schema.org/OutOfStock"}}))
    result = extract_price(html)
    assert result.price == Decimal("8")
    assert result.availability is Availability.out_of_stock


# --- microdata, RDFa, meta, selector ----------------------------------------------------------


def test_microdata_with_content_attributes_and_a_nested_related_product():
    html = page(
        body="""
        <div itemscope itemtype="https://schema.org/Product">
          <h1 itemprop="name">Oak Chopping Board</h1>
          <div itemprop="offers" itemscope itemtype="https://schema.org/Offer">
            <span itemprop="price" content="27.00">£27</span>
            <meta itemprop="priceCurrency" content="GBP">
            <link itemprop="availability" href="https://schema.org/InStock">
          </div>
          <div itemprop="isRelatedTo" itemscope itemtype="https://schema.org/Product">
            <div itemprop="offers" itemscope itemtype="https://schema.org/Offer">
              <span itemprop="price" content="3.00">£3</span>
            </div>
          </div>
        </div>"""
    )
    result = extract_price(html)
    assert (result.price, result.currency, result.availability, result.source) == (
        Decimal("27.00"), "GBP", Availability.in_stock, PriceSource.microdata
    )


def test_microdata_price_in_text_with_comma_decimals():
    html = page(body='<div itemscope itemtype="http://schema.org/Product"><div itemprop="offers" itemscope '
                     'itemtype="http://schema.org/Offer"><span itemprop="price">1.299,00 €</span></div></div>')
    result = extract_price(html)
    assert result.price == Decimal("1299.00")
    assert result.currency == "EUR"


def test_rdfa_schema_price():
    html = page(
        body="""<div vocab="https://schema.org/" typeof="Product"><span property="name">Board</span>
        <div property="offers" typeof="Offer"><span property="schema:price" content="15.50">15.50</span>
        <span property="priceCurrency" content="USD">$</span>
        <link property="availability" href="https://schema.org/InStock"></div></div>"""
    )
    result = extract_price(html)
    assert (result.price, result.currency, result.source) == (Decimal("15.50"), "USD", PriceSource.rdfa)


def test_open_graph_product_meta_tags_with_sale_price_and_availability():
    head = """<meta property="og:type" content="product">
      <meta property="product:price:amount" content="1148.00">
      <meta property="product:sale_price:amount" content="997.00">
      <meta property="product:price:currency" content="PLN">
      <meta property="product:availability" content="out of stock">"""
    result = extract_price(page(head))
    assert (result.price, result.currency, result.availability, result.source) == (
        Decimal("997.00"), "PLN", Availability.out_of_stock, PriceSource.meta
    )


def test_css_selector_hint_comes_before_heuristics():
    html = page(body='<h1>Oak Chopping Board</h1><div class="price">£30.00</div><b id="our-cost">£ 28,50</b>')
    hinted = extract_price(html, hints=PriceHints(css_selector="#our-cost", decimal_separator=","))
    assert (hinted.price, hinted.source) == (Decimal("28.50"), PriceSource.selector)
    assert extract_price(html).price == Decimal("30.00")  # heuristics alone


# --- heuristics -----------------------------------------------------------------------------


HEURISTIC_PAGE = page(
    body="""
    <header class="site-header"><div class="mini-cart"><span class="price">£0.00</span></div></header>
    <main>
      <h1>Oak Chopping Board</h1>
      <div class="product-price">
        <del class="price">£45.00</del>
        <span class="was-price">Was £42.00</span>
        <span class="price price--sale">£36.00</span>
        <span class="unit-price">£12.00 / kg</span>
      </div>
      <section class="related-products">
        <h2>You may also like</h2>
        <div class="card"><span class="price">£9.99</span></div>
        <div class="card"><span class="price">£14.99</span></div>
      </section>
    </main>
    <footer><span class="price">£5.00</span></footer>"""
)


def test_heuristics_skip_struck_was_unit_and_related_prices():
    result = extract_price(HEURISTIC_PAGE, hints=PriceHints(currency="GBP"))
    assert (result.price, result.currency, result.source) == (Decimal("36.00"), "GBP", PriceSource.heuristic)


def test_heuristics_read_a_price_without_price_markup_after_the_heading():
    html = page(
        body="""<h1>Oak Chopping Board</h1><p>Hand made in Devon.</p>
        <p>RRP <del>£60</del> now only <span style="font-size:28px">£48.00</span></p><p>Ships in 2 days</p>"""
    )
    assert extract_price(html).price == Decimal("48.00")


def test_heuristics_see_an_unavailable_product_as_out_of_stock_without_price():
    html = page(
        body="""<h1>Oak Chopping Board</h1>
        <div class="buy-box"><span class="a-color-price">Currently unavailable.</span></div>
        <div class="sims-carousel"><span class="price">£19.99</span></div>"""
    )
    result = extract_price(html)
    assert result.price is None
    assert result.availability is Availability.out_of_stock


def test_no_price_at_all():
    result = extract_price(page(body="<h1>About us</h1><p>We sell boards since 1999.</p>"))
    assert (result.price, result.source, result.availability) == (None, None, Availability.unknown)


# --- price text and currencies ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [
        ("1.299,00 €", {}, Decimal("1299.00")),
        ("€1.299", {}, Decimal("1299")),
        ("12.500 KD", {"currency": "KWD"}, Decimal("12.500")),  # three-decimal currency
        ("23.450", {"structured": True}, Decimal("23.450")),  # schema.org: the dot is decimal
        ("0.00", {"structured": True}, None),  # a placeholder, not a price
        ("Free", {}, None),
        (19.5, {}, Decimal("19.5")),
    ],
)
def test_parse_amount(value, kwargs, expected):
    assert parse_amount(value, **kwargs)[0] == expected


def test_currency_codes_use_the_competitor_then_the_country():
    assert currency_code("$", expected="CAD") == "CAD"
    assert currency_code("$", country="au") == "AUD"
    assert currency_code("zł") == "PLN"
    assert currency_code("eur") == "EUR"
    assert currency_code("", expected="GBP") is None


# --- the benchmark ------------------------------------------------------------------------------

# The bar (measured 0.940 on the 70 dev pages); the other half of the benchmark is held out.
MIN_BENCHMARK_F1 = 0.92


@pytest.mark.skipif(not (BENCHMARK / "ground-truth.json").is_file(), reason="benchmark data not present")
def test_benchmark_pages_f1():
    scores, _ = evaluate(BENCHMARK, rounds=0)
    assert scores.f1 >= MIN_BENCHMARK_F1, f"F1 {scores.f1:.3f} (precision {scores.precision:.3f}, recall {scores.recall:.3f})"


def test_scoring_follows_the_benchmark_rule():
    truth = {"a": {"price": ["12.50", "12.5"]}, "b": {"price": ["3.00"]}, "c": {"price": []}, "d": {"price": ["9"]}}
    predictions = {"a": Decimal("12.5"), "b": Decimal("4.00"), "c": Decimal("1"), "d": None}
    scores = score(truth, predictions)
    # a right; b wrong (a false positive and a miss); c a price where none is (false positive); d missed.
    assert (scores.tp, scores.fp, scores.fn) == (1, 2, 2)
    assert scores.precision == pytest.approx(1 / 3) and scores.recall == pytest.approx(1 / 3)


def test_heuristic_price_keeps_the_stock_note_next_to_it():
    body = """<main><h1>Oak Chopping Board</h1><div class="price-block"><span class="price-now">£59.99</span></div>
      <p class="stock">Sold out</p></main>"""
    result = extract_price(page(body=body))
    assert (result.price, result.availability) == (Decimal("59.99"), Availability.out_of_stock)
    in_stock = extract_price(page(body=body.replace("Sold out", "In stock, ships tomorrow")))
    assert in_stock.availability is Availability.in_stock
