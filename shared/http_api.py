"""What the HTTP triggers answer, kept out of function_app.py so it reads as a table of contents."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from urllib.parse import quote, urlsplit

import azure.functions as func
import psycopg

from shared.briefing import links
from shared.briefing.page import DataNote, content_security_policy, render_briefing_page
from shared.briefing.page_data import page_view
from shared.db import briefings, runs
from shared.db.accounting import accounting_report
from shared.db.pool import DatabaseUnavailableError, transaction
from shared.db.shops import InvalidShopDomainError, Shop, active_shop_domains, check_shop_domain, get_shop
from shared.media_store import (
    MediaStore,
    MediaStoreError,
    MediaStoreUnavailableError,
    content_type_of,
    media_link_lifetime,
    media_store,
    split_media_uri,
)
from shared.secrets import MissingSecretError

log = logging.getLogger(__name__)


def json_response(body: dict, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, default=str), status_code=status, mimetype="application/json")


def problem(status: int, message: str) -> func.HttpResponse:
    return json_response({"error": message}, status)


def active_shops() -> list[str]:
    with transaction() as conn:
        return active_shop_domains(conn)


def installed_shop(raw: str) -> Shop | func.HttpResponse:
    """The shop if the name is well-formed and installed; otherwise the response to send."""
    try:
        domain = check_shop_domain(raw)
    except InvalidShopDomainError as exc:
        return problem(400, str(exc))
    with transaction() as conn:
        shop = get_shop(conn, domain)
    if shop is None:
        return problem(404, f"shop {domain} is not installed")
    return shop


def known_shop(raw: str) -> str | func.HttpResponse:
    """An installed, active shop's domain; otherwise the response to send."""
    shop = installed_shop(raw)
    if isinstance(shop, func.HttpResponse):
        return shop
    if shop.status != "active":
        return problem(409, f"shop {shop.domain} is {shop.status}")
    return shop.domain


def latest_run(raw_shop: str) -> func.HttpResponse:
    shop = installed_shop(raw_shop)
    if isinstance(shop, func.HttpResponse):
        return shop
    with transaction() as conn:
        run_id = runs.latest_run_id(conn, shop.id)
        report = runs.run_report(conn, run_id) if run_id else None
        accounting = accounting_report(conn, shop.id)
    if report is None:
        return problem(404, f"shop {shop.domain} has no runs yet")
    if accounting is not None:
        # The books' connection as of now: "reconnect_needed" is the merchant's cue.
        report["accounting"] = accounting
    return json_response(report)


def briefing_link(raw_shop: str) -> func.HttpResponse:
    """A signed link to the shop's latest briefing, for an operator to hand to the merchant."""
    shop = installed_shop(raw_shop)
    if isinstance(shop, func.HttpResponse):
        return shop
    return json_response({"url": links.briefing_link(shop.domain, datetime.now(timezone.utc))})


def _check_briefing_link(raw_shop: str, expires: str | None, sig: str | None) -> str | func.HttpResponse:
    """The shop's domain if the signed link is good; otherwise the response to send."""
    try:
        domain = check_shop_domain(raw_shop)
        links.verify_briefing_link(domain, expires, sig, datetime.now(timezone.utc))
    except InvalidShopDomainError as exc:
        return problem(400, str(exc))
    except links.BriefingLinkError as exc:
        return problem(403, str(exc))
    except MissingSecretError as exc:
        log.error("briefing links cannot be checked: %s", exc)
        return problem(503, "briefing links are not configured on this app")
    return domain


