"""Importing a shop's competitor list from CSV, all or nothing.

Used by `POST /api/shops/{shop}/competitors` (body: the CSV bytes; function key) and by
`python -m shared.cli import-competitors FILE --shop DOMAIN`. The file is checked whole first
(`shared.market.competitor_csv`), then its SKUs are resolved and everything is written in one
transaction (`shared.db.competitor_import`): any bad row changes nothing, and the answer lists
every problem by row and column.
"""

from __future__ import annotations

import logging

import azure.functions as func
from pydantic import BaseModel, ConfigDict

from shared.csv_import_http import csv_import_response
from shared.db.competitor_import import CompetitorImportCounts, import_competitors
from shared.db.pool import transaction
from shared.db.shops import check_shop_domain, installed_shop
from shared.market.competitor_csv import parse_competitor_csv
from shared.settings import get_settings

log = logging.getLogger(__name__)


class CompetitorImportResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    shop: str
    counts: CompetitorImportCounts


def import_competitor_csv(domain: str, data: bytes) -> CompetitorImportResult:
    """Check and import a competitor CSV for an installed shop; raises CompetitorCsvError listing every problem."""
    domain = check_shop_domain(domain)
    parsed = parse_competitor_csv(data, max_bytes=get_settings().competitor_csv_max_bytes)
    with transaction() as conn:
        shop = installed_shop(conn, domain)
        counts = import_competitors(conn, shop.id, shop.currency, parsed)
    log.info("%s: competitor CSV imported: %s", domain, counts.model_dump())
    return CompetitorImportResult(shop=domain, counts=counts)


def http_import(raw_shop: str, body: bytes) -> func.HttpResponse:
    """The import over HTTP: see shared.csv_import_http for the answers."""
    def run(shop: str, data: bytes) -> dict:
        result = import_competitor_csv(shop, data)
        return {"shop": result.shop, **result.counts.model_dump()}

    return csv_import_response(raw_shop, body, run)
