"""What one briefing cost: the units each provider bills, summed over the run's steps.

Rows are the briefing steps' share of `run_costs`: every `external_call` bills the step's
`CostLedger`, and the offline providers bill it through `record_cost`, so an offline run shows
what it would have consumed. `BriefingCost` is the page's and the API's view of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from pydantic import BaseModel, Field

UNITS = ("prompt_tokens", "completion_tokens", "characters", "video_seconds")
BRIEFING_STEPS = ("write_script", "synthesize_speech", "render_video")


class CostRow(BaseModel):
    step: str
    service: str
    unit: str
    amount: Decimal = Field(ge=0)
    calls: int = Field(0, ge=0)


class BriefingCost(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    characters: int = 0
    video_seconds: Decimal = Decimal("0")
    rows: list[CostRow] = Field(default_factory=list)

    @property
    def services(self) -> list[str]:
        return sorted({r.service for r in self.rows})

    @classmethod
    def from_rows(cls, rows: Iterable[CostRow]) -> BriefingCost:
        rows = list(rows)
        total = {unit: sum((r.amount for r in rows if r.unit == unit), Decimal(0)) for unit in UNITS}
        return cls(prompt_tokens=int(total["prompt_tokens"]), completion_tokens=int(total["completion_tokens"]),
                   characters=int(total["characters"]), video_seconds=total["video_seconds"].quantize(Decimal("0.01")),
                   rows=rows)
