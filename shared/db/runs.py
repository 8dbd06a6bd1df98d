"""Pipeline runs and their steps: what ran, when, how often, with what outcome."""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg.types.json import Jsonb

from shared.db.run_costs import run_cost_summary

STEP_STATUSES = ("running", "ok", "degraded", "failed", "skipped")


def start_run(conn: psycopg.Connection, run_id: str, shop_id: int, trigger: str, started_at: datetime) -> None:
    """Create the run, or reopen it when Durable replays or the run is resumed."""
    conn.execute(
        """INSERT INTO pipeline_runs (id, shop_id, trigger, status, started_at)
           VALUES (%s, %s, %s, 'running', %s)
           ON CONFLICT (id) DO UPDATE SET status = 'running', finished_at = NULL, error = NULL""",
        (run_id, shop_id, trigger, started_at),
    )


def finish_run(conn: psycopg.Connection, run_id: str, status: str, error: str | None, finished_at: datetime) -> None:
    if status not in ("completed", "degraded", "failed"):
        raise ValueError(f"run status must be completed, degraded or failed, not {status!r}")
    conn.execute(
        "UPDATE pipeline_runs SET status = %s, error = %s, finished_at = %s WHERE id = %s",
        (status, error, finished_at, run_id),
    )


def step_started(conn: psycopg.Connection, run_id: str, step: str) -> int:
    """Mark a step running; each call is one attempt. Returns the attempt number."""
    row = conn.execute(
        """INSERT INTO pipeline_steps (run_id, step, status, attempts, started_at)
           VALUES (%s, %s, 'running', 1, now())
           ON CONFLICT (run_id, step) DO UPDATE SET
               status = 'running', attempts = pipeline_steps.attempts + 1,
               started_at = COALESCE(pipeline_steps.started_at, now()), finished_at = NULL, error = NULL
           RETURNING attempts""",
        (run_id, step),
    ).fetchone()
    return row["attempts"]


def step_finished(
    conn: psycopg.Connection, run_id: str, step: str, status: str, counts: dict | None = None, error: str | None = None
) -> None:
    if status not in STEP_STATUSES or status == "running":
        raise ValueError(f"a finished step is ok, degraded, failed or skipped, not {status!r}")
    conn.execute(
        """INSERT INTO pipeline_steps (run_id, step, status, attempts, finished_at, counts, error)
           VALUES (%s, %s, %s, 0, now(), %s, %s)
           ON CONFLICT (run_id, step) DO UPDATE SET
               status = EXCLUDED.status, finished_at = now(),
               counts = CASE WHEN EXCLUDED.counts = '{}'::jsonb THEN pipeline_steps.counts ELSE EXCLUDED.counts END,
               error = EXCLUDED.error""",
        (run_id, step, status, Jsonb(counts or {}), error),
    )


def latest_run_id(conn: psycopg.Connection, shop_id: int) -> str | None:
    row = conn.execute(
        "SELECT id FROM pipeline_runs WHERE shop_id = %s ORDER BY started_at DESC, id DESC LIMIT 1", (shop_id,)
    ).fetchone()
    return row["id"] if row else None


def run_report(conn: psycopg.Connection, run_id: str) -> dict | None:
    """The run with its steps, as `runs/latest` and run.json show it."""
    run = conn.execute(
        """SELECT r.id, s.domain AS shop, r.trigger, r.status, r.started_at, r.finished_at, r.error
           FROM pipeline_runs r JOIN shops s ON s.id = r.shop_id WHERE r.id = %s""",
        (run_id,),
    ).fetchone()
    if run is None:
        return None
    steps = conn.execute(
        """SELECT step, status, attempts, started_at, finished_at, counts, error,
                  EXTRACT(EPOCH FROM finished_at - started_at)::float AS seconds
           FROM pipeline_steps WHERE run_id = %s ORDER BY started_at NULLS LAST, step""",
        (run_id,),
    ).fetchall()
    report = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in run.items()}
    report["seconds"] = (
        (run["finished_at"] - run["started_at"]).total_seconds() if run["finished_at"] else None
    )
    report["steps"] = [
        {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in step.items()} for step in steps
    ]
    report["costs"] = run_cost_summary(conn, run_id)
    return report


def run_started_at(conn: psycopg.Connection, run_id: str) -> datetime:
    row = conn.execute("SELECT started_at FROM pipeline_runs WHERE id = %s", (run_id,)).fetchone()
    if row is None:
        raise LookupError(f"no pipeline run {run_id}")
    return row["started_at"]
