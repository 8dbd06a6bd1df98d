"""The CSV fallback for a shop that cannot connect its Admin API: import a catalogue file, all or nothing.

Used by `POST /api/shops/{shop}/catalog` (body: the CSV bytes; function key) and by
`python -m shared.cli import-catalog FILE --shop DOMAIN`. The file is checked whole first
(`shared.shopify.catalog_csv`), then written in one transaction (`shared.db.catalog_import`):
a file with any bad row changes nothing, and the answer lists every problem by row and column.
"""

from __future__ import annotations

import logging

import azure.functions as func
from pydantic import BaseModel, ConfigDict

from shared.csv_import_http import csv_import_response
from shared.db.catalog_import import CatalogImportCounts, import_catalog
from shared.db.pool import transaction
from shared.db.shops import check_shop_domain, installed_shop
from shared.settings import get_settings
from shared.shopify.catalog_csv import CsvFormat, parse_catalog_csv

log = logging.getLogger(__name__)


class CatalogImportResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    shop: str
    format: CsvFormat
    skipped_rows: int
    counts: CatalogImportCounts


def import_catalog_csv(domain: str, data: bytes) -> CatalogImportResult:
    """Check and import a catalogue CSV for an installed shop; raises CatalogCsvError listing every problem."""
    domain = check_shop_domain(domain)
    catalog = parse_catalog_csv(data, max_bytes=get_settings().catalog_csv_max_bytes)
    with transaction() as conn:
        shop = installed_shop(conn, domain)
        counts = import_catalog(conn, shop.id, shop.currency, catalog)
    log.info("%s: catalogue CSV imported (%s): %s", domain, catalog.format.value, counts.model_dump())
    return CatalogImportResult(shop=domain, format=catalog.format, skipped_rows=catalog.skipped_rows, counts=counts)


def http_import(raw_shop: str, body: bytes) -> func.HttpResponse:
    """The import over HTTP: see shared.csv_import_http for the answers."""
    def run(shop: str, data: bytes) -> dict:
        result = import_catalog_csv(shop, data)
        return {"shop": result.shop, "format": result.format.value, "skipped_rows": result.skipped_rows,
                **result.counts.model_dump()}

    return csv_import_response(raw_shop, body, run)
