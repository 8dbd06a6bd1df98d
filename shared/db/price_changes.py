"""The merchant's decisions on recommendations, and the audit log of prices written to Shopify.

Decisions are upserts on (run, variant): deciding again changes the decision. A batch is one
apply or one revert; its rows in `price_changes` say, per variant, the old and the new price
and whether Shopify took it. A (run, variant) that was applied once is never applied again by
that run's approval, even after a revert: applying twice does not double-apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import psycopg
from pydantic import BaseModel

Decision = Literal["approved", "rejected"]
RUNNING_BATCH_MINUTES = 15  # a batch still 'running' after this is taken to have crashed
_LOCK_NAMESPACE = 7_402_611_914  # advisory lock: "price batches of shop N"


class PriceChangeError(RuntimeError):
    retryable = False


class DecisionResult(BaseModel):
    run_id: str
    decision: Decision
    decided: int
    not_found: list[str]  # SKUs or variant ids that have no price change in the run


@dataclass(frozen=True)
class PlannedChange:
    variant_id: int
    variant_shopify_id: str
    product_shopify_id: str
    sku: str | None
    recommended_from: Decimal  # the price the recommendation was made against
    new_price: Decimal


@dataclass(frozen=True)
class ChangeRow:
    variant_id: int
    variant_shopify_id: str
    product_shopify_id: str
    old_price: Decimal | None
    new_price: Decimal
    result: Literal["applied", "failed", "skipped"]
    detail: str | None = None


def run_of_shop(conn: psycopg.Connection, shop_id: int, run_id: str | None) -> str:
    """The run asked for, checked to be the shop's; or the shop's latest run that has recommendations."""
    if run_id is not None:
        row = conn.execute("SELECT 1 FROM pipeline_runs WHERE id = %s AND shop_id = %s", (run_id, shop_id)).fetchone()
        if row is None:
            raise PriceChangeError(f"run {run_id!r} is not a run of this shop")
        return run_id
    row = conn.execute(
        """SELECT r.id FROM pipeline_runs r WHERE r.shop_id = %s
             AND EXISTS (SELECT 1 FROM recommendations x WHERE x.run_id = r.id)
           ORDER BY r.started_at DESC, r.id DESC LIMIT 1""",
        (shop_id,),
    ).fetchone()
    if row is None:
        raise PriceChangeError("the shop has no recommendations yet")
    return row["id"]


def decide(conn: psycopg.Connection, shop_id: int, run_id: str, decision: Decision, decided_by: str, *,
           skus: Sequence[str] = (), variant_ids: Sequence[int] = (), everything: bool = False) -> DecisionResult:
    """Approve or reject the run's price changes: all of them, or those named by SKU or variant id."""
    if decision not in ("approved", "rejected"):
        raise PriceChangeError(f"decision must be approved or rejected, not {decision!r}")
    if not everything and not skus and not variant_ids:
        raise PriceChangeError("name the recommendations (skus or variant_ids), or ask for all of them")
    changes = conn.execute(
        """SELECT r.variant_id, v.sku FROM recommendations r JOIN variants v ON v.id = r.variant_id
           WHERE r.run_id = %s AND v.shop_id = %s AND r.recommended_price IS NOT NULL
             AND r.recommended_price <> r.current_price""",
        (run_id, shop_id),
    ).fetchall()
    by_sku: dict[str, list[int]] = {}
    for c in changes:
        if c["sku"]:
            by_sku.setdefault(c["sku"], []).append(c["variant_id"])
    known_ids = {c["variant_id"] for c in changes}
    chosen: set[int] = set(known_ids) if everything else set()
    not_found: list[str] = []
    for sku in skus:
        if sku in by_sku:
            chosen.update(by_sku[sku])
        else:
            not_found.append(sku)
    for variant_id in variant_ids:
        if variant_id in known_ids:
            chosen.add(variant_id)
        else:
            not_found.append(str(variant_id))
    if chosen:
        with conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO recommendation_decisions (run_id, variant_id, decision, decided_by, decided_at)
                   VALUES (%s, %s, %s, %s, now())
                   ON CONFLICT (run_id, variant_id) DO UPDATE SET
                       decision = EXCLUDED.decision, decided_by = EXCLUDED.decided_by, decided_at = now()""",
                [(run_id, variant_id, decision, decided_by[:200]) for variant_id in sorted(chosen)],
            )
    return DecisionResult(run_id=run_id, decision=decision, decided=len(chosen), not_found=not_found)


def approved_not_applied(conn: psycopg.Connection, shop_id: int, run_id: str) -> tuple[list[PlannedChange], int]:
    """The run's approved price changes that no batch has applied yet, and how many were applied before."""
    rows = conn.execute(
        """SELECT r.variant_id, v.shopify_id AS variant_shopify_id, p.shopify_id AS product_shopify_id, v.sku,
                  r.current_price, r.recommended_price,
                  EXISTS (SELECT 1 FROM price_changes c JOIN price_change_batches b ON b.id = c.batch_id
                          WHERE b.action = 'apply' AND c.run_id = r.run_id AND c.variant_id = r.variant_id
                            AND c.result = 'applied') AS applied_before
           FROM recommendation_decisions d
           JOIN recommendations r ON r.run_id = d.run_id AND r.variant_id = d.variant_id
           JOIN variants v ON v.id = r.variant_id JOIN products p ON p.id = v.product_id
           WHERE d.run_id = %s AND d.decision = 'approved' AND v.shop_id = %s
             AND r.recommended_price IS NOT NULL AND r.recommended_price <> r.current_price
           ORDER BY p.shopify_id, v.shopify_id""",
        (run_id, shop_id),
    ).fetchall()
    planned = [
        PlannedChange(r["variant_id"], r["variant_shopify_id"], r["product_shopify_id"], r["sku"],
                      Decimal(r["current_price"]), Decimal(r["recommended_price"]))
        for r in rows if not r["applied_before"]
    ]
    return planned, sum(1 for r in rows if r["applied_before"])


