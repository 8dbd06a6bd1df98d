"""Market signals in the database: competitors and their prices, search trends, social signals.

Every write is an upsert on the table's natural key, so a step run twice leaves one result:
competitors by (shop_id, name), competitor URLs by (competitor_id, variant_id), prices by
(competitor_url_id, run_id), trend points by (shop_id, keyword, geo, period_start), social
signals by (run_id, product_id).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

import psycopg
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FetchStatus = Literal["ok", "no_price", "error"]
AvailabilityValue = Literal["in_stock", "out_of_stock", "unknown"]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware (UTC)")
    return value


class CompetitorUrlTarget(BaseModel):
    """A confirmed competitor page for one of our variants, with what helps to read it."""

    competitor_url_id: int
    competitor_id: int
    competitor_name: str
    domain: str
    currency: str
    fetch_tier: str
    price_selector: str | None
    variant_id: int
    url: str


class CompetitorPriceRow(BaseModel):
    """One competitor page as observed in one run."""

    model_config = ConfigDict(frozen=True)

    competitor_url_id: int
    run_id: str = Field(min_length=1, max_length=200)
    observed_at: datetime
    fetch_status: FetchStatus
    price: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=2)
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    availability: AvailabilityValue | None = None
    source: str | None = Field(None, max_length=40)
    error: str | None = Field(None, max_length=500)
    fetcher: Literal["direct", "zenrows"] | None = None
    fetch_attempts: int | None = Field(None, ge=0)
    fetch_cost: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=6)

    @field_validator("observed_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _aware(value)

    @field_validator("price", mode="before")
    @classmethod
    def _cents(cls, value: object) -> object:
        # The column holds cents; a page's "12.999" is stored as 13.00, not rejected.
        if isinstance(value, Decimal):
            return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        return value

    @field_validator("fetch_cost", mode="before")
    @classmethod
    def _micro_dollars(cls, value: object) -> object:
        # ZenRows states costs in USD with as many places as it likes; the column keeps six.
        if isinstance(value, Decimal):
            return value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CompetitorPriceRow:
        if self.fetch_status == "ok" and self.price is None:
            raise ValueError("an 'ok' observation needs a price")
        if self.fetch_status != "ok" and self.price is not None:
            raise ValueError(f"a '{self.fetch_status}' observation has no price")
        return self


class TrendObservation(BaseModel):
    """One period of one keyword; interest None means missing, which is not zero."""

    model_config = ConfigDict(frozen=True)

    keyword: str = Field(min_length=1, max_length=200)
    geo: str = Field("", max_length=20)
    period_start: date
    interest: Decimal | None = Field(None, ge=0, max_digits=8, decimal_places=3)
    anchor: str | None = None

    @field_validator("interest", mode="before")
    @classmethod
    def _three_places(cls, value: object) -> object:
        if isinstance(value, float):
            value = Decimal(repr(value))
        if isinstance(value, Decimal):
            return value.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
        return value


class TrendKeywordDay(BaseModel):
    """One keyword's trend as fetched on one day; index None (status missing) is not zero."""

    model_config = ConfigDict(frozen=True)

    keyword: str = Field(min_length=1, max_length=200)
    geo: str = Field("", max_length=20)
    timeframe: str = Field(min_length=1, max_length=40)
    day: date
    status: Literal["ok", "missing"]
    index: float | None = None
    slope: float | None = None
    anchor: str

    @model_validator(mode="after")
    def _missing_has_no_index(self) -> TrendKeywordDay:
        if (self.status == "ok") != (self.index is not None):
            raise ValueError("an 'ok' day has an index and a 'missing' one has none")
        return self


class SocialSignalRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: str = Field(min_length=1, max_length=200)
    product_id: int
    mentions: int = Field(ge=0)
    sentiment: Decimal = Field(ge=-1, le=1, max_digits=4, decimal_places=3)
    is_mock: bool


class CompetitorPriceStats(BaseModel):
    variant_id: int
    currency: str
    min: Decimal
    median: Decimal
    max: Decimal
    count: int = Field(ge=1)


class CompetitorPriceDay(BaseModel):
    """One variant's competitor prices on one day, and what was left out of them and why."""

    variant_id: int
    day: date
    currency: str
    min: Decimal | None
    median: Decimal | None
    max: Decimal | None
    priced: int = Field(description="Fresh prices in the shop's currency, in stock or of unknown stock.")
    out_of_stock: int
    stale: int = Field(description="Pages whose latest price is older than the freshness horizon.")
    other_currency: int
    other_currencies: list[str]


