"""Repository of the mandatory customer requests (customers/data_request, customers/redact) and their answers.

Rows carry the shop, Shopify's request id, how many orders the request named and the answer
given: never the customer's id, email or phone. One row per delivery; a redelivery changes nothing.
"""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg.types.json import Jsonb
from pydantic import AwareDatetime, BaseModel, ConfigDict


class ComplianceRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    webhook_id: str
    shop_domain: str
    topic: str
    request_id: str | None
    orders_count: int
    report: dict
    handled_at: AwareDatetime


def record_request(
    conn: psycopg.Connection, *, webhook_id: str, shop_domain: str, topic: str, request_id: str | None,
    orders_count: int, report: dict, handled_at: datetime,
) -> None:
    conn.execute(
        """INSERT INTO compliance_requests (webhook_id, shop_domain, topic, request_id, orders_count, report, handled_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (webhook_id) DO NOTHING""",
        (webhook_id, shop_domain, topic, request_id, orders_count, Jsonb(report), handled_at),
    )


def requests_of(conn: psycopg.Connection, shop_domain: str) -> list[ComplianceRequest]:
    rows = conn.execute(
        """SELECT webhook_id, shop_domain, topic, request_id, orders_count, report, handled_at
           FROM compliance_requests WHERE shop_domain = %s ORDER BY handled_at, webhook_id""",
        (shop_domain,),
    ).fetchall()
    return [ComplianceRequest.model_validate(r) for r in rows]
