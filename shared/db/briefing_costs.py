"""The cost rows of a run's briefing steps (see shared.briefing.costs)."""

from __future__ import annotations

import psycopg

from shared.briefing.costs import BriefingCost, CostRow


def save_step_costs(conn: psycopg.Connection, run_id: str, step: str, rows: list[dict],
                    calls: dict[str, int] | None = None) -> None:
    """Replace the step's rows with `rows` ({service, unit, amount}): a rerun leaves one set."""
    calls = calls or {}
    # Inside the caller's transaction: readers see the old set or the new one, never a mix.
    conn.execute("DELETE FROM briefing_costs WHERE run_id = %s AND step = %s", (run_id, step))
    for row in rows:
        conn.execute(
            """INSERT INTO briefing_costs (run_id, step, service, unit, amount, calls) VALUES (%s, %s, %s, %s, %s, %s)
               ON CONFLICT (run_id, step, service, unit)
               DO UPDATE SET amount = EXCLUDED.amount, calls = EXCLUDED.calls, recorded_at = now()""",
            (run_id, step, row["service"], row["unit"], round(float(row["amount"]), 3), calls.get(row["service"], 0)),
        )


def briefing_cost(conn: psycopg.Connection, run_id: str) -> BriefingCost:
    rows = conn.execute(
        "SELECT step, service, unit, amount, calls FROM briefing_costs WHERE run_id = %s ORDER BY step, service, unit",
        (run_id,),
    ).fetchall()
    return BriefingCost.from_rows(CostRow.model_validate(r) for r in rows)