class KeywordTrend(BaseModel):
    keyword: str
    geo: str
    latest_period: date | None
    latest_interest: Decimal | None
    slope_per_week: float | None = Field(description="Least-squares slope of interest per week over the window.")
    points: int = Field(description="Known (non-missing) points in the window.")
    periods: int


# --- competitors ------------------------------------------------------------------------------


def upsert_competitor(
    conn: psycopg.Connection,
    shop_id: int,
    *,
    name: str,
    domain: str,
    currency: str = "GBP",
    fetch_tier: str = "standard",
    price_selector: str | None = None,
) -> int:
    row = conn.execute(
        """INSERT INTO competitors (shop_id, name, domain, currency, fetch_tier, price_selector)
           VALUES (%s, %s, %s, %s, %s, %s)
           ON CONFLICT (shop_id, name) DO UPDATE SET
               domain = EXCLUDED.domain, currency = EXCLUDED.currency,
               fetch_tier = EXCLUDED.fetch_tier, price_selector = EXCLUDED.price_selector
           RETURNING id""",
        (shop_id, name, domain.lower(), currency.upper(), fetch_tier, price_selector),
    ).fetchone()
    return row["id"]


def upsert_competitor_url(
    conn: psycopg.Connection,
    competitor_id: int,
    variant_id: int,
    url: str,
    *,
    match_status: str = "confirmed",
    match_method: str | None = None,
    match_confidence: Decimal | float | None = None,
) -> int:
    """Link a competitor's page to our variant; both must belong to the same shop."""
    row = conn.execute(
        """INSERT INTO competitor_urls (competitor_id, variant_id, url, match_status, match_method, match_confidence)
           SELECT c.id, v.id, %s, %s, %s, %s
           FROM competitors c JOIN variants v ON v.shop_id = c.shop_id
           WHERE c.id = %s AND v.id = %s
           ON CONFLICT (competitor_id, variant_id) DO UPDATE SET
               url = EXCLUDED.url, match_status = EXCLUDED.match_status,
               match_method = EXCLUDED.match_method, match_confidence = EXCLUDED.match_confidence,
               updated_at = now()
           RETURNING id""",
        (url, match_status, match_method, match_confidence, competitor_id, variant_id),
    ).fetchone()
    if row is None:
        raise ValueError(f"competitor {competitor_id} and variant {variant_id} do not belong to one shop")
    return row["id"]


def confirmed_competitor_urls(conn: psycopg.Connection, shop_id: int) -> list[CompetitorUrlTarget]:
    rows = conn.execute(
        """SELECT cu.id AS competitor_url_id, c.id AS competitor_id, c.name AS competitor_name, c.domain,
                  c.currency, c.fetch_tier, c.price_selector, cu.variant_id, cu.url
           FROM competitor_urls cu JOIN competitors c ON c.id = cu.competitor_id
           WHERE c.shop_id = %s AND cu.match_status = 'confirmed'
           ORDER BY c.name, cu.id""",
        (shop_id,),
    ).fetchall()
    return [CompetitorUrlTarget.model_validate(row) for row in rows]


