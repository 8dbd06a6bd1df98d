"""The briefing of a run: its insights, script, media links and publication."""

from __future__ import annotations

import psycopg
from psycopg.types.json import Jsonb


def save_insights(conn: psycopg.Connection, run_id: str, shop_id: int, insights: list[dict]) -> None:
    conn.execute(
        """INSERT INTO briefings (run_id, shop_id, insights) VALUES (%s, %s, %s)
           ON CONFLICT (run_id) DO UPDATE SET insights = EXCLUDED.insights, updated_at = now()""",
        (run_id, shop_id, Jsonb(insights)),
    )


def save_script(conn: psycopg.Connection, run_id: str, script: dict, source: str) -> None:
    updated = conn.execute(
        "UPDATE briefings SET script = %s, script_source = %s, updated_at = now() WHERE run_id = %s",
        (Jsonb(script), source, run_id),
    ).rowcount
    if updated != 1:
        raise LookupError(f"run {run_id} has no briefing to attach a script to")


def save_media(conn: psycopg.Connection, run_id: str, kind: str, uri: str, seconds: float) -> None:
    if kind not in ("audio", "video"):
        raise ValueError(f"media kind must be audio or video, not {kind!r}")
    conn.execute(
        f"UPDATE briefings SET {kind}_uri = %s, {kind}_seconds = %s, updated_at = now() WHERE run_id = %s",
        (uri, round(seconds, 2), run_id),
    )


def publish(conn: psycopg.Connection, run_id: str, page_uri: str, media_store: str | None = None) -> None:
    conn.execute(
        """UPDATE briefings SET page_uri = %s, media_store = COALESCE(%s, media_store), published_at = now(),
                  updated_at = now() WHERE run_id = %s""",
        (page_uri, media_store, run_id),
    )


def published_briefing(conn: psycopg.Connection, shop_domain: str, run_id: str | None = None) -> dict | None:
    """The shop's latest published briefing, or the one of `run_id` if it is this shop's and published."""
    if run_id is None:
        return conn.execute(
            """SELECT b.* FROM briefings b JOIN shops s ON s.id = b.shop_id
               WHERE s.domain = %s AND s.status = 'active' AND b.published_at IS NOT NULL
               ORDER BY b.published_at DESC, b.run_id DESC LIMIT 1""",
            (shop_domain,),
        ).fetchone()
    return conn.execute(
        """SELECT b.* FROM briefings b JOIN shops s ON s.id = b.shop_id
           WHERE s.domain = %s AND s.status = 'active' AND b.run_id = %s AND b.published_at IS NOT NULL""",
        (shop_domain, run_id),
    ).fetchone()


def get_briefing(conn: psycopg.Connection, run_id: str) -> dict | None:
    return conn.execute("SELECT * FROM briefings WHERE run_id = %s", (run_id,)).fetchone()
