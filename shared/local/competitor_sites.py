"""The sample store's three competitors, served as web shops on loopback.

One HTTP server per competitor (its own port, so its own origin and its own robots.txt):

    with CompetitorSites(store) as sites:
        urls = sites.urls_by_sku("hearth-home")      # {our SKU: product page URL}
        sites.requests_to("hearth-home")             # what was fetched, for tests

Each site states prices its own way: Hearth & Home Co. in JSON-LD (`Product` > `Offer`),
The Gift Loft in schema.org microdata, Nook & Cranny Living in OpenGraph product meta tags;
some pages of each carry no markup at all, only the visible "£24.99" (see
`price_selector`). Around the price sit the prices a naive extractor would grab by mistake: the
basket total, a free-delivery threshold, a struck-through "was" price and related products.

robots.txt disallows `/cart`, `/checkout`, `/account`, `/search` and one path per site where
some product pages live (`/trade/`, `/members/`, `/clearance/`): the app must not fetch those.
`urls_by_sku` includes them, so the app has to read robots.txt to know.
"""

from __future__ import annotations

import html
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from shared.local.sample_store import Competitor, CompetitorListing, SampleStore

# Where the price is on the plain pages (no markup), for the competitors.price_selector column.
PRICE_SELECTOR = ".product-main .price-now"

_AVAILABILITY_SCHEMA = {True: "https://schema.org/InStock", False: "https://schema.org/OutOfStock"}
_ALWAYS_DISALLOWED = ("/cart", "/checkout", "/account", "/search")
_CATEGORIES = ("Candles", "Mugs", "Cushions", "Art Prints", "Kitchen", "Toys", "Jewellery", "Stationery", "Throws")


@dataclass(frozen=True)
class SiteRequest:
    at: float
    method: str
    path: str
    user_agent: str | None
    status: int


def _pounds(amount: Decimal) -> str:
    return f"£{amount:,.2f}"


