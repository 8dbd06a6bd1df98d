"""What the HTTP triggers answer, kept out of function_app.py so it reads as a table of contents."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

import azure.functions as func
import psycopg

from shared.briefing import links
from shared.db import runs
from shared.db.accounting import accounting_report
from shared.db.pool import DatabaseUnavailableError, transaction
from shared.db.shops import InvalidShopDomainError, Shop, active_shop_domains, check_shop_domain, get_shop
from shared.media_store import MediaStoreError, media_store
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


def briefing_page(raw_shop: str, expires: str | None, sig: str | None) -> func.HttpResponse:
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
    with transaction() as conn:
        row = conn.execute(
            """SELECT b.page_uri FROM briefings b JOIN shops s ON s.id = b.shop_id
               WHERE s.domain = %s AND s.status = 'active' AND b.page_uri IS NOT NULL
               ORDER BY b.published_at DESC NULLS LAST LIMIT 1""",
            (domain,),
        ).fetchone()
    if row is None:
        return problem(404, f"no published briefing for {domain} yet; the first one is on its way")
    try:
        page = media_store().read_bytes(row["page_uri"])
    except MediaStoreError as exc:
        return problem(404, str(exc))
    return func.HttpResponse(
        page,
        status_code=200,
        mimetype="text/html",
        charset="utf-8",
        # The page carries its own Content-Security-Policy (hashes of its one script and style).
        headers={"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"},
    )


def health() -> func.HttpResponse:
    try:
        with transaction() as conn:
            conn.execute("SELECT 1")
    except (psycopg.Error, DatabaseUnavailableError) as exc:
        log.warning("health: database unreachable: %s", type(exc).__name__)
        return json_response({"status": "unhealthy", "database": "unreachable"}, 503)
    return json_response({"status": "ok", "database": "ok"})