def open_batch(conn: psycopg.Connection, shop_id: int, action: str, requested_by: str, *, run_id: str | None = None,
               reverts_batch_id: int | None = None) -> int:
    """Start a batch; refuses while another batch of the shop is running (one writer at a time)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_NAMESPACE % 2**31, shop_id))
    running = conn.execute(
        """SELECT id FROM price_change_batches WHERE shop_id = %s AND status = 'running'
             AND started_at > now() - make_interval(mins => %s)""",
        (shop_id, RUNNING_BATCH_MINUTES),
    ).fetchone()
    if running is not None:
        raise PriceChangeError(f"another price batch ({running['id']}) of this shop is still running; try again later")
    return conn.execute(
        """INSERT INTO price_change_batches (shop_id, action, run_id, reverts_batch_id, requested_by)
           VALUES (%s, %s, %s, %s, %s) RETURNING id""",
        (shop_id, action, run_id, reverts_batch_id, requested_by[:200]),
    ).fetchone()["id"]


def record_changes(conn: psycopg.Connection, batch_id: int, shop_id: int, rows: Sequence[ChangeRow], *,
                   run_id: str | None, applied_by: str, how: str) -> None:
    """Write audit rows (as soon as Shopify has answered for them) and mirror applied prices into `variants`."""
    if not rows:
        return
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO price_changes (batch_id, shop_id, variant_id, variant_shopify_id, product_shopify_id, run_id,
                                         old_price, new_price, result, detail, applied_by, how)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (batch_id, variant_shopify_id) DO UPDATE SET result = EXCLUDED.result, detail = EXCLUDED.detail,
                   old_price = EXCLUDED.old_price, new_price = EXCLUDED.new_price, applied_at = now()""",
            [(batch_id, shop_id, r.variant_id, r.variant_shopify_id, r.product_shopify_id, run_id, r.old_price,
              r.new_price, r.result, (r.detail or "")[:500] or None, applied_by[:200], how) for r in rows],
        )
        # Our copy of the price follows at once; the next sync confirms it.
        cur.executemany("UPDATE variants SET price = %s WHERE id = %s",
                        [(r.new_price, r.variant_id) for r in rows if r.result == "applied"])


def settle_batch(conn: psycopg.Connection, batch_id: int, *, interrupted: bool = False) -> str:
    """The batch's final status from its audit rows: done, partial (some failed, or cut short after writing), failed."""
    row = conn.execute(
        """SELECT count(*) FILTER (WHERE result = 'applied') AS applied, count(*) FILTER (WHERE result = 'failed') AS failed
           FROM price_changes WHERE batch_id = %s""",
        (batch_id,),
    ).fetchone()
    applied, failed = row["applied"], row["failed"] or 0
    if interrupted:
        status = "partial" if applied else "failed"
    else:
        status = "failed" if failed and not applied else "partial" if failed else "done"
    conn.execute("UPDATE price_change_batches SET status = %s, finished_at = now() WHERE id = %s", (status, batch_id))
    return status


def last_revertible_batch(conn: psycopg.Connection, shop_id: int, run_id: str | None) -> int | None:
    """The shop's latest apply batch (of the run, if named) that applied something and is not reverted yet."""
    row = conn.execute(
        """SELECT b.id FROM price_change_batches b
           WHERE b.shop_id = %s AND b.action = 'apply' AND b.status IN ('done', 'partial')
             AND (%s::text IS NULL OR b.run_id = %s)
             AND NOT EXISTS (SELECT 1 FROM price_change_batches r
                             WHERE r.reverts_batch_id = b.id AND r.status <> 'failed')
             AND EXISTS (SELECT 1 FROM price_changes c WHERE c.batch_id = b.id AND c.result = 'applied')
           ORDER BY b.started_at DESC, b.id DESC LIMIT 1""",
        (shop_id, run_id, run_id),
    ).fetchone()
    return row["id"] if row else None


def applied_rows(conn: psycopg.Connection, batch_id: int) -> list[ChangeRow]:
    rows = conn.execute(
        """SELECT variant_id, variant_shopify_id, product_shopify_id, old_price, new_price, result, detail
           FROM price_changes WHERE batch_id = %s AND result = 'applied' AND variant_id IS NOT NULL
           ORDER BY product_shopify_id, variant_shopify_id""",
        (batch_id,),
    ).fetchall()
    return [ChangeRow(**r) for r in rows]


def batch_run_id(conn: psycopg.Connection, batch_id: int) -> str | None:
    row = conn.execute("SELECT run_id FROM price_change_batches WHERE id = %s", (batch_id,)).fetchone()
    return row["run_id"] if row else None


def audit_log(conn: psycopg.Connection, shop_id: int, limit: int = 200) -> list[dict]:
    """The latest audited changes of the shop, newest first."""
    rows = conn.execute(
        """SELECT c.applied_at, b.action, c.batch_id, b.reverts_batch_id, c.run_id, v.sku, c.variant_shopify_id,
                  c.old_price, c.new_price, c.result, c.detail, c.applied_by, c.how
           FROM price_changes c JOIN price_change_batches b ON b.id = c.batch_id LEFT JOIN variants v ON v.id = c.variant_id
           WHERE c.shop_id = %s ORDER BY c.applied_at DESC, c.batch_id DESC, c.variant_shopify_id LIMIT %s""",
        (shop_id, limit),
    ).fetchall()
    return [dict(r) for r in rows]