class _Site:
    """One competitor's shop: pages rendered from its listings."""

    def __init__(self, competitor: Competitor, listings: Iterable[CompetitorListing], vendor_by_sku: dict[str, str]) -> None:
        self.competitor = competitor
        self.listings = {listing.path: listing for listing in listings}
        self.vendor_by_sku = vendor_by_sku
        self.requests: list[SiteRequest] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self.server is None:
            raise RuntimeError(f"{self.competitor.name}: the site is not running")
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def robots_txt(self) -> str:
        lines = ["# robots.txt for " + self.competitor.domain, "User-agent: *"]
        lines += [f"Disallow: {path}" for path in (*_ALWAYS_DISALLOWED, self.competitor.disallowed_prefix)]
        lines += ["", "User-agent: GPTBot", "Disallow: /", "", f"Sitemap: {self.base_url}/sitemap.xml", ""]
        return "\n".join(lines)

    def disallowed(self, path: str) -> bool:
        return any(path.startswith(prefix) for prefix in (*_ALWAYS_DISALLOWED, self.competitor.disallowed_prefix))

    # --- pages -----------------------------------------------------------------------------------

    def respond(self, method: str, target: str) -> tuple[int, str, str]:
        path = urlsplit(target).path
        if path == "/robots.txt":
            return 200, "text/plain; charset=utf-8", self.robots_txt()
        if path == "/sitemap.xml":
            return 200, "application/xml; charset=utf-8", self._sitemap()
        if path == "/":
            return 200, "text/html; charset=utf-8", self._home()
        listing = self.listings.get(path)
        if listing is not None:
            return 200, "text/html; charset=utf-8", self._product_page(listing)
        if path in ("/cart", "/checkout", "/account"):
            return 200, "text/html; charset=utf-8", self._layout("Basket", "<main><h1>Your basket is empty</h1></main>")
        return 404, "text/html; charset=utf-8", self._layout("Not found", "<main><h1>Page not found</h1></main>")

    def _sitemap(self) -> str:
        urls = "".join(
            f"<url><loc>{self.base_url}{html.escape(path)}</loc></url>" for path in sorted(self.listings) if not self.disallowed(path)
        )
        return f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'

    def _layout(self, title: str, body: str, head: str = "") -> str:
        name = html.escape(self.competitor.name)
        nav = "".join(f'<li><a href="/collections/{c.lower().replace(" ", "-")}">{c}</a></li>' for c in _CATEGORIES)
        return f"""<!doctype html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} | {name}</title>
{head}
</head>
<body>
<div class="announcement-bar">Free UK delivery on orders over £50 &middot; Gift wrap from £3.50</div>
<header class="site-header">
  <a class="logo" href="/">{name}</a>
  <nav class="main-nav"><ul>{nav}</ul></nav>
  <a class="basket-link" href="/cart">Basket (0) <span class="basket-total">£0.00</span></a>
</header>
{body}
<footer class="site-footer">
  <p>Gift cards from £10. Returns within 30 days.</p>
  <p>&copy; {name}</p>
</footer>
</body>
</html>"""

    def _home(self) -> str:
        cards = "".join(self._card(listing) for path, listing in sorted(self.listings.items()) if not self.disallowed(path))
        return self._layout("Home", f'<main class="home"><h1>New in</h1><ul class="product-grid">{cards}</ul></main>')

    @staticmethod
    def _card(listing: CompetitorListing) -> str:
        return (f'<li class="product-card"><a href="{html.escape(listing.path)}">{html.escape(listing.title)}</a>'
                f'<span class="price">{_pounds(listing.price)}</span></li>')

    def _product_page(self, listing: CompetitorListing) -> str:
        url = self.base_url + listing.path
        title = html.escape(listing.title)
        markup = listing.markup
        vendor = html.escape(self.vendor_by_sku.get(listing.sku, self.competitor.name))
        stock_text = "In stock - order by 2pm for next-day dispatch" if listing.in_stock else "Sold out"
        stock_class = "stock stock--in" if listing.in_stock else "stock stock--out"
        button = ('<button class="add-to-basket" type="submit">Add to basket</button>' if listing.in_stock
                  else '<button class="add-to-basket" type="submit" disabled>Sold out</button>')
        was = f'<s class="price-was">Was {_pounds(listing.was_price)}</s> ' if listing.was_price else ""
        related = "".join(
            f'<li class="product-card"><a href="#">{html.escape(item.title)}</a><span class="price">{_pounds(item.price)}</span></li>'
            for item in listing.related
        )
        head = f'<link rel="canonical" href="{html.escape(url)}">\n<meta property="og:title" content="{title}">'
        if markup == "json-ld":
            product = {
                "@context": "https://schema.org",
                "@type": "Product",
                "name": listing.title,
                "sku": listing.competitor_sku,
                "gtin13": listing.gtin,
                "brand": {"@type": "Brand", "name": self.vendor_by_sku.get(listing.sku, self.competitor.name)},
                "offers": {
                    "@type": "Offer",
                    "url": url,
                    "price": f"{listing.price:.2f}",
                    "priceCurrency": "GBP",
                    "availability": _AVAILABILITY_SCHEMA[listing.in_stock],
                    "itemCondition": "https://schema.org/NewCondition",
                },
            }
            crumbs = {
                "@context": "https://schema.org",
                "@type": "BreadcrumbList",
                "itemListElement": [{"@type": "ListItem", "position": 1, "name": "Home", "item": self.base_url + "/"}],
            }
            head += "".join(
                f'\n<script type="application/ld+json">{json.dumps(block, ensure_ascii=False)}</script>' for block in (crumbs, product)
            )
        if markup == "opengraph":
            head += (
                '\n<meta property="og:type" content="product">'
                f'\n<meta property="og:url" content="{html.escape(url)}">'
                f'\n<meta property="product:price:amount" content="{listing.price:.2f}">'
                '\n<meta property="product:price:currency" content="GBP">'
                f'\n<meta property="product:availability" content="{"in stock" if listing.in_stock else "out of stock"}">'
                f'\n<meta property="og:availability" content="{"instock" if listing.in_stock else "oos"}">'
                f'\n<meta property="product:retailer_item_id" content="{listing.competitor_sku}">'
            )
        else:
            head += '\n<meta property="og:type" content="website">'

        if markup == "microdata":
            main = f"""<div class="product-main" itemscope itemtype="https://schema.org/Product">
    <h1 class="product-title" itemprop="name">{title}</h1>
    <meta itemprop="sku" content="{listing.competitor_sku}">
    <meta itemprop="gtin13" content="{listing.gtin}">
    <div itemprop="brand" itemscope itemtype="https://schema.org/Brand"><meta itemprop="name" content="{vendor}"></div>
    <div class="price-block" itemprop="offers" itemscope itemtype="https://schema.org/Offer">
      {was}<meta itemprop="priceCurrency" content="GBP"><span class="price-now" itemprop="price" content="{listing.price:.2f}">{_pounds(listing.price)}</span>
      <link itemprop="availability" href="{_AVAILABILITY_SCHEMA[listing.in_stock]}">
    </div>
    <p class="{stock_class}">{stock_text}</p>
    {button}
    <p class="product-codes">Product code {listing.competitor_sku} &middot; EAN {listing.gtin}</p>
  </div>"""
        else:
            main = f"""<div class="product-main">
    <h1 class="product-title">{title}</h1>
    <p class="brand">by {vendor}</p>
    <div class="price-block">{was}<span class="price-now">{_pounds(listing.price)}</span></div>
    <p class="{stock_class}">{stock_text}</p>
    {button}
    <p class="product-codes">Product code {listing.competitor_sku} &middot; EAN {listing.gtin}</p>
  </div>"""
        body = f"""<main class="product-page">
  <nav class="breadcrumbs"><a href="/">Home</a> / <span>{title}</span></nav>
  {main}
  <section class="delivery-info"><h2>Delivery</h2><p>Standard delivery £3.95, free over £50.</p></section>
  <section class="related"><h2>You may also like</h2><ul class="product-grid">{related}</ul></section>
</main>"""
        return self._layout(listing.title, body, head)


