"""Writing a checked competitor CSV in one transaction: competitors, confirmed links, pages to match.

SKUs are resolved first; an unknown or ambiguous SKU is a row problem and nothing is written.
Competitors are upserted by (shop, name): a setting the file leaves empty keeps its stored
value (a new competitor gets the shop's currency and the standard tier). A row with a SKU
becomes a confirmed competitor_urls link (the merchant said so); a row without one becomes a
pending competitor_page_matches row, which keeps any earlier decision about that page.
"""

from __future__ import annotations

import psycopg
from pydantic import BaseModel

from shared.csv_problems import CsvProblem
from shared.market.competitor_csv import CompetitorCsv, CompetitorCsvError


class CompetitorImportCounts(BaseModel):
    competitors_created: int = 0
    competitors_updated: int = 0
    urls_linked: int = 0
    pages_to_match: int = 0
    duplicate_rows: int = 0


def import_competitors(conn: psycopg.Connection, shop_id: int, shop_currency: str,
                       parsed: CompetitorCsv) -> CompetitorImportCounts:
    """All or nothing: raises CompetitorCsvError (and writes nothing) when a SKU does not resolve."""
    variant_by_sku = _resolve_skus(conn, shop_id, parsed)
    counts = CompetitorImportCounts(duplicate_rows=parsed.duplicate_rows)
    competitor_ids: dict[str, int] = {}
    for spec in parsed.competitors:
        row = conn.execute(
            """INSERT INTO competitors (shop_id, name, domain, currency, fetch_tier, price_selector)
               VALUES (%(shop)s, %(name)s, %(domain)s, COALESCE(%(currency)s, %(shop_currency)s),
                       COALESCE(%(tier)s, 'standard'), %(selector)s)
               ON CONFLICT (shop_id, name) DO UPDATE SET
                   domain = EXCLUDED.domain,
                   currency = COALESCE(%(currency)s, competitors.currency),
                   fetch_tier = COALESCE(%(tier)s, competitors.fetch_tier),
                   price_selector = COALESCE(%(selector)s, competitors.price_selector)
               RETURNING id, (xmax = 0) AS created""",
            {"shop": shop_id, "name": spec.name, "domain": spec.domain, "currency": spec.currency,
             "shop_currency": shop_currency, "tier": spec.fetch_tier, "selector": spec.price_selector},
        ).fetchone()
        competitor_ids[spec.name.casefold()] = row["id"]
        if row["created"]:
            counts.competitors_created += 1
        else:
            counts.competitors_updated += 1
    links, pages = [], []
    for link in parsed.links:
        competitor_id = competitor_ids[link.competitor.casefold()]
        if link.sku:
            links.append((competitor_id, variant_by_sku[link.sku.casefold()], link.url))
        else:
            pages.append((competitor_id, link.url))
    with conn.cursor() as cur:
        if links:
            cur.executemany(
                """INSERT INTO competitor_urls (competitor_id, variant_id, url, match_status, match_method,
                                                match_confidence)
                   VALUES (%s, %s, %s, 'confirmed', 'csv', 1)
                   ON CONFLICT (competitor_id, variant_id) DO UPDATE SET
                       url = EXCLUDED.url, match_status = 'confirmed', match_method = 'csv',
                       match_confidence = 1, updated_at = now()""",
                links,
            )
        if pages:
            cur.executemany(
                """INSERT INTO competitor_page_matches (competitor_id, url) VALUES (%s, %s)
                   ON CONFLICT (competitor_id, url) DO NOTHING""",
                pages,
            )
    counts.urls_linked, counts.pages_to_match = len(links), len(pages)
    return counts


def _resolve_skus(conn: psycopg.Connection, shop_id: int, parsed: CompetitorCsv) -> dict[str, int]:
    wanted = sorted({link.sku.casefold() for link in parsed.links if link.sku})
    rows = conn.execute(
        """SELECT lower(sku) AS sku, array_agg(id ORDER BY id) AS ids FROM variants
           WHERE shop_id = %s AND lower(sku) = ANY(%s) GROUP BY lower(sku)""",
        (shop_id, wanted),
    ).fetchall()
    found = {row["sku"]: row["ids"] for row in rows}
    problems = []
    for link in parsed.links:
        if not link.sku:
            continue
        ids = found.get(link.sku.casefold())
        if not ids:
            problems.append(CsvProblem(row=link.row, column="sku", reason=f"the shop has no variant with SKU {link.sku!r}"))
        elif len(ids) > 1:
            problems.append(CsvProblem(row=link.row, column="sku",
                                       reason=f"{len(ids)} variants share SKU {link.sku!r}; give each a unique SKU"))
    if problems:
        raise CompetitorCsvError(problems)
    return {sku: ids[0] for sku, ids in found.items()}
