"""publish_briefing: the briefing page, stored beside its media and recorded as published.

The stored page is a snapshot whose links are relative to it (the demo exports it beside the
video). Merchants open the page through the app, which renders it afresh with links minted for
that view (shared/http_api.py).
"""

from __future__ import annotations

import azure.durable_functions as df

from activities.step import StepInput, StepSummary, run_step
from shared.briefing.page import render_briefing_page
from shared.briefing.page_data import page_view
from shared.db import briefings
from shared.db.pool import transaction
from shared.media_store import media_store, split_media_uri

bp = df.Blueprint()

PAGE_NAME = "briefing.html"


def _sibling(uri: str | None) -> str | None:
    # Page and media sit side by side in the store, so the file name is a working relative link.
    return split_media_uri(uri)[2] if uri else None


def _publish(params: StepInput) -> StepSummary:
    with transaction() as conn:
        briefing = briefings.get_briefing(conn, params.run_id) or {}
        view = page_view(conn, params.shop, params.run_id, video_url=_sibling(briefing.get("video_uri")),
                         audio_url=_sibling(briefing.get("audio_uri")))
    html = render_briefing_page(view)
    store = media_store()
    uri = store.put_bytes(params.shop, params.run_id, PAGE_NAME, html.encode("utf-8"))
    with transaction() as conn:
        briefings.publish(conn, params.run_id, uri, store.kind)
    return StepSummary(status="ok", counts={
        "page_uri": uri, "store": store.kind, "recommendations": len(view.recommendations),
        "with_video": view.video_url is not None,
    })


@bp.activity_trigger(input_name="payload")
def publish_briefing(payload: dict) -> dict:
    return run_step("publish_briefing", payload, _publish)
