"""The cost of a run: what each step's external calls spent, in each provider's own unit."""

from __future__ import annotations

from decimal import Decimal

import psycopg

from shared.briefing.costs import BRIEFING_STEPS, BriefingCost, CostRow
from shared.telemetry import CostLedger

CALLS_UNIT = "calls"  # every service's call count is stored as one more unit


def ledger_rows(ledger: CostLedger) -> list[tuple[str, str, Decimal]]:
    """(service, unit, amount) for each cost in the ledger and each service's call count."""
    rows = [(r["service"], r["unit"], Decimal(str(r["amount"]))) for r in ledger.as_rows()]
    rows += [(service, CALLS_UNIT, Decimal(count)) for service, count in sorted(ledger.calls.items())]
    return rows


def record_step_costs(conn: psycopg.Connection, run_id: str, step: str, ledger: CostLedger) -> int:
    """Add one execution's costs to the step's rows (called once per execution, as it ends)."""
    rows = ledger_rows(ledger)
    for service, unit, amount in rows:
        conn.execute(
            """INSERT INTO run_costs (run_id, step, service, unit, amount)
               VALUES (%s, %s, %s, %s, %s)
               ON CONFLICT (run_id, step, service, unit)
               DO UPDATE SET amount = run_costs.amount + EXCLUDED.amount, updated_at = now()""",
            (run_id, step, service, unit, amount),
        )
    return len(rows)


def run_cost_summary(conn: psycopg.Connection, run_id: str) -> dict:
    """{"total": [{service, unit, amount}], "by_step": [{step, service, unit, amount}]}."""
    by_step = conn.execute(
        "SELECT step, service, unit, amount FROM run_costs WHERE run_id = %s ORDER BY step, service, unit",
        (run_id,),
    ).fetchall()
    total = conn.execute(
        """SELECT service, unit, sum(amount) AS amount
           FROM run_costs WHERE run_id = %s GROUP BY service, unit ORDER BY service, unit""",
        (run_id,),
    ).fetchall()
    # Provider units, not money: plain numbers in JSON.
    return {"total": [{**row, "amount": float(row["amount"])} for row in total],
            "by_step": [{**row, "amount": float(row["amount"])} for row in by_step]}


def briefing_cost(conn: psycopg.Connection, run_id: str) -> BriefingCost:
    """What the run's briefing steps (script, voice, video) consumed, with each service's calls."""
    rows = conn.execute(
        """SELECT step, service, unit, amount FROM run_costs
           WHERE run_id = %s AND step = ANY(%s) ORDER BY step, service, unit""",
        (run_id, list(BRIEFING_STEPS)),
    ).fetchall()
    calls = {(r["step"], r["service"]): int(r["amount"]) for r in rows if r["unit"] == CALLS_UNIT}
    return BriefingCost.from_rows(
        CostRow(step=r["step"], service=r["service"], unit=r["unit"], amount=r["amount"],
                calls=calls.get((r["step"], r["service"]), 0))
        for r in rows if r["unit"] != CALLS_UNIT
    )
