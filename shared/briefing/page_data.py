"""What the briefing page shows for one run, read from the database.

The publish step renders it once with links relative to the stored page (the snapshot the demo
exports); the HTTP trigger renders it again on every view, with media links minted for that view.
"""

from __future__ import annotations

import psycopg

from shared.briefing.cost_summary import CostRow
from shared.briefing.insights import Insight
from shared.briefing.page import BriefingPageView, DataNote, StepRow
from shared.briefing.script import BriefingScript
from shared.db import briefings, run_costs, runs
from shared.db.accounting import accounting_report, accounting_summary
from shared.db.recommendations import run_recommendations
from shared.db.shops import get_shop


def page_view(conn: psycopg.Connection, shop_domain: str, run_id: str, *, video_url: str | None,
              audio_url: str | None = None, media_origins: list[str] | None = None) -> BriefingPageView:
    shop = get_shop(conn, shop_domain)
    if shop is None:
        raise LookupError(f"shop {shop_domain} is not installed")
    briefing = briefings.get_briefing(conn, run_id) or {}
    report = runs.run_report(conn, run_id)
    if report is None:
        raise LookupError(f"no pipeline run {run_id}")
    steps = [
        StepRow(step=s["step"], status=s["status"], duration_seconds=s["seconds"], attempts=s["attempts"],
                counts={k: v for k, v in (s["counts"] or {}).items() if v is not None}, error=s["error"])
        for s in report["steps"]
    ]
    degraded = [
        DataNote(source=s.step, detail=s.error or s.status) for s in steps if s.status in ("degraded", "failed", "skipped")
    ]
    accounting = accounting_summary(accounting_report(conn, shop.id))
    if accounting:
        degraded.append(DataNote(source="accounting costs", detail=accounting))
    return BriefingPageView(
        shop_name=shop.name or shop.domain,
        run_date=runs.run_started_at(conn, run_id).date(),
        run_id=run_id,
        currency=shop.currency,
        generated_at=report["finished_at"] or None,
        media_origins=media_origins or [],
        video_url=video_url,
        audio_url=audio_url,
        script=BriefingScript.model_validate(briefing["script"]) if briefing.get("script") else None,
        insights=[Insight.model_validate(i) for i in briefing.get("insights") or []],
        recommendations=run_recommendations(conn, run_id),
        degraded=degraded,
        steps=steps,
        costs=[CostRow.model_validate(row) for row in report["costs"]["total"]],
        briefing_cost=run_costs.briefing_cost(conn, run_id),
    )
