"""The briefing page's "what this run cost" section: each outside service's calls and its own units."""

from __future__ import annotations

import html
from collections.abc import Sequence

from pydantic import BaseModel, Field

UNIT_LABELS = {
    "calls": "calls",
    "query_points": "Shopify query points",
    "request_cost": "ZenRows request cost",
    "prompt_tokens": "prompt tokens",
    "completion_tokens": "completion tokens",
    "characters": "characters",
    "video_seconds": "video seconds",
    "requests": "requests",
}


class CostRow(BaseModel):
    service: str
    unit: str
    amount: float = Field(ge=0)


def _amount(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def render_cost_section(rows: Sequence[CostRow]) -> str:
    """A table of service x unit totals; a sentence when the run called no outside service."""
    esc = html.escape
    if not rows:
        return ('<section id="run-costs"><h2>What this run cost</h2>'
                "<p>This run made no calls to outside services.</p></section>")
    body = "".join(
        f"<tr><td>{esc(row.service)}</td><td>{esc(UNIT_LABELS.get(row.unit, row.unit))}</td>"
        f'<td class="num">{esc(_amount(row.amount))}</td></tr>'
        for row in sorted(rows, key=lambda r: (r.service, r.unit != "calls", r.unit))
    )
    return ('<section id="run-costs"><h2>What this run cost</h2>'
            "<p>Every call to an outside service, in the provider's own unit.</p>"
            '<table id="costs"><thead><tr><th scope="col">Service</th><th scope="col">Unit</th>'
            f'<th scope="col">Amount</th></tr></thead><tbody>{body}</tbody></table></section>')