class CompetitorSites:
    """The three competitor web shops of a sample store, each on its own loopback port."""

    def __init__(self, store: SampleStore, host: str = "127.0.0.1") -> None:
        self.store = store
        self.host = host
        vendor_by_sku = {v.sku: p.vendor for p in store.products for v in p.variants}
        self._sites = {c.key: _Site(c, store.listings_of(c.key), vendor_by_sku) for c in store.competitors}

    # --- lookups ----------------------------------------------------------------------------------

    def _site(self, competitor: str) -> _Site:
        return self._sites[self.store.competitor(competitor).key]

    @property
    def competitors(self) -> tuple[Competitor, ...]:
        return self.store.competitors

    def base_url(self, competitor: str) -> str:
        return self._site(competitor).base_url

    def urls_by_sku(self, competitor: str) -> dict[str, str]:
        """Our SKU -> the competitor's product page URL (robots-disallowed pages included)."""
        site = self._site(competitor)
        return {listing.sku: site.base_url + path for path, listing in site.listings.items()}

    def listing_for_url(self, url: str) -> CompetitorListing:
        """The truth behind a page: its price, stock and markup."""
        parts = urlsplit(url)
        for site in self._sites.values():
            if site.server is not None and site.base_url == f"{parts.scheme}://{parts.netloc}":
                return site.listings[parts.path]
        raise KeyError(url)

    def robots_txt(self, competitor: str) -> str:
        return self._site(competitor).robots_txt()

    def price_selector(self, competitor: str) -> str:
        return PRICE_SELECTOR

    def requests_to(self, competitor: str) -> list[SiteRequest]:
        site = self._site(competitor)
        with site.lock:
            return list(site.requests)

    def disallowed_requests(self, competitor: str) -> list[SiteRequest]:
        """Fetches of paths robots.txt forbids: a polite fetcher makes none."""
        site = self._site(competitor)
        return [r for r in self.requests_to(competitor) if site.disallowed(r.path)]

    # --- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> CompetitorSites:
        for site in self._sites.values():
            if site.server is None:
                site.server = ThreadingHTTPServer((self.host, 0), _handler_for(site))
                site.server.daemon_threads = True
                site.thread = threading.Thread(target=site.server.serve_forever, args=(0.05,), name=f"site-{site.competitor.slug}", daemon=True)
                site.thread.start()
        return self

    def stop(self) -> None:
        for site in self._sites.values():
            if site.server is not None:
                site.server.shutdown()
                site.server.server_close()
                site.server = None
            if site.thread is not None:
                site.thread.join(timeout=5)
                site.thread = None

    def __enter__(self) -> CompetitorSites:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _handler_for(site: _Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        server_version = "nginx"
        sys_version = ""

        def _serve(self, method: str) -> None:
            status, content_type, text = site.respond(method, self.path)
            payload = text.encode("utf-8")
            with site.lock:
                site.requests.append(SiteRequest(time.time(), method, urlsplit(self.path).path, self.headers.get("User-Agent"), status))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "max-age=60")
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(payload)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_HEAD(self) -> None:
            self._serve("HEAD")

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
