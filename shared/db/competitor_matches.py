"""Competitor pages waiting for a match, the proposals, and the merchant's decisions.

A row of competitor_page_matches is unique per (competitor, url). Statuses: pending (not yet
read), proposed (a variant suggested, with method and confidence), no_match, confirmed (now a
competitor_urls link) and rejected. Only `confirm_match` writes to competitor_urls.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import psycopg
from pydantic import BaseModel

if TYPE_CHECKING:
    from shared.market.extraction.identity import ProductIdentity
    from shared.market.matching import MatchProposal

STATUSES = ("pending", "proposed", "no_match", "confirmed", "rejected")


class MatchDecisionError(ValueError):
    """The match cannot be confirmed or rejected as asked; the message says why."""

    retryable = False


class PendingPage(BaseModel):
    match_id: int
    competitor_id: int
    url: str
    fetch_tier: str


class VariantForMatching(BaseModel):
    variant_id: int
    sku: str | None
    barcode: str | None
    title: str


class CompetitorPageMatch(BaseModel):
    id: int
    competitor: str
    url: str
    status: str
    variant_id: int | None
    sku: str | None
    variant_title: str | None
    method: str | None
    confidence: Decimal | None
    page_title: str | None
    page_gtin: str | None
    page_sku: str | None
    page_mpn: str | None
    error: str | None
    proposed_at: datetime | None
    decided_at: datetime | None


def pending_pages(conn: psycopg.Connection, shop_id: int, *, limit: int) -> list[PendingPage]:
    rows = conn.execute(
        """SELECT m.id AS match_id, m.competitor_id, m.url, c.fetch_tier
           FROM competitor_page_matches m JOIN competitors c ON c.id = m.competitor_id
           WHERE c.shop_id = %s AND m.status = 'pending' ORDER BY m.id LIMIT %s""",
        (shop_id, limit),
    ).fetchall()
    return [PendingPage.model_validate(r) for r in rows]


def variants_for_matching(conn: psycopg.Connection, shop_id: int) -> list[VariantForMatching]:
    rows = conn.execute(
        """SELECT v.id AS variant_id, v.sku, v.barcode,
                  CASE WHEN v.title IS NULL OR v.title IN ('', 'Default Title') THEN p.title
                       ELSE p.title || ' - ' || v.title END AS title
           FROM variants v JOIN products p ON p.id = v.product_id
           WHERE v.shop_id = %s ORDER BY v.id""",
        (shop_id,),
    ).fetchall()
    return [VariantForMatching.model_validate(r) for r in rows]


def record_proposal(conn: psycopg.Connection, match_id: int, identity: ProductIdentity,
                    proposal: MatchProposal | None) -> None:
    conn.execute(
        """UPDATE competitor_page_matches SET
               status = %(status)s, variant_id = %(variant)s, method = %(method)s, confidence = %(confidence)s,
               page_title = %(title)s, page_gtin = %(gtin)s, page_sku = %(sku)s, page_mpn = %(mpn)s,
               error = NULL, proposed_at = now(), updated_at = now()
           WHERE id = %(id)s AND status = 'pending'""",
        {"id": match_id, "status": "proposed" if proposal else "no_match",
         "variant": proposal.variant_id if proposal else None, "method": proposal.method if proposal else None,
         "confidence": proposal.confidence if proposal else None, "title": identity.title, "gtin": identity.gtin,
         "sku": identity.sku, "mpn": identity.mpn},
    )


def record_failure(conn: psycopg.Connection, match_id: int, error: str) -> None:
    """The page could not be read: it stays pending, to be tried on the next run."""
    conn.execute("UPDATE competitor_page_matches SET error = %s, updated_at = now() WHERE id = %s",
                 (error, match_id))


def list_matches(conn: psycopg.Connection, shop_id: int, statuses: Sequence[str] = STATUSES) -> list[CompetitorPageMatch]:
    rows = conn.execute(
        """SELECT m.id, c.name AS competitor, m.url, m.status, m.variant_id, v.sku,
                  CASE WHEN v.id IS NULL THEN NULL
                       WHEN v.title IS NULL OR v.title IN ('', 'Default Title') THEN p.title
                       ELSE p.title || ' - ' || v.title END AS variant_title,
                  m.method, m.confidence, m.page_title, m.page_gtin, m.page_sku, m.page_mpn, m.error,
                  m.proposed_at, m.decided_at
           FROM competitor_page_matches m JOIN competitors c ON c.id = m.competitor_id
           LEFT JOIN variants v ON v.id = m.variant_id LEFT JOIN products p ON p.id = v.product_id
           WHERE c.shop_id = %s AND m.status = ANY(%s)
           ORDER BY m.confidence DESC NULLS LAST, m.id""",
        (shop_id, list(statuses)),
    ).fetchall()
    return [CompetitorPageMatch.model_validate(r) for r in rows]


def confirm_match(conn: psycopg.Connection, shop_id: int, match_id: int, *, sku: str | None = None) -> int:
    """Link the page to the proposed variant (or to the variant with `sku`); returns the competitor_urls id."""
    match = conn.execute(
        """SELECT m.id, m.competitor_id, m.url, m.status, m.variant_id, m.method, m.confidence
           FROM competitor_page_matches m JOIN competitors c ON c.id = m.competitor_id
           WHERE m.id = %s AND c.shop_id = %s FOR UPDATE OF m""",
        (match_id, shop_id),
    ).fetchone()
    if match is None:
        raise MatchDecisionError(f"match {match_id} is not one of this shop's competitor pages")
    variant_id, method, confidence = match["variant_id"], match["method"], match["confidence"]
    if sku is not None:
        rows = conn.execute("SELECT id FROM variants WHERE shop_id = %s AND lower(sku) = lower(%s)",
                            (shop_id, sku)).fetchall()
        if len(rows) != 1:
            raise MatchDecisionError(f"SKU {sku!r} names {len(rows)} variants of this shop; it must name one")
        if rows[0]["id"] != variant_id:
            variant_id, method, confidence = rows[0]["id"], "manual", Decimal(1)
    if variant_id is None:
        raise MatchDecisionError(f"match {match_id} has no proposed variant ({match['status']}); give --sku")
    if match["status"] == "pending":
        raise MatchDecisionError(f"match {match_id} has not been read yet")
    link = conn.execute(
        """INSERT INTO competitor_urls (competitor_id, variant_id, url, match_status, match_method, match_confidence)
           VALUES (%s, %s, %s, 'confirmed', %s, %s)
           ON CONFLICT (competitor_id, variant_id) DO UPDATE SET
               url = EXCLUDED.url, match_status = 'confirmed', match_method = EXCLUDED.match_method,
               match_confidence = EXCLUDED.match_confidence, updated_at = now()
           RETURNING id""",
        (match["competitor_id"], variant_id, match["url"], method, confidence),
    ).fetchone()
    conn.execute(
        """UPDATE competitor_page_matches SET status = 'confirmed', variant_id = %s, method = %s, confidence = %s,
               decided_at = now(), updated_at = now() WHERE id = %s""",
        (variant_id, method, confidence, match_id),
    )
    return link["id"]


def reject_match(conn: psycopg.Connection, shop_id: int, match_id: int) -> None:
    """Set a proposal aside; a page already confirmed loses its link too."""
    match = conn.execute(
        """SELECT m.id, m.competitor_id, m.url, m.status, m.variant_id FROM competitor_page_matches m
           JOIN competitors c ON c.id = m.competitor_id WHERE m.id = %s AND c.shop_id = %s FOR UPDATE OF m""",
        (match_id, shop_id),
    ).fetchone()
    if match is None:
        raise MatchDecisionError(f"match {match_id} is not one of this shop's competitor pages")
    if match["status"] == "confirmed" and match["variant_id"] is not None:
        conn.execute("DELETE FROM competitor_urls WHERE competitor_id = %s AND variant_id = %s AND url = %s",
                     (match["competitor_id"], match["variant_id"], match["url"]))
    conn.execute("UPDATE competitor_page_matches SET status = 'rejected', decided_at = now(), updated_at = now() "
                 "WHERE id = %s", (match_id,))
