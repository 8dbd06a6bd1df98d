"""The HTTP side of approving, applying and reverting prices (function key on every route).

    POST shops/{shop}/recommendations/approve  {"skus": [...]} | {"variant_ids": [...]} | {"all": true},
                                               optional "run_id" (default: the latest run), "decision"
                                               ("approved" | "rejected"), "by" (who decided)
    POST shops/{shop}/recommendations/apply    {"run_id"?, "by"?}: 409 while PRICING_APPLY_APPROVED is off
    POST shops/{shop}/prices/revert            {"run_id"?, "by"?}: the last applied batch, back to its old prices
    GET  shops/{shop}/prices/changes           the audit log, newest first
"""

from __future__ import annotations

import json
import logging
from typing import Literal

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.db import price_changes
from shared.db.pool import transaction
from shared.http_api import installed_shop, json_response, problem
from shared.shopify.admin_api import AdminApiClient, ShopifyError, ShopifyMissingScopeError
from shared.shopify.price_apply import PriceApplyDisabledError, apply_approved, revert_last
from shared.shopify.tokens import ShopNotAuthorizedError, get_access_token

log = logging.getLogger(__name__)


class ApproveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    run_id: str | None = Field(None, max_length=200)
    decision: Literal["approved", "rejected"] = "approved"
    skus: list[str] = Field(default_factory=list, max_length=10_000)
    variant_ids: list[int] = Field(default_factory=list, max_length=10_000)
    everything: bool = Field(False, alias="all")
    by: str = Field("api", min_length=1, max_length=200)


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: str | None = Field(None, max_length=200)
    by: str = Field("api", min_length=1, max_length=200)


def _body(req: func.HttpRequest, model: type[BaseModel]) -> BaseModel | func.HttpResponse:
    raw = req.get_body() or b"{}"
    try:
        return model.model_validate(json.loads(raw))
    except ValueError as exc:  # json.JSONDecodeError and pydantic's ValidationError are both ValueErrors
        if isinstance(exc, ValidationError):
            problems = [{"field": ".".join(str(p) for p in e["loc"]) or "(body)", "reason": e["msg"]} for e in exc.errors()]
            return json_response({"error": "the request body is not valid", "problems": problems}, 422)
        return problem(400, "the request body must be a JSON object")


def approve(req: func.HttpRequest, raw_shop: str) -> func.HttpResponse:
    shop = installed_shop(raw_shop)
    if isinstance(shop, func.HttpResponse):
        return shop
    body = _body(req, ApproveRequest)
    if isinstance(body, func.HttpResponse):
        return body
    assert isinstance(body, ApproveRequest)
    try:
        with transaction() as conn:
            run_id = price_changes.run_of_shop(conn, shop.id, body.run_id)
            result = price_changes.decide(conn, shop.id, run_id, body.decision, body.by, skus=body.skus,
                                          variant_ids=body.variant_ids, everything=body.everything)
    except price_changes.PriceChangeError as exc:
        return problem(422, str(exc))
    return json_response(result.model_dump(), 200 if result.decided or not result.not_found else 422)


async def _batch(req: func.HttpRequest, raw_shop: str, action: str) -> func.HttpResponse:
    shop = installed_shop(raw_shop)
    if isinstance(shop, func.HttpResponse):
        return shop
    body = _body(req, BatchRequest)
    if isinstance(body, func.HttpResponse):
        return body
    assert isinstance(body, BatchRequest)
    work = apply_approved if action == "apply" else revert_last
    try:
        async with AdminApiClient(shop.domain, get_access_token(shop.domain)) as client:
            report = await work(shop.domain, client, run_id=body.run_id, applied_by=body.by, how="http")
    except PriceApplyDisabledError as exc:
        return problem(409, str(exc))
    except price_changes.PriceChangeError as exc:
        return problem(422, str(exc))
    except ShopNotAuthorizedError as exc:
        return problem(409, str(exc))
    except ShopifyMissingScopeError as exc:
        return problem(409, f"the app may not write prices in this shop: it needs the access scope "
                            f"{', '.join(exc.required_scopes) or 'write_products'} (the merchant must grant it)")
    except ShopifyError as exc:
        log.warning("%s: %s of prices stopped: %s", shop.domain, action, exc)
        return problem(503 if exc.retryable else 502, f"Shopify: {exc}")
    return json_response(report.model_dump(), 200)


async def apply(req: func.HttpRequest, raw_shop: str) -> func.HttpResponse:
    return await _batch(req, raw_shop, "apply")


async def revert(req: func.HttpRequest, raw_shop: str) -> func.HttpResponse:
    return await _batch(req, raw_shop, "revert")


def changes(raw_shop: str) -> func.HttpResponse:
    shop = installed_shop(raw_shop)
    if isinstance(shop, func.HttpResponse):
        return shop
    with transaction() as conn:
        log_rows = price_changes.audit_log(conn, shop.id)
    return json_response({"shop": shop.domain, "changes": log_rows})