def upsert_competitor_prices(conn: psycopg.Connection, rows: Sequence[CompetitorPriceRow]) -> int:
    if not rows:
        return 0
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO competitor_prices (competitor_url_id, run_id, observed_at, fetch_status, price,
                                              currency, availability, source, error, fetcher, fetch_attempts,
                                              fetch_cost)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (competitor_url_id, run_id) DO UPDATE SET
                   observed_at = EXCLUDED.observed_at, fetch_status = EXCLUDED.fetch_status,
                   price = EXCLUDED.price, currency = EXCLUDED.currency,
                   availability = EXCLUDED.availability, source = EXCLUDED.source, error = EXCLUDED.error,
                   fetcher = EXCLUDED.fetcher, fetch_attempts = EXCLUDED.fetch_attempts,
                   fetch_cost = EXCLUDED.fetch_cost""",
            [
                (r.competitor_url_id, r.run_id, r.observed_at, r.fetch_status, r.price, r.currency,
                 r.availability, r.source, r.error, r.fetcher, r.fetch_attempts, r.fetch_cost)
                for r in rows
            ],
        )
    return len(rows)


def competitor_price_stats(
    conn: psycopg.Connection,
    shop_id: int,
    run_id: str,
    *,
    max_age_hours: int,
    currency: str | None = None,
    as_of: datetime | None = None,
    include_unknown_availability: bool = True,
) -> dict[int, CompetitorPriceStats]:
    """Per variant: min, median and max of the competitors' current prices.

    For each confirmed competitor page the latest successful observation counts, if it was
    made within `max_age_hours` before `as_of` (default: when this run observed its prices).
    A page that this run found without a price does not fall back to an older price; one that
    this run could not fetch does. Out-of-stock prices and prices in another currency than
    `currency` (default: the shop's) are left out; so are pages of unknown availability when
    `include_unknown_availability` is false.
    """
    if as_of is not None:
        _aware(as_of)
    rows = conn.execute(
        """WITH params AS (
               SELECT COALESCE(%(as_of)s::timestamptz,
                               (SELECT max(cp.observed_at) FROM competitor_prices cp
                                  JOIN competitor_urls cu ON cu.id = cp.competitor_url_id
                                  JOIN competitors c ON c.id = cu.competitor_id
                                 WHERE cp.run_id = %(run)s AND c.shop_id = %(shop)s),
                               now()) AS as_of,
                      COALESCE(%(currency)s, (SELECT currency FROM shops WHERE id = %(shop)s)) AS currency
           ),
           latest AS (
               SELECT DISTINCT ON (cp.competitor_url_id)
                      cp.competitor_url_id, cu.variant_id, cp.price, cp.currency, cp.availability
               FROM competitor_prices cp
               JOIN competitor_urls cu ON cu.id = cp.competitor_url_id
               JOIN competitors c ON c.id = cu.competitor_id, params
               WHERE c.shop_id = %(shop)s AND cu.match_status = 'confirmed'
                 AND cp.fetch_status = 'ok'
                 AND cp.observed_at <= params.as_of
                 AND cp.observed_at > params.as_of - make_interval(hours => %(hours)s)
                 AND NOT EXISTS (SELECT 1 FROM competitor_prices now_row
                                  WHERE now_row.competitor_url_id = cp.competitor_url_id
                                    AND now_row.run_id = %(run)s AND now_row.fetch_status = 'no_price')
               ORDER BY cp.competitor_url_id, cp.run_id = %(run)s DESC, cp.observed_at DESC
           )
           SELECT l.variant_id, p.currency, array_agg(l.price ORDER BY l.price) AS prices
           FROM latest l, params p
           WHERE l.currency = p.currency
             AND (l.availability = 'in_stock'
                  OR (%(unknown)s AND (l.availability IS NULL OR l.availability = 'unknown')))
           GROUP BY l.variant_id, p.currency""",
        {"as_of": as_of, "run": run_id, "shop": shop_id, "currency": currency, "hours": max_age_hours,
         "unknown": include_unknown_availability},
    ).fetchall()
    stats = {}
    for row in rows:
        prices: list[Decimal] = row["prices"]
        middle = len(prices) // 2
        median = prices[middle] if len(prices) % 2 else (prices[middle - 1] + prices[middle]) / 2
        stats[row["variant_id"]] = CompetitorPriceStats(
            variant_id=row["variant_id"], currency=row["currency"], min=prices[0], median=median,
            max=prices[-1], count=len(prices),
        )
    return stats


def summarise_competitor_prices(
    conn: psycopg.Connection, shop_id: int, *, day: date, as_of: datetime, max_age_hours: int
) -> list[CompetitorPriceDay]:
    """Per variant: min, median and max of its competitors' fresh prices, stored for `day`.

    For every confirmed competitor page the latest observation up to `as_of` that read the page
    counts once (a failed fetch falls back to the one before; a page now read without a price
    counts for nothing, as in `competitor_price_stats`). It is stale (counted, not used) when older than `max_age_hours`; out of stock
    (counted, not used); in another currency than the shop's (counted and named, never mixed
    in); otherwise its price is used. Pages of unknown stock are used, as in pricing, since
    many shops do not state it. Upserted on (variant, day): a rerun leaves one row.
    """
    _aware(as_of)
    rows = conn.execute(
        """WITH latest AS (
               SELECT DISTINCT ON (cp.competitor_url_id)
                      cu.variant_id, cp.price, cp.currency, cp.availability,
                      cp.observed_at > %(as_of)s - make_interval(hours => %(hours)s) AS fresh
               FROM competitor_prices cp
               JOIN competitor_urls cu ON cu.id = cp.competitor_url_id
               JOIN competitors c ON c.id = cu.competitor_id
               WHERE c.shop_id = %(shop)s AND cu.match_status = 'confirmed'
                 AND cp.fetch_status IN ('ok', 'no_price') AND cp.observed_at <= %(as_of)s
               ORDER BY cp.competitor_url_id, cp.observed_at DESC
           ), shop AS (SELECT currency FROM shops WHERE id = %(shop)s)
           SELECT l.variant_id, shop.currency,
                  array_agg(l.price ORDER BY l.price) FILTER (
                      WHERE l.fresh AND l.currency = shop.currency
                        AND l.availability IS DISTINCT FROM 'out_of_stock') AS prices,
                  count(*) FILTER (WHERE l.fresh AND l.availability = 'out_of_stock') AS out_of_stock,
                  count(*) FILTER (WHERE NOT l.fresh) AS stale,
                  count(*) FILTER (WHERE l.fresh AND l.currency <> shop.currency
                                     AND l.availability IS DISTINCT FROM 'out_of_stock') AS other_currency,
                  coalesce(array_agg(DISTINCT l.currency::text) FILTER (
                      WHERE l.fresh AND l.currency <> shop.currency), '{}') AS other_currencies
           FROM latest l, shop WHERE l.price IS NOT NULL
           GROUP BY l.variant_id, shop.currency ORDER BY l.variant_id""",
        {"shop": shop_id, "as_of": as_of, "hours": max_age_hours},
    ).fetchall()
    days = []
    for row in rows:
        prices: list[Decimal] = row["prices"] or []
        middle = len(prices) // 2
        median = None if not prices else prices[middle] if len(prices) % 2 else \
            ((prices[middle - 1] + prices[middle]) / 2).quantize(Decimal("0.01"), ROUND_HALF_UP)
        days.append(CompetitorPriceDay(
            variant_id=row["variant_id"], day=day, currency=row["currency"], min=prices[0] if prices else None,
            median=median, max=prices[-1] if prices else None, priced=len(prices), out_of_stock=row["out_of_stock"],
            stale=row["stale"], other_currency=row["other_currency"], other_currencies=sorted(row["other_currencies"]),
        ))
    if days:
        with conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO competitor_price_days (shop_id, variant_id, day, currency, min_price, median_price,
                       max_price, priced, out_of_stock, stale, other_currency, other_currencies, computed_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())
                   ON CONFLICT (variant_id, day) DO UPDATE SET
                       currency = EXCLUDED.currency, min_price = EXCLUDED.min_price,
                       median_price = EXCLUDED.median_price, max_price = EXCLUDED.max_price,
                       priced = EXCLUDED.priced, out_of_stock = EXCLUDED.out_of_stock, stale = EXCLUDED.stale,
                       other_currency = EXCLUDED.other_currency, other_currencies = EXCLUDED.other_currencies,
                       computed_at = now()""",
                [(shop_id, d.variant_id, d.day, d.currency, d.min, d.median, d.max, d.priced, d.out_of_stock,
                  d.stale, d.other_currency, d.other_currencies) for d in days],
            )
    return days


