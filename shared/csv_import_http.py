"""The HTTP answer of a CSV import (catalogue, competitors): the same codes and body for each.

200 with the counts; 422 listing every problem (413 when the file is over the limit), and
nothing written; 400 for a malformed shop name; 404 for a shop that is not installed.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import azure.functions as func

from shared.csv_problems import CsvRejectedError, CsvTooLargeError
from shared.db.shops import InvalidShopDomainError, ShopNotInstalledError


def _json(body: dict, status: int) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, default=str), status_code=status, mimetype="application/json")


def csv_import_response(raw_shop: str, body: bytes, run_import: Callable[[str, bytes], dict]) -> func.HttpResponse:
    """`run_import(shop, body)` imports and returns the answer's fields; its errors become the codes above."""
    try:
        answer = run_import(raw_shop, body)
    except InvalidShopDomainError as exc:
        return _json({"error": str(exc)}, 400)
    except ShopNotInstalledError as exc:
        return _json({"error": str(exc)}, 404)
    except CsvRejectedError as exc:
        count = len(exc.problems)
        return _json({"error": f"the file was not imported: {count} problem{'s' if count != 1 else ''}; "
                               "nothing was changed",
                      "problems": [p.model_dump() for p in exc.problems]},
                     413 if isinstance(exc, CsvTooLargeError) else 422)
    return _json(answer, 200)
