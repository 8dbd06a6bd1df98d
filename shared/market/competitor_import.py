"""Importing a shop's competitor list from CSV, all or nothing.

Used by `POST /api/shops/{shop}/competitors` (body: the CSV bytes; function key) and by
`python -m shared.cli import-competitors FILE --shop DOMAIN`. The file is checked whole first
(`shared.market.competitor_csv`), then its SKUs are resolved and everything is written in one
transaction (`shared.db.competitor_import`): any bad row changes nothing, and the answer lists
every problem by row and column.
"""

from __future__ import annotations

import json
import logging

import azure.functions as func
from pydantic import BaseModel, ConfigDict

from shared.db.competitor_import import CompetitorImportCounts, import_competitors
from shared.db.pool import transaction
from shared.db.shops import InvalidShopDomainError, check_shop_domain, get_shop
from shared.market.competitor_csv import CompetitorCsvError, CompetitorCsvTooLargeError, parse_competitor_csv
from shared.settings import get_settings

log = logging.getLogger(__name__)


class ShopNotInstalledError(LookupError):
    retryable = False


class CompetitorImportResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    shop: str
    counts: CompetitorImportCounts


def import_competitor_csv(domain: str, data: bytes) -> CompetitorImportResult:
    """Check and import a competitor CSV for an installed shop; raises CompetitorCsvError listing every problem."""
    domain = check_shop_domain(domain)
    parsed = parse_competitor_csv(data, max_bytes=get_settings().competitor_csv_max_bytes)
    with transaction() as conn:
        shop = get_shop(conn, domain)
        if shop is None:
            raise ShopNotInstalledError(f"shop {domain} is not installed")
        counts = import_competitors(conn, shop.id, shop.currency, parsed)
    log.info("%s: competitor CSV imported: %s", domain, counts.model_dump())
    return CompetitorImportResult(shop=domain, counts=counts)


def _json(body: dict, status: int) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, default=str), status_code=status, mimetype="application/json")


def http_import(raw_shop: str, body: bytes) -> func.HttpResponse:
    """200 with the counts; 422 (413 when too large) listing every problem; 400/404 for the shop."""
    try:
        result = import_competitor_csv(raw_shop, body)
    except InvalidShopDomainError as exc:
        return _json({"error": str(exc)}, 400)
    except ShopNotInstalledError as exc:
        return _json({"error": str(exc)}, 404)
    except CompetitorCsvError as exc:
        status = 413 if isinstance(exc, CompetitorCsvTooLargeError) else 422
        count = len(exc.problems)
        return _json({"error": f"the file was not imported: {count} problem{'s' if count != 1 else ''}; "
                               "nothing was changed",
                      "problems": [p.model_dump() for p in exc.problems]}, status)
    return _json({"shop": result.shop, **result.counts.model_dump()}, 200)