# --- trends -------------------------------------------------------------------------------------


def upsert_trend_observations(
    conn: psycopg.Connection, shop_id: int, rows: Iterable[TrendObservation], *, fetched_at: datetime
) -> int:
    """Store trend points; a missing value never overwrites one already known for that period."""
    _aware(fetched_at)
    params = [(shop_id, r.keyword, r.geo, r.period_start, r.interest, r.anchor, fetched_at) for r in rows]
    if not params:
        return 0
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO trend_observations (shop_id, keyword, geo, period_start, interest, anchor, fetched_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (shop_id, keyword, geo, period_start) DO UPDATE SET
                   interest = COALESCE(EXCLUDED.interest, trend_observations.interest),
                   anchor = CASE WHEN EXCLUDED.interest IS NULL THEN trend_observations.anchor
                                 ELSE EXCLUDED.anchor END,
                   fetched_at = CASE WHEN EXCLUDED.interest IS NULL THEN trend_observations.fetched_at
                                     ELSE EXCLUDED.fetched_at END""",
            params,
        )
    return len(params)


def keyword_trends(
    conn: psycopg.Connection, shop_id: int, *, geo: str | None = None, weeks: int = 8
) -> list[KeywordTrend]:
    """Latest known interest and the slope over the last `weeks` periods, per keyword."""
    rows = conn.execute(
        """WITH ranked AS (
               SELECT keyword, geo, period_start, interest,
                      row_number() OVER (PARTITION BY keyword, geo ORDER BY period_start DESC) AS rn
               FROM trend_observations
               WHERE shop_id = %(shop)s AND (%(geo)s::text IS NULL OR geo = %(geo)s)
           )
           SELECT keyword, geo,
                  max(period_start) FILTER (WHERE interest IS NOT NULL) AS latest_period,
                  (array_agg(interest ORDER BY period_start DESC) FILTER (WHERE interest IS NOT NULL))[1]
                      AS latest_interest,
                  regr_slope(interest::float8, (period_start - DATE '2000-01-02')::float8 / 7) AS slope_per_week,
                  count(interest) AS points, count(*) AS periods
           FROM ranked WHERE rn <= %(weeks)s
           GROUP BY keyword, geo ORDER BY keyword, geo""",
        {"shop": shop_id, "geo": geo, "weeks": weeks},
    ).fetchall()
    return [KeywordTrend.model_validate(row) for row in rows]


def trend_series(
    conn: psycopg.Connection, shop_id: int, *, geo: str | None = None, since: date | None = None
) -> dict[str, list[tuple[date, Decimal | None]]]:
    """Every stored point per keyword, oldest first (for charts)."""
    rows = conn.execute(
        """SELECT keyword, period_start, interest FROM trend_observations
           WHERE shop_id = %(shop)s AND (%(geo)s::text IS NULL OR geo = %(geo)s)
             AND (%(since)s::date IS NULL OR period_start >= %(since)s)
           ORDER BY keyword, period_start""",
        {"shop": shop_id, "geo": geo, "since": since},
    ).fetchall()
    series: dict[str, list[tuple[date, Decimal | None]]] = {}
    for row in rows:
        series.setdefault(row["keyword"], []).append((row["period_start"], row["interest"]))
    return series


def cached_trend_days(
    conn: psycopg.Connection, shop_id: int, *, geo: str, timeframe: str, day: date
) -> dict[str, TrendKeywordDay]:
    """Keywords already fetched successfully on `day` for this geo and timeframe."""
    rows = conn.execute(
        """SELECT keyword, geo, timeframe, day, status, interest_index::float8 AS index, slope_4w AS slope, anchor
           FROM trend_keyword_days
           WHERE shop_id = %s AND geo = %s AND timeframe = %s AND day = %s AND status = 'ok'""",
        (shop_id, geo, timeframe, day),
    ).fetchall()
    return {row["keyword"]: TrendKeywordDay.model_validate(row) for row in rows}


def upsert_trend_days(
    conn: psycopg.Connection, shop_id: int, rows: Sequence[TrendKeywordDay], *, fetched_at: datetime
) -> int:
    """Store the day's results; a missing result never replaces one already known for that day."""
    _aware(fetched_at)
    if not rows:
        return 0
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO trend_keyword_days (shop_id, keyword, geo, timeframe, day, status, interest_index,
                                               slope_4w, anchor, fetched_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (shop_id, keyword, geo, timeframe, day) DO UPDATE SET
                   status = EXCLUDED.status, interest_index = EXCLUDED.interest_index,
                   slope_4w = EXCLUDED.slope_4w, anchor = EXCLUDED.anchor, fetched_at = EXCLUDED.fetched_at
               WHERE EXCLUDED.status = 'ok' OR trend_keyword_days.status = 'missing'""",
            [(shop_id, r.keyword, r.geo, r.timeframe, r.day, r.status,
              None if r.index is None else round(r.index, 3), r.slope, r.anchor, fetched_at) for r in rows],
        )
    return len(rows)


def shop_country(conn: psycopg.Connection, shop_id: int) -> str | None:
    row = conn.execute("SELECT country FROM shops WHERE id = %s", (shop_id,)).fetchone()
    return row["country"] if row else None


# --- social signals ---------------------------------------------------------------------------


def shop_products(conn: psycopg.Connection, shop_id: int) -> list[tuple[int, str]]:
    rows = conn.execute("SELECT id, title FROM products WHERE shop_id = %s ORDER BY id", (shop_id,)).fetchall()
    return [(row["id"], row["title"]) for row in rows]


def upsert_social_signals(conn: psycopg.Connection, shop_id: int, rows: Sequence[SocialSignalRow]) -> int:
    if not rows:
        return 0
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO social_signals (run_id, shop_id, product_id, mentions, sentiment, is_mock)
               SELECT %s, p.shop_id, p.id, %s, %s, %s FROM products p WHERE p.id = %s AND p.shop_id = %s
               ON CONFLICT (run_id, product_id) DO UPDATE SET
                   mentions = EXCLUDED.mentions, sentiment = EXCLUDED.sentiment, is_mock = EXCLUDED.is_mock""",
            [(r.run_id, r.mentions, r.sentiment, r.is_mock, r.product_id, shop_id) for r in rows],
        )
    return len(rows)
