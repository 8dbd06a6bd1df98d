"""Competitor pages without a SKU: identity read from the page, proposals by GTIN, SKU/MPN, title; confirmation."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from shared.db import market
from shared.db.competitor_matches import VariantForMatching, list_matches
from shared.db.pool import transaction
from shared.market.competitor_import import import_competitor_csv
from shared.market.extraction.identity import ProductIdentity, extract_identity
from shared.market.fetch import FetchResult
from shared.market.matching import VariantMatcher, normalise_code, normalise_gtin, propose_pending_matches


def product_page(name: str, **ids) -> str:
    data = {"@context": "https://schema.org", "@type": "Product", "name": name,
            "offers": {"@type": "Offer", "price": "9.99", "priceCurrency": "GBP"}, **ids,
            "isRelatedTo": {"@type": "Product", "name": "Other thing", "gtin13": "5012345678900", "sku": "OTHER"}}
    return (f'<html><head><title>{name} | Bolt Home</title><script type="application/ld+json">{json.dumps(data)}'
            f'</script></head><body><h1>{name}</h1></body></html>')


def test_gtins_are_checked_and_compared_as_14_digits():
    assert normalise_gtin("4006381333931") == "04006381333931"
    assert normalise_gtin("036000291452") == "00036000291452"  # UPC-A
    assert normalise_gtin("0036000291452") == normalise_gtin("036000291452")
    assert normalise_gtin("4006381333932") is None  # wrong check digit
    assert normalise_gtin("12345") is None
    assert normalise_code(" mug-001 ") == normalise_code("MUG 001") == "MUG001"
    assert normalise_code("A1") is None


def test_identity_comes_from_the_main_product_not_related_ones():
    page = product_page("Speckled Mug", gtin13="4006381333931", sku="BH-77", mpn="SPK-MUG-BL",
                        brand={"@type": "Brand", "name": "Potter & Co"})
    assert extract_identity(page) == ProductIdentity(title="Speckled Mug", gtin="4006381333931", sku="BH-77",
                                                     mpn="SPK-MUG-BL", brand="Potter & Co")
    microdata = ('<html><head><meta property="og:title" content="Oak Board"></head><body>'
                 '<div itemscope itemtype="https://schema.org/Product"><h1 itemprop="name">Oak Board</h1>'
                 '<meta itemprop="gtin13" content="5000000000017"><span itemprop="sku">OB-1</span></div></body></html>')
    assert extract_identity(microdata) == ProductIdentity(title="Oak Board", gtin="5000000000017", sku="OB-1")
    bare = "<html><head><title>Linen Napkins (4) - Shop</title></head><body><p>nothing</p></body></html>"
    assert extract_identity(bare).title == "Linen Napkins (4) - Shop"


VARIANTS = [
    VariantForMatching(variant_id=1, sku="MUG-BLUE", barcode="4006381333931", title="Speckled Mug - Blue"),
    VariantForMatching(variant_id=2, sku="MUG-GREEN", barcode=None, title="Speckled Mug - Green"),
    VariantForMatching(variant_id=3, sku="BOARD-OAK", barcode=None, title="Oak Chopping Board - Large"),
    VariantForMatching(variant_id=4, sku="NAP-4", barcode=None, title="Linen Napkins, set of 4"),
]


def test_evidence_is_taken_in_order_gtin_then_sku_then_mpn_then_title():
    matcher = VariantMatcher(VARIANTS, min_title_score=0.8)
    # The GTIN wins even when the title points elsewhere.
    by_gtin = matcher.propose(ProductIdentity(title="Oak Chopping Board", gtin="4006381333931", sku="BOARD-OAK"))
    assert (by_gtin.variant_id, by_gtin.method, by_gtin.confidence) == (1, "gtin", 0.99)
    assert matcher.propose(ProductIdentity(title="x", sku="board oak")).method == "sku"
    by_mpn = matcher.propose(ProductIdentity(title="x", sku="ZZZ-999", mpn="Mug-Green"))
    assert (by_mpn.variant_id, by_mpn.method) == (2, "mpn")
    # A wrong check digit is no GTIN at all: the title decides.
    by_title = matcher.propose(ProductIdentity(title="Bolt Home Oak Chopping Board Large", gtin="4006381333932"))
    assert (by_title.variant_id, by_title.method) == (3, "title") and 0.7 < by_title.confidence <= 0.9


def test_title_similarity_tells_variants_apart_and_says_when_unsure():
    matcher = VariantMatcher(VARIANTS, min_title_score=0.8)
    green = matcher.propose(ProductIdentity(title="Speckled Stoneware Mug in Green | Bolt"))
    assert green.variant_id == 2
    unsure = matcher.propose(ProductIdentity(title="Speckled Mug"))  # blue or green?
    assert unsure.confidence < green.confidence
    assert matcher.propose(ProductIdentity(title="Garden Hose 20 m")) is None


class PageServer:
    def __init__(self, pages: dict[str, str]) -> None:
        self.pages = pages
        self.fetched: list[str] = []

    async def fetch(self, url: str, *, tier: str = "standard") -> FetchResult:
        self.fetched.append(url)
        html = self.pages.get(url)
        if html is None:
            return FetchResult(url=url, error="http_error", error_detail="HTTP 404", status=404, elapsed_seconds=0,
                               fetched_at=datetime.now(UTC))
        return FetchResult(url=url, final_url=url, status=200, html=html, elapsed_seconds=0, fetched_at=datetime.now(UTC))

    async def aclose(self) -> None:
        pass


@pytest.fixture
def shop(db):
    domain = f"match-{uuid.uuid4().hex[:10]}.myshopify.com"
    with transaction() as conn:
        shop_id = conn.execute("INSERT INTO shops (domain, currency) VALUES (%s, 'GBP') RETURNING id",
                               (domain,)).fetchone()["id"]
        for v in VARIANTS:
            product_title, _, variant_title = v.title.partition(" - ")
            product = conn.execute("INSERT INTO products (shop_id, shopify_id, title) VALUES (%s, %s, %s) RETURNING id",
                                   (shop_id, f"p{v.variant_id}", product_title)).fetchone()["id"]
            conn.execute("""INSERT INTO variants (shop_id, product_id, shopify_id, sku, barcode, title, price)
                            VALUES (%s, %s, %s, %s, %s, %s, 10)""",
                         (shop_id, product, f"v{v.variant_id}", v.sku, v.barcode, variant_title or None))
    return domain, shop_id


async def test_pages_without_sku_get_proposals_and_only_confirmed_ones_are_scraped(shop, capsys):
    from shared.cli import main

    domain, shop_id = shop
    pages = {
        "https://bolt.example/p/blue-mug": product_page("Speckled Mug Blue", gtin13="4006381333931"),
        "https://bolt.example/p/board": product_page("Chopping board, oak, large", sku="BOARD-OAK"),
        "https://bolt.example/p/napkins": product_page("Linen Napkins Set of 4"),
        "https://bolt.example/p/hose": product_page("Garden Hose 20 m"),
    }
    csv = "sku,competitor,url\n" + "".join(f",Bolt,{url}\n" for url in [*pages, "https://bolt.example/p/gone"])
    import_competitor_csv(domain, csv.encode())
    server = PageServer(pages)
    summary = await propose_pending_matches(shop_id, server)
    assert (summary.pages, summary.proposed, summary.no_match, summary.failed) == (5, 3, 1, 1)
    assert summary.by_method == {"gtin": 1, "sku": 1, "title": 1}

    with transaction() as conn:
        matches = {m.url.rsplit("/", 1)[1]: m for m in list_matches(conn, shop_id)}
        assert market.confirmed_competitor_urls(conn, shop_id) == []  # proposals are not scraped
    assert (matches["blue-mug"].sku, matches["blue-mug"].method, matches["blue-mug"].status) == ("MUG-BLUE", "gtin", "proposed")
    assert matches["board"].sku == "BOARD-OAK" and matches["napkins"].sku == "NAP-4"
    assert matches["hose"].status == "no_match" and matches["hose"].page_title == "Garden Hose 20 m"
    assert matches["gone"].status == "pending" and "404" in matches["gone"].error  # read again next time

    # A second pass reads only what is still pending.
    server.fetched.clear()
    await propose_pending_matches(shop_id, server)
    assert server.fetched == ["https://bolt.example/p/gone"]

    assert main(["confirm-match", str(matches["blue-mug"].id), str(matches["board"].id), "--shop", domain]) == 0
    assert main(["confirm-match", str(matches["hose"].id), "--shop", domain, "--sku", "NAP-4"]) == 0
    assert main(["reject-match", str(matches["napkins"].id), "--shop", domain]) == 0
    assert main(["confirm-match", str(matches["gone"].id), "--shop", domain]) == 1
    assert "has no proposed variant" in capsys.readouterr().err
    with transaction() as conn:
        linked = {t.url.rsplit("/", 1)[1]: t for t in market.confirmed_competitor_urls(conn, shop_id)}
        rows = conn.execute(
            """SELECT cu.url, cu.match_method FROM competitor_urls cu JOIN competitors c ON c.id = cu.competitor_id
               WHERE c.shop_id = %s""", (shop_id,)).fetchall()
    methods = {r["url"].rsplit("/", 1)[1]: r["match_method"] for r in rows}
    assert set(linked) == {"blue-mug", "board", "hose"}
    assert methods == {"blue-mug": "gtin", "board": "sku", "hose": "manual"}

    assert main(["match-competitors", "--shop", domain, "--list-only", "--status", "confirmed"]) == 0
    listing = capsys.readouterr().out
    assert "blue-mug" in listing and "napkins" not in listing


async def test_matches_are_listed_and_decided_over_http(shop):
    from shared.market.match_api import http_decide, http_list

    domain, shop_id = shop
    pages = {"https://bolt.example/p/green": product_page("Speckled Mug Green"),
             "https://bolt.example/p/board": product_page("Oak board", sku="BOARD-OAK")}
    import_competitor_csv(domain, ("sku,competitor,url\n" + "".join(f",Bolt,{u}\n" for u in pages)).encode())
    await propose_pending_matches(shop_id, PageServer(pages))

    listed = json.loads(http_list(domain, "proposed").get_body())["matches"]
    by_url = {m["url"]: m for m in listed}
    assert by_url["https://bolt.example/p/board"]["sku"] == "BOARD-OAK"
    assert by_url["https://bolt.example/p/green"]["method"] == "title"
    green, board = by_url["https://bolt.example/p/green"]["id"], by_url["https://bolt.example/p/board"]["id"]

    assert http_decide(domain, str(board), b'{"decision": "confirm"}').status_code == 200
    assert http_decide(domain, str(green), b'{"decision": "reject"}').status_code == 200
    bad = http_decide(domain, str(green), b'{"decision": "maybe"}')
    assert bad.status_code == 422 and "decision" in json.loads(bad.get_body())["problems"][0]
    assert http_decide(domain, "999999999", b'{"decision": "confirm"}').status_code == 404
    assert http_decide(domain, str(board), b'{"decision": "confirm", "sku": "NOPE"}').status_code == 409
    assert http_list(domain, "proposed,maybe").status_code == 400
    assert http_list("nobody.myshopify.com", None).status_code == 404
    with transaction() as conn:
        linked = [t.url for t in market.confirmed_competitor_urls(conn, shop_id)]
    assert linked == ["https://bolt.example/p/board"]
    statuses = {m["url"]: m["status"] for m in json.loads(http_list(domain, "confirmed,rejected").get_body())["matches"]}
    assert statuses == {"https://bolt.example/p/board": "confirmed", "https://bolt.example/p/green": "rejected"}
