"""HTTP answers for competitor match proposals: list them, confirm or reject one.

    GET  /api/shops/{shop}/competitor-matches?status=proposed,no_match
    POST /api/shops/{shop}/competitor-matches/{id}   {"decision": "confirm" | "reject", "sku": "optional"}

Both need a function key. A confirmed match becomes a competitor link that the next run scrapes.
"""

from __future__ import annotations

import json
from typing import Literal

import azure.functions as func
from pydantic import BaseModel, ConfigDict, ValidationError

from shared.db.competitor_matches import STATUSES, MatchDecisionError, confirm_match, list_matches, reject_match
from shared.db.pool import transaction
from shared.db.shops import InvalidShopDomainError, check_shop_domain, get_shop


class MatchDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["confirm", "reject"]
    sku: str | None = None


def _json(body: object, status: int) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, default=str), status_code=status, mimetype="application/json")


def _shop_id(raw_shop: str) -> int | func.HttpResponse:
    try:
        domain = check_shop_domain(raw_shop)
    except InvalidShopDomainError as exc:
        return _json({"error": str(exc)}, 400)
    with transaction() as conn:
        shop = get_shop(conn, domain)
    if shop is None:
        return _json({"error": f"shop {domain} is not installed"}, 404)
    return shop.id


def http_list(raw_shop: str, status_param: str | None) -> func.HttpResponse:
    shop_id = _shop_id(raw_shop)
    if isinstance(shop_id, func.HttpResponse):
        return shop_id
    statuses = [s.strip() for s in (status_param or "proposed").split(",") if s.strip()]
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown or not statuses:
        return _json({"error": f"status must be among {', '.join(STATUSES)}; got {', '.join(unknown) or 'nothing'}"}, 400)
    with transaction() as conn:
        matches = list_matches(conn, shop_id, statuses)
    return _json({"matches": [m.model_dump(mode="json") for m in matches]}, 200)


def http_decide(raw_shop: str, raw_id: str, body: bytes) -> func.HttpResponse:
    shop_id = _shop_id(raw_shop)
    if isinstance(shop_id, func.HttpResponse):
        return shop_id
    if not raw_id.isdigit():
        return _json({"error": "the match id must be a number"}, 400)
    try:
        decision = MatchDecision.model_validate_json(body or b"{}")
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()]
        return _json({"error": "invalid body", "problems": problems}, 422)
    try:
        with transaction() as conn:
            if decision.decision == "confirm":
                confirm_match(conn, shop_id, int(raw_id), sku=decision.sku)
            else:
                reject_match(conn, shop_id, int(raw_id))
    except MatchDecisionError as exc:
        status = 404 if "is not one of this shop's" in str(exc) else 409
        return _json({"error": str(exc)}, status)
    return _json({"id": int(raw_id), "status": "confirmed" if decision.decision == "confirm" else "rejected"}, 200)