def _media_links(store: MediaStore, domain: str, briefing: dict, now: datetime) -> dict:
    """Links to the run's video and narration for one page view, and the origins they live on."""
    lifetime = media_link_lifetime()
    if briefing.get("media_store") and briefing["media_store"] != store.kind:
        return {"video_url": None, "audio_url": None, "media_origins": [],
                "note": f"this run's media are in the {briefing['media_store']} store, which the app no longer uses"}
    origins: set[str] = set()
    urls = {}
    for field, column in (("video_url", "video_uri"), ("audio_url", "audio_uri")):
        uri = briefing.get(column)
        if not uri:
            urls[field] = None
            continue
        url = store.media_url(uri, now, lifetime)
        if url is None:
            # The app serves the file itself; relative to .../briefings/latest and .../briefings/{run_id} alike.
            _, run_id, name = split_media_uri(uri)
            url = f"./{quote(run_id, safe='')}/media/{quote(name, safe='')}?{links.signed_query(domain, now + lifetime)}"
        else:
            parts = urlsplit(url)
            origins.add(f"{parts.scheme}://{parts.netloc}")
        urls[field] = url
    return {**urls, "media_origins": sorted(origins), "note": None}


def briefing_page(raw_shop: str, expires: str | None, sig: str | None, run_id: str | None = None) -> func.HttpResponse:
    """The briefing page of the shop's latest published run, or of `run_id`, rendered for this view."""
    domain = _check_briefing_link(raw_shop, expires, sig)
    if isinstance(domain, func.HttpResponse):
        return domain
    now = datetime.now(timezone.utc)
    with transaction() as conn:
        briefing = briefings.published_briefing(conn, domain, run_id)
        if briefing is None:
            if run_id is not None:
                return problem(404, f"no published briefing for run {run_id[:80]} of {domain}")
            return problem(404, f"no published briefing for {domain} yet; the first one is on its way")
        try:
            media = _media_links(media_store(), domain, briefing, now)
        except MediaStoreError as exc:
            log.warning("briefing media links for %s failed: %s", domain, exc)
            media = {"video_url": None, "audio_url": None, "media_origins": [], "note": str(exc)}
        view = page_view(conn, domain, briefing["run_id"], video_url=media["video_url"],
                         audio_url=media["audio_url"], media_origins=media["media_origins"])
    if media["note"]:
        view = view.model_copy(update={"degraded": [*view.degraded, DataNote(source="media", detail=media["note"])]})
    return func.HttpResponse(
        render_briefing_page(view),
        status_code=200,
        mimetype="text/html",
        charset="utf-8",
        headers={
            "Content-Security-Policy": content_security_policy(view.media_origins, header=True),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            # The media links in it expire: a cached copy would go stale.
            "Cache-Control": "no-store",
        },
    )


def briefing_media(raw_shop: str, run_id: str, name: str, expires: str | None, sig: str | None) -> func.HttpResponse:
    """A file of a published briefing, for the same signed link: served from a local store,
    or a redirect to a fresh read-only SAS link when the store has its own URLs."""
    domain = _check_briefing_link(raw_shop, expires, sig)
    if isinstance(domain, func.HttpResponse):
        return domain
    with transaction() as conn:
        briefing = briefings.published_briefing(conn, domain, run_id)
    known = {split_media_uri(briefing[c])[2]: briefing[c] for c in ("video_uri", "audio_uri")
             if briefing and briefing.get(c)}
    if name not in known:
        return problem(404, f"run {run_id[:80]} of {domain} has no published file {name[:80]!r}")
    store = media_store()
    try:
        url = store.media_url(known[name], datetime.now(timezone.utc), media_link_lifetime())
        if url is not None:
            return func.HttpResponse(status_code=302, headers={"Location": url, "Cache-Control": "no-store"})
        data = store.read_bytes(known[name])
    except MediaStoreUnavailableError as exc:
        return problem(503, str(exc))
    except MediaStoreError as exc:
        return problem(404, str(exc))
    return func.HttpResponse(
        data, status_code=200, mimetype=content_type_of(name).split(";")[0],
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=300",
                 "Content-Disposition": f'inline; filename="{name}"'},
    )


def health() -> func.HttpResponse:
    try:
        with transaction() as conn:
            conn.execute("SELECT 1")
    except (psycopg.Error, DatabaseUnavailableError) as exc:
        log.warning("health: database unreachable: %s", type(exc).__name__)
        return json_response({"status": "unhealthy", "database": "unreachable"}, 503)
    return json_response({"status": "ok", "database": "ok"})
