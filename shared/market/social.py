"""Social signals: a MOCK. No social network is read; every value is made up and labelled so.

`SocialSignalProvider` is the seam for a real source later: it names itself, says whether it
is a mock, and returns one signal per product and day. The only provider now is
`MockSocialProvider`, whose numbers are deterministic per (shop, product, day), so a run can be
replayed, and look plausible (a steady level per product, weekly ups and downs, mildly
positive sentiment), so the rest of the pipeline and the briefing have something to show.
Every row is stored with `is_mock = true` and every summary says `mocked: true`; the briefing
page says MOCKED.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from shared.db.market import SocialSignalRow, shop_products, upsert_social_signals
from shared.db.pool import transaction

MOCK_NOTICE = "Social signals are mocked: deterministic made-up numbers, not read from any social network."


class SocialSignal(BaseModel):
    product_id: int
    day: date
    mentions: int = Field(ge=0)
    sentiment: Decimal = Field(ge=-1, le=1)
    is_mock: Literal[True] = True


class SocialSummary(BaseModel):
    shop_id: int
    run_id: str
    day: date
    provider: str = "mock"
    products: int = 0
    stored: int = 0
    total_mentions: int = 0
    mean_sentiment: float | None = None
    mocked: Literal[True] = True
    notice: str = MOCK_NOTICE

    def counts(self) -> dict[str, int | float | bool | None]:
        return {"products": self.products, "stored": self.stored, "total_mentions": self.total_mentions,
                "mean_sentiment": self.mean_sentiment, "mocked": True}


def _unit(*parts: object) -> float:
    """A number in [0, 1) fixed by its inputs."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def mock_social_signal(shop_id: int, product_id: int, day: date) -> SocialSignal:
    """Made-up mentions and sentiment for one product on one day (MOCK)."""
    level = 2 + _unit("level", shop_id, product_id) ** 2 * 120  # most products quiet, a few talked about
    weekly = 1 + 0.25 * (1 if day.weekday() >= 5 else 0)
    daily = 0.6 + 0.8 * _unit("mentions", shop_id, product_id, day)
    mentions = int(level * weekly * daily)
    mood = _unit("mood", shop_id, product_id) * 0.8 - 0.2  # -0.2..0.6 per product
    wobble = (_unit("sentiment", shop_id, product_id, day) - 0.5) * 0.4
    sentiment = max(-1.0, min(1.0, mood + wobble))
    return SocialSignal(product_id=product_id, day=day, mentions=mentions,
                        sentiment=Decimal(repr(round(sentiment, 3))))


class SocialSignalProvider(Protocol):
    """A source of mentions and sentiment per product; `is_mock` is stored with every row."""

    name: str
    is_mock: bool

    def signals(self, shop_id: int, products: list[tuple[int, str]], day: date) -> list[SocialSignal]: ...


class MockSocialProvider:
    """Made-up, deterministic signals (see `mock_social_signal`)."""

    name = "mock"
    is_mock = True

    def signals(self, shop_id: int, products: list[tuple[int, str]], day: date) -> list[SocialSignal]:
        return [mock_social_signal(shop_id, product_id, day) for product_id, _title in products]


def run_day(run_id: str, default: date | None = None) -> date:
    """The day a run is about: the date in its id (daily-<shop>-YYYY-MM-DD), so replays agree."""
    match = re.search(r"(\d{4}-\d{2}-\d{2})(?!.*\d{4}-\d{2}-\d{2})", run_id)
    if match:
        try:
            return date.fromisoformat(match.group(1))
        except ValueError:
            pass
    return default or datetime.now(UTC).date()


def store_social_signals(shop_id: int, run_id: str, *, day: date | None = None,
                         provider: SocialSignalProvider | None = None) -> SocialSummary:
    """Write one social-signal row per product of the shop for this run (MOCK unless a real provider is given)."""
    day = day or run_day(run_id)
    provider = provider or MockSocialProvider()
    if not provider.is_mock:
        raise NotImplementedError("only the mock provider exists; a real one must label its rows and summary itself")
    with transaction() as conn:
        products = shop_products(conn, shop_id)
        signals = provider.signals(shop_id, products, day)
        rows = [SocialSignalRow(run_id=run_id, product_id=s.product_id, mentions=s.mentions,
                                sentiment=s.sentiment, is_mock=provider.is_mock) for s in signals]
        stored = upsert_social_signals(conn, shop_id, rows)
    return SocialSummary(
        shop_id=shop_id, run_id=run_id, day=day, provider=provider.name, products=len(products), stored=stored,
        total_mentions=sum(s.mentions for s in signals),
        mean_sentiment=round(sum(float(s.sentiment) for s in signals) / len(signals), 3) if signals else None,
    )
