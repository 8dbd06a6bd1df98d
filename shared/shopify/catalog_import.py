"""The CSV fallback for a shop that cannot connect its Admin API: import a catalogue file, all or nothing.

Used by `POST /api/shops/{shop}/catalog` (body: the CSV bytes; function key) and by
`python -m shared.cli import-catalog FILE --shop DOMAIN`. The file is checked whole first
(`shared.shopify.catalog_csv`), then written in one transaction (`shared.db.catalog_import`):
a file with any bad row changes nothing, and the answer lists every problem by row and column.
"""

from __future__ import annotations

import json
import logging

import azure.functions as func
from pydantic import BaseModel, ConfigDict

from shared.db.catalog_import import CatalogImportCounts, import_catalog
from shared.db.pool import transaction
from shared.db.shops import InvalidShopDomainError, check_shop_domain, get_shop
from shared.settings import get_settings
from shared.shopify.catalog_csv import CatalogCsvError, CatalogTooLargeError, CsvFormat, parse_catalog_csv

log = logging.getLogger(__name__)


class ShopNotInstalledError(LookupError):
    retryable = False


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
        shop = get_shop(conn, domain)
        if shop is None:
            raise ShopNotInstalledError(f"shop {domain} is not installed")
        counts = import_catalog(conn, shop.id, shop.currency, catalog)
    log.info("%s: catalogue CSV imported (%s): %s", domain, catalog.format.value, counts.model_dump())
    return CatalogImportResult(shop=domain, format=catalog.format, skipped_rows=catalog.skipped_rows, counts=counts)


def _json(body: dict, status: int) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, default=str), status_code=status, mimetype="application/json")


def http_import(raw_shop: str, body: bytes) -> func.HttpResponse:
    """200 with the counts; 422 (413 when too large) listing every problem; 400/404 for the shop."""
    try:
        result = import_catalog_csv(raw_shop, body)
    except InvalidShopDomainError as exc:
        return _json({"error": str(exc)}, 400)
    except ShopNotInstalledError as exc:
        return _json({"error": str(exc)}, 404)
    except CatalogCsvError as exc:
        status = 413 if isinstance(exc, CatalogTooLargeError) else 422
        return _json({"error": f"the file was not imported: {len(exc.problems)} problem"
                               f"{'s' if len(exc.problems) != 1 else ''}; nothing was changed",
                      "problems": [p.model_dump() for p in exc.problems]}, status)
    return _json({"shop": result.shop, "format": result.format.value, "skipped_rows": result.skipped_rows,
                  **result.counts.model_dump()}, 200)
