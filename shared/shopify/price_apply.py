"""Applying approved recommendations to Shopify, and undoing the last batch in one step.

    report = await apply_approved(domain, client, applied_by="ana@shop", how="cli")
    report = await revert_last(domain, client, applied_by="ana@shop", how="cli")

Suggest-only is the default: `apply_approved` refuses unless PRICING_APPLY_APPROVED is on.
Revert is always allowed, so switching the setting off never strands a change.

Apply, per approved (run, variant) not applied before: read the live price; skip when the
variant is gone, already at the new price, or no longer at the price the recommendation was
made against (the merchant changed it since: their change wins); write the rest per product
with productVariantsBulkUpdate; record every variant's outcome in the audit log with the old
price. Revert writes the old prices of the shop's last applied batch back, skipping a variant
whose price changed in Shopify after the apply, and records that batch as reverted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from pydantic import BaseModel

from shared.db import price_changes as repo
from shared.db.pool import transaction
from shared.db.shops import get_shop
from shared.settings import get_settings
from shared.shopify.admin_api import AdminApiClient
from shared.shopify.price_updates import live_prices, set_prices

log = logging.getLogger(__name__)


class PriceApplyDisabledError(repo.PriceChangeError):
    """The shop is suggest-only: PRICING_APPLY_APPROVED is off."""


class BatchReport(BaseModel):
    action: str
    batch_id: int | None
    run_id: str | None
    status: str  # done | partial | failed | nothing_to_do
    applied: int = 0
    failed: int = 0
    skipped: int = 0
    already_applied: int = 0
    changes: list[dict] = []

    def line(self) -> str:
        return (f"{self.action} batch {self.batch_id or '-'} (run {self.run_id or '-'}): {self.status}; "
                f"applied {self.applied}, failed {self.failed}, skipped {self.skipped}"
                + (f", applied before {self.already_applied}" if self.already_applied else ""))


def _shop_id(domain: str) -> int:
    with transaction() as conn:
        shop = get_shop(conn, domain)
    if shop is None:
        raise repo.PriceChangeError(f"shop {domain} is not installed")
    return shop.id


@dataclass
class _Batch:
    """One open batch: every outcome is written to the audit log as soon as it is known."""

    id: int
    shop_id: int
    run_id: str | None
    applied_by: str
    how: str
    rows: list[repo.ChangeRow] = field(default_factory=list)

    def record(self, rows: Sequence[repo.ChangeRow]) -> None:
        with transaction() as conn:
            repo.record_changes(conn, self.id, self.shop_id, rows, run_id=self.run_id, applied_by=self.applied_by,
                                how=self.how)
        self.rows.extend(rows)

    def settle(self, *, interrupted: bool = False) -> str:
        with transaction() as conn:
            return repo.settle_batch(conn, self.id, interrupted=interrupted)


async def _write(client: AdminApiClient, batch: _Batch, targets: Sequence[tuple[repo.ChangeRow, Decimal]]) -> None:
    """Write (row, price to set) one product at a time, logging each product's outcome before the next."""
    by_product: dict[str, list[tuple[repo.ChangeRow, Decimal]]] = {}
    for row, price in targets:
        by_product.setdefault(row.product_shopify_id, []).append((row, price))
    for product_id, group in by_product.items():
        writes = await set_prices(client, product_id, [(row.variant_shopify_id, price) for row, price in group])
        batch.record([replace(row, result="applied" if write.applied else "failed", detail=write.error)
                      for (row, _), write in zip(group, writes)])


async def apply_approved(domain: str, client: AdminApiClient, *, run_id: str | None = None, applied_by: str,
                         how: str) -> BatchReport:
    if not get_settings().pricing_apply_approved:
        raise PriceApplyDisabledError(
            "applying prices is switched off (PRICING_APPLY_APPROVED=false): recommendations are suggestions only")
    shop_id = _shop_id(domain)
    with transaction() as conn:
        run_id = repo.run_of_shop(conn, shop_id, run_id)
        planned, before = repo.approved_not_applied(conn, shop_id, run_id)
        if not planned:
            return BatchReport(action="apply", batch_id=None, run_id=run_id, status="nothing_to_do", already_applied=before)
        batch = _Batch(repo.open_batch(conn, shop_id, "apply", applied_by, run_id=run_id), shop_id, run_id,
                       applied_by, how)
    try:
        live = await live_prices(client, [p.variant_shopify_id for p in planned])
        skipped, targets = [], []
        for p in planned:
            now = live.get(p.variant_shopify_id)
            row = repo.ChangeRow(p.variant_id, p.variant_shopify_id, p.product_shopify_id, now, p.new_price, "skipped")
            if now is None:
                skipped.append(replace(row, detail="the variant is no longer in Shopify"))
            elif now == p.new_price:
                skipped.append(replace(row, detail="already at the recommended price"))
            elif now != p.recommended_from:
                skipped.append(replace(row, detail="the price changed in Shopify since the recommendation "
                                                   f"({p.recommended_from} -> {now})"))
            else:
                targets.append((row, p.new_price))
        batch.record(skipped)
        await _write(client, batch, targets)
    except Exception:
        batch.settle(interrupted=True)
        raise
    report = _report("apply", batch.id, run_id, batch.settle(), batch.rows, already_applied=before)
    log.info("%s: %s", domain, report.line())
    return report


async def revert_last(domain: str, client: AdminApiClient, *, run_id: str | None = None, applied_by: str,
                      how: str) -> BatchReport:
    shop_id = _shop_id(domain)
    with transaction() as conn:
        target = repo.last_revertible_batch(conn, shop_id, run_id)
        if target is None:
            return BatchReport(action="revert", batch_id=None, run_id=run_id, status="nothing_to_do")
        applied = repo.applied_rows(conn, target)
        source_run = repo.batch_run_id(conn, target)
        batch = _Batch(repo.open_batch(conn, shop_id, "revert", applied_by, run_id=source_run, reverts_batch_id=target),
                       shop_id, source_run, applied_by, how)
    try:
        live = await live_prices(client, [r.variant_shopify_id for r in applied])
        skipped, targets = [], []
        for r in applied:
            now = live.get(r.variant_shopify_id)
            # The revert row: from the price we set back to the one it replaced.
            row = repo.ChangeRow(r.variant_id, r.variant_shopify_id, r.product_shopify_id, now, r.old_price, "skipped")
            if now is None:
                skipped.append(replace(row, detail="the variant is no longer in Shopify"))
            elif now != r.new_price:
                skipped.append(replace(row, detail=f"the price changed in Shopify after it was applied "
                                                   f"({r.new_price} -> {now}); left as it is"))
            else:
                targets.append((row, r.old_price))
        batch.record(skipped)
        await _write(client, batch, targets)
    except Exception:
        batch.settle(interrupted=True)
        raise
    report = _report("revert", batch.id, source_run, batch.settle(), batch.rows)
    log.info("%s: %s (batch %d)", domain, report.line(), target)
    return report


def _report(action: str, batch_id: int, run_id: str | None, status: str, rows: Sequence[repo.ChangeRow],
            already_applied: int = 0) -> BatchReport:
    return BatchReport(
        action=action, batch_id=batch_id, run_id=run_id, status=status,
        applied=sum(1 for r in rows if r.result == "applied"), failed=sum(1 for r in rows if r.result == "failed"),
        skipped=sum(1 for r in rows if r.result == "skipped"), already_applied=already_applied,
        changes=[{"variant": r.variant_shopify_id, "old_price": str(r.old_price) if r.old_price is not None else None,
                  "new_price": str(r.new_price), "result": r.result, "detail": r.detail} for r in rows],
    )
