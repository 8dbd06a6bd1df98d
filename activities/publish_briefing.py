"""publish_briefing: the briefing page, stored beside its media and recorded as published."""

from __future__ import annotations

import azure.durable_functions as df

from activities.step import StepInput, StepSummary, run_step
from shared.briefing.insights import Insight
from shared.briefing.page import BriefingPageView, DataNote, StepRow, render_briefing_page
from shared.briefing.script import BriefingScript
from shared.db import briefings, runs
from shared.db.accounting import accounting_report, accounting_summary
from shared.db.pool import transaction
from shared.db.recommendations import run_recommendations
from shared.db.shops import get_shop
from shared.media_store import media_store

bp = df.Blueprint()

PAGE_NAME = "briefing.html"


def page_view(conn, shop_domain: str, run_id: str) -> BriefingPageView:
    shop = get_shop(conn, shop_domain)
    briefing = briefings.get_briefing(conn, run_id) or {}
    report = runs.run_report(conn, run_id)
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
    video_uri = briefing.get("video_uri")
    return BriefingPageView(
        shop_name=shop.name or shop.domain,
        run_date=runs.run_started_at(conn, run_id).date(),
        run_id=run_id,
        currency=shop.currency,
        generated_at=report["finished_at"] or None,
        # Page and video sit side by side in the media store, so a relative link works anywhere.
        video_url=video_uri.rsplit("/", 1)[-1] if video_uri else None,
        script=BriefingScript.model_validate(briefing["script"]) if briefing.get("script") else None,
        insights=[Insight.model_validate(i) for i in briefing.get("insights") or []],
        recommendations=run_recommendations(conn, run_id),
        degraded=degraded,
        steps=steps,
    )


def _publish(params: StepInput) -> StepSummary:
    with transaction() as conn:
        view = page_view(conn, params.shop, params.run_id)
    html = render_briefing_page(view)
    uri = media_store().put_bytes(params.shop, params.run_id, PAGE_NAME, html.encode("utf-8"))
    with transaction() as conn:
        briefings.publish(conn, params.run_id, uri)
    return StepSummary(status="ok", counts={
        "page_uri": uri, "recommendations": len(view.recommendations), "with_video": view.video_url is not None,
    })


@bp.activity_trigger(input_name="payload")
def publish_briefing(payload: dict) -> dict:
    return run_step("publish_briefing", payload, _publish)
