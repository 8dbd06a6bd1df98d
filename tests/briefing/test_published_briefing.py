"""The published briefing, end to end: the daily pipeline writes its media and page to a real
Azurite, the app serves the page on a signed link, its links fetch the files, and the page opens
in headless Chromium without a console error while a product titled like a script stays text.

Everything is real except the cloud: the sample shop's stand-ins, the local Functions host and
Durable runner, Azurite (npm, `make azurite`) and Debian's Chromium (`make chromium`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from shared.briefing import links
from shared.briefing.media_probe import probe
from shared.db.pool import transaction
from shared.local.demo import apply_settings, install_sample_shop, local_functions, run_and_wait, sample_store_stand_ins
from shared.media_store import blob_service_from_connection_string

HOSTILE_TITLE = "<script>alert(1)</script>"
HOSTILE_SHOP_NAME = 'Tea & Co <img src=x onerror="window.__pwned = 1">'
CONTAINER = "published-briefings"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@dataclass
class Published:
    shop: str
    run_id: str
    base_url: str  # the local Functions host
    azurite_origin: str
    blobs: object  # ContainerClient on Azurite, independent of the app's store


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.video: list[str] = []
        self.downloads: list[str] = []
        self.csp: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "video":
            self.video.append(attrs["src"])
        if tag == "a" and "download" in attrs:
            self.downloads.append(attrs["href"])
        if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy":
            self.csp = attrs["content"]


def page_links(page: str) -> _Links:
    parser = _Links()
    parser.feed(page)
    return parser


@pytest.fixture(scope="module")
def published(local_data_dir, azurite):
    saved = dict(os.environ)
    try:
        with sample_store_stand_ins(n_products=12) as stand_ins:
            shop = stand_ins.store.domain
            install_sample_shop(stand_ins, progress=lambda line: None)
            # Data as Shopify delivers it, hostile: a product title and the shop's own name.
            with transaction() as conn:
                product = conn.execute(
                    """SELECT p.id, p.title, s.name FROM products p JOIN shops s ON s.id = p.shop_id
                       WHERE s.domain = %s ORDER BY p.id LIMIT 1""", (shop,)).fetchone()
                conn.execute("UPDATE products SET title = %s WHERE id = %s", (HOSTILE_TITLE, product["id"]))
                conn.execute("UPDATE shops SET name = %s WHERE domain = %s", (HOSTILE_SHOP_NAME, shop))
            apply_settings({
                "MEDIA_STORE": "blob",
                "MEDIA_BLOB_CONNECTION_STRING": azurite.connection_string,
                "MEDIA_BLOB_CONTAINER": CONTAINER,
                "SHOPIFY_CLIENT_SECRET": "published-briefing-test-secret",
            })
            try:
                with local_functions(lambda line: None) as (runner, host, key):
                    outcome = run_and_wait(runner, host, key, shop, lambda line: None)
                    assert outcome.ok, outcome
                    service = blob_service_from_connection_string(azurite.connection_string)
                    yield Published(shop, outcome.run_id, host.base_url, azurite.blob_origin,
                                    service.get_container_client(CONTAINER))
            finally:
                with transaction() as conn:
                    conn.execute("UPDATE products SET title = %s WHERE id = %s", (product["title"], product["id"]))
                    conn.execute("UPDATE shops SET name = %s WHERE domain = %s", (product["name"], shop))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        apply_settings({})


def signed(published: Published, which: str = "latest", valid_for: timedelta = timedelta(hours=1),
           shop: str | None = None) -> str:
    link = links.briefing_link(shop or published.shop, datetime.now(timezone.utc), valid_for,
                               run_id=None if which == "latest" else which)
    path = urlsplit(link)
    return f"{published.base_url}{path.path}?{path.query}"


def briefing_row(run_id: str) -> dict:
    with transaction() as conn:
        return conn.execute("SELECT * FROM briefings WHERE run_id = %s", (run_id,)).fetchone()


def test_the_pipeline_published_page_video_and_narration_to_azurite(published):
    row = briefing_row(published.run_id)
    assert row["media_store"] == "blob" and row["published_at"] is not None
    prefix = f"{published.shop}/{published.run_id}/"
    names = {b.name for b in published.blobs.list_blobs(name_starts_with=prefix)}
    assert names == {prefix + "briefing.html", prefix + "briefing.mp4", prefix + "narration.wav"}
    assert {row["page_uri"], row["video_uri"], row["audio_uri"]} == names  # names kept, not links
    video = published.blobs.get_blob_client(row["video_uri"]).get_blob_properties()
    assert video.content_settings.content_type == "video/mp4" and video.size > 100_000
    snapshot = published.blobs.download_blob(row["page_uri"]).readall().decode()
    assert 'src="briefing.mp4"' in snapshot  # the stored snapshot links its sibling


def test_the_pages_links_fetch_the_files_from_azurite(published, tmp_path):
    response = httpx.get(signed(published))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    found = page_links(response.text)
    row = briefing_row(published.run_id)
    [video_url] = found.video
    assert len(found.downloads) == 2 and found.downloads[0] == video_url
    audio_url = found.downloads[1]
    for url, uri in ((video_url, row["video_uri"]), (audio_url, row["audio_uri"])):
        assert url.startswith(f"{published.azurite_origin}/devstoreaccount1/{CONTAINER}/")
        assert "sig=" in url and "se=" in url and "sp=r" in url
        fetched = httpx.get(url)
        assert fetched.status_code == 200
        assert fetched.content == published.blobs.download_blob(uri).readall()  # bytes equal
    video = tmp_path / "fetched.mp4"
    video.write_bytes(httpx.get(video_url).content)
    info = probe(video)
    assert [(s.kind, s.codec) for s in info.streams] == [("video", "h264"), ("audio", "aac")]
    assert info.duration_seconds == pytest.approx(float(row["video_seconds"]), abs=0.5)
    # The policy lets media come from Azurite's origin and nowhere else; the header adds frame-ancestors.
    header = response.headers["content-security-policy"]
    assert f"media-src 'self' {published.azurite_origin}" in header and "frame-ancestors 'none'" in header
    assert found.csp and found.csp in header and "frame-ancestors" not in found.csp


def test_one_runs_page_and_the_media_route(published):
    by_run = httpx.get(signed(published, published.run_id))
    assert by_run.status_code == 200 and f"run {published.run_id}" in by_run.text
    query = urlsplit(signed(published)).query
    media = f"{published.base_url}/api/shops/{published.shop}/briefings/{published.run_id}/media/briefing.mp4?{query}"
    redirect = httpx.get(media)
    assert redirect.status_code == 302 and redirect.headers["location"].startswith(published.azurite_origin)
    row = briefing_row(published.run_id)
    assert httpx.get(redirect.headers["location"]).content == published.blobs.download_blob(row["video_uri"]).readall()
    # Only the briefing's own media, only this shop's runs, only with a good signature.
    for name in ("briefing.html", "other.mp4"):
        assert httpx.get(media.replace("briefing.mp4", name)).status_code == 404
    assert httpx.get(signed(published, "manual-no-such-run")).status_code == 404
    assert httpx.get(media.split("?")[0]).status_code == 403
    assert httpx.get(signed(published, valid_for=timedelta(seconds=-5))).status_code == 403
    other = urlsplit(signed(published, shop="someone-else.myshopify.com")).query
    assert httpx.get(f"{published.base_url}/api/shops/{published.shop}/briefings/latest?{other}").status_code == 403


def test_the_page_in_headless_chromium(published, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.is_file():
        pytest.fail("/usr/bin/chromium is missing: `make chromium` installs Debian's chromium")
    screenshot = tmp_path_factory.mktemp("screenshots") / "briefing-page.png"
    problems: list[str] = []
    dialogs: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
            # A media element drops its request once it has what it wants (metadata): not a failure.
            page.on("requestfailed", lambda r: None if r.resource_type == "media" and "ERR_ABORTED" in (r.failure or "")
                    else problems.append(f"request failed: {r.url} {r.failure}"))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            response = page.goto(signed(published), wait_until="load")
            assert response.status == 200
            # The video's metadata arrives from Azurite through its SAS link, under the page's policy.
            page.wait_for_function("document.querySelector('video').readyState >= 1", timeout=30_000)
            duration = page.evaluate("document.querySelector('video').duration")
            assert duration == pytest.approx(float(briefing_row(published.run_id)["video_seconds"]), abs=0.5)

            # Hostile data shows as text and runs nothing.
            cells = page.locator("#recommendations tbody td:nth-child(2)").all_inner_texts()
            assert any(HOSTILE_TITLE in cell for cell in cells), cells
            assert page.locator("header h1").inner_text() == HOSTILE_SHOP_NAME
            assert page.evaluate("document.scripts.length") == 1
            assert page.evaluate("window.__pwned === undefined")
            assert page.locator("main img").count() == 0

            # Sorting: click "Change %" for ascending, again for descending.
            header = page.locator("#recommendations th", has_text="Change %")
            column = "Array.from(document.querySelectorAll('#recommendations tbody tr'))" \
                     ".map(r => r.cells[5].getAttribute('data-sort')).filter(v => v !== '').map(Number)"
            before = page.evaluate(column)
            header.click()
            ascending = page.evaluate(column)
            assert header.get_attribute("aria-sort") == "ascending"
            assert ascending == sorted(before) and len(set(ascending)) > 1
            header.click()
            assert page.evaluate(column) == sorted(before, reverse=True)
            assert header.get_attribute("aria-sort") == "descending"

            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    print(f"screenshot: {screenshot}")
    assert screenshot.stat().st_size > 20_000 and screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert dialogs == []
    assert problems == [], problems
