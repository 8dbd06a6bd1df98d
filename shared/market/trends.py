"""Search interest per keyword from Google Trends (through pytrends), on one scale.

Google scales every request to its own 100, so two requests cannot be compared. Each batch
therefore holds four keywords plus the same anchor keyword, and every batch is rescaled by the
anchor: a keyword's value becomes its interest as a percentage of the anchor's average over
the window. All keywords then share one scale, whichever batches succeeded. A batch that
fails leaves its keywords missing (None, NULL in the tables), never zero.

Per keyword and day the result is cached (trend_keyword_days): an interest index (mean of the
last four weeks) and a four-week slope; a rerun the same day asks Google nothing for keywords
it already has. Weekly points go to trend_observations for charts.

pytrends is unmaintained: its retry option breaks with urllib3 2, so it runs with retries=0
and a 429 is waited out here, with jitter, at least 60 s, under a cap on all waiting
(`RateLimitBackoff`, whose sleeper tests replace); its URLs are fixed to trends.google.com,
so `TrendsClient` points them at `trends_base_url` (a loopback stand-in locally). Each batch
request is one telemetry span (`google_trends interest_over_time`).
"""

from __future__ import annotations

import logging
import random
import time as time_module
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import requests
from pydantic import BaseModel, Field
from pytrends import exceptions as pytrends_errors
from pytrends.request import BASE_TRENDS_URL, TrendReq

from shared.db.market import (
    TrendKeywordDay,
    TrendObservation,
    cached_trend_days,
    upsert_trend_days,
    upsert_trend_observations,
)
from shared.db.pool import transaction
from shared.settings import Settings, get_settings
from shared.telemetry import external_call

log = logging.getLogger(__name__)

BATCH_SIZE = 5  # Google compares at most five terms per request: four keywords and the anchor
SLOPE_WEEKS = 8
INDEX_DAYS = 28  # the interest index and the slope look at the last four weeks
MIN_RATE_LIMIT_WAIT = 60.0  # what pytrends' README found Google needs after a 429
MIN_ANCHOR_MEAN = 1.0  # an anchor rounded to ~0 in a batch cannot rescale it
TIMEOUT = (5.0, 20.0)  # connect, read


class TrendsError(RuntimeError):
    retryable = True


class TrendsRateLimitedError(TrendsError):
    """Google answered 429 (TooManyRequestsError) and kept doing so after a pause."""

    retryable = True


class TrendsResponseError(TrendsError):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class TrendsClient(TrendReq):
    """pytrends pointed at another origin than trends.google.com.

    The URL class attributes are overridden on the instance, but pytrends reads them as
    `TrendReq.GENERAL_URL` and builds the cookie URL from the module constant, so requests are
    also rewritten where they are made: in `GetGoogleCookie` and `_get_data`.
    """

    def __init__(self, base_url: str, **kwargs) -> None:
        self.trends_root = base_url.rstrip("/") + "/trends"
        for name in ("GENERAL_URL", "INTEREST_OVER_TIME_URL", "MULTIRANGE_INTEREST_OVER_TIME_URL",
                     "INTEREST_BY_REGION_URL", "RELATED_QUERIES_URL", "TRENDING_SEARCHES_URL", "TOP_CHARTS_URL",
                     "SUGGESTIONS_URL", "CATEGORIES_URL", "TODAY_SEARCHES_URL", "REALTIME_TRENDING_SEARCHES_URL"):
            setattr(self, name, self._local(getattr(TrendReq, name)))
        self.last_payload: dict | None = None
        # retries=0: pytrends' own retry builds urllib3.Retry(method_whitelist=...), gone in urllib3 2.
        super().__init__(retries=0, backoff_factor=0, **kwargs)

    def _local(self, url: str) -> str:
        return self.trends_root + url[len(BASE_TRENDS_URL):] if url.startswith(BASE_TRENDS_URL) else url

    def GetGoogleCookie(self):  # noqa: N802 - pytrends' name
        response = requests.get(f"{self.trends_root}/explore/?geo={self.hl[-2:]}", timeout=self.timeout,
                                **self.requests_args)
        return {name: value for name, value in response.cookies.items() if name == "NID"}

    def _get_data(self, url, method=TrendReq.GET_METHOD, trim_chars=0, **kwargs):
        self.last_payload = super()._get_data(self._local(url), method, trim_chars, **kwargs)
        return self.last_payload


@dataclass
class RateLimitBackoff:
    """How long to wait after a 429: exponential from `first_wait` (at least 60 s), plus up to
    25 % jitter, and never more than `max_total_wait` over the whole run."""

    first_wait: float = MIN_RATE_LIMIT_WAIT
    max_total_wait: float = 300.0
    sleep: Callable[[float], None] = time_module.sleep
    jitter: Callable[[], float] = random.random
    waited: float = 0.0
    waits: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.first_wait = max(self.first_wait, MIN_RATE_LIMIT_WAIT)

    def wait(self, consecutive: int) -> bool:
        """Sleep before the next try after the `consecutive`-th 429 in a row; False when the cap forbids it."""
        delay = self.first_wait * 2 ** (consecutive - 1) * (1 + 0.25 * self.jitter())
        if self.waited + delay > self.max_total_wait:
            return False
        self.sleep(delay)
        self.waited += delay
        self.waits.append(delay)
        return True


# --- batches and rescaling --------------------------------------------------------------------


def plan_batches(keywords: Sequence[str], anchor: str, size: int = BATCH_SIZE) -> list[list[str]]:
    """Keywords in batches of at most `size`, the anchor first in every one."""
    anchor_key = anchor.casefold()
    unique = list(dict.fromkeys(k.strip() for k in keywords if k.strip() and k.strip().casefold() != anchor_key))
    step = size - 1
    return [[anchor, *unique[i:i + step]] for i in range(0, len(unique), step)]


@dataclass
class BatchSeries:
    """What one request returned: integer values 0..100 on that request's own scale.

    `partial` marks periods that are not over yet (Google's isPartial); they are left out of
    the index, the slope and the stored points, since their value is still climbing.
    """

    keywords: list[str]
    times: list[datetime]
    values: dict[str, list[int | None]]
    partial: list[bool] = field(default_factory=list)


def rescale_to_anchor(batch: BatchSeries, anchor: str) -> dict[str, list[float | None]] | None:
    """The batch's values as a percentage of the anchor's mean over the window; None when the
    anchor is too small in this batch to carry a scale."""
    known = [v for v in batch.values[anchor] if v is not None]
    mean = sum(known) / len(known) if known else 0.0
    if mean < MIN_ANCHOR_MEAN:
        return None
    factor = 100.0 / mean
    return {k: [None if v is None else v * factor for v in series] for k, series in batch.values.items()}


def week_start(day: date) -> date:
    """The Sunday a day's week starts on (Google's weekly periods start on Sunday)."""
    return day - timedelta(days=(day.weekday() + 1) % 7)


def weekly(times: Sequence[datetime], values: Sequence[float | None]) -> dict[date, float | None]:
    """Daily (or weekly) points as weekly means of the known values; a week with none is None."""
    weeks: dict[date, list[float]] = {}
    for moment, value in zip(times, values):
        bucket = weeks.setdefault(week_start(moment.date()), [])
        if value is not None:
            bucket.append(value)
    return {week: (sum(vs) / len(vs) if vs else None) for week, vs in sorted(weeks.items())}


def slope_per_week(points: dict[date, float | None], window: int = SLOPE_WEEKS) -> float | None:
    """Least-squares slope (interest per week) over the last `window` weeks with a value."""
    known = [(week, value) for week, value in points.items() if value is not None][-window:]
    if len(known) < 2:
        return None
    xs = [(week - known[0][0]).days / 7 for week, _ in known]
    ys = [value for _, value in known]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / spread if spread else None


# --- fetching --------------------------------------------------------------------------------


class KeywordTrendSummary(BaseModel):
    index: float | None = Field(description="Mean interest over the last four weeks, % of the anchor's mean.")
    slope: float | None = Field(description="Interest points per week over the last four weeks.")
    cached: bool = Field(False, description="Read from today's cache, not asked of Google.")


class TrendsSummary(BaseModel):
    shop_id: int
    anchor: str
    geo: str
    timeframe: str
    day: date
    keywords: int = 0
    cached_keywords: int = 0
    batches: int = 0
    failed_batches: int = 0
    rate_limited: bool = False
    waited_seconds: float = 0.0
    anchor_spread: float | None = Field(
        None, description="Largest gap between batches' rescaled anchor values at one time (0 = one scale).")
    points_stored: int = 0
    missing_keywords: list[str] = Field(default_factory=list)
    by_keyword: dict[str, KeywordTrendSummary] = Field(default_factory=dict)

    def counts(self) -> dict[str, int | float | bool]:
        return {"keywords": self.keywords, "cached_keywords": self.cached_keywords, "batches": self.batches,
                "failed_batches": self.failed_batches, "missing_keywords": len(self.missing_keywords),
                "rate_limited": self.rate_limited, "waited_seconds": round(self.waited_seconds, 1),
                "points_stored": self.points_stored}


@dataclass
class KeywordSeries:
    """One keyword on the anchor's scale: daily (or weekly) points, the partial period left out."""

    keyword: str
    points: dict[datetime, float | None]

    def weeks(self) -> dict[date, float | None]:
        return weekly(list(self.points), list(self.points.values()))


ClientFactory = Callable[[], TrendReq]
BatchResult = tuple[list[str], BatchSeries | None, dict[str, list[float | None]] | None]


def collect_interest(
    keywords: Sequence[str],
    *,
    anchor: str,
    timeframe: str,
    geo: str,
    client_factory: ClientFactory,
    batches: Sequence[Sequence[str]] | None = None,
    backoff: RateLimitBackoff | None = None,
    pause_between_batches: float = 1.0,
    sleep: Callable[[float], None] = time_module.sleep,
) -> tuple[list[BatchResult], bool]:
    """Every batch fetched and rescaled: [(batch, raw series or None, rescaled or None)], rate_limited.

    A 429 is waited out by `backoff` (consecutive 429s wait longer); when its cap on waiting is
    reached, this batch and all later ones are left unfetched, since asking again only prolongs
    Google's block. Other failures lose only their own batch.
    """
    backoff = backoff or RateLimitBackoff(sleep=sleep)
    plan = [list(b) for b in batches] if batches is not None else plan_batches(keywords, anchor)
    client: TrendReq | None = None
    results: list[BatchResult] = []
    rate_limited = False
    consecutive_429 = 0
    for index, batch in enumerate(plan):
        if rate_limited:
            results.append((batch, None, None))
            continue
        if index and pause_between_batches:
            sleep(pause_between_batches)
        series = None
        while True:
            try:
                client = client or _open(client_factory)
                series = _fetch_batch(client, batch, timeframe, geo)
                consecutive_429 = 0
                break
            except TrendsRateLimitedError:
                consecutive_429 += 1
                if not backoff.wait(consecutive_429):
                    rate_limited = True
                    log.warning("Google Trends keeps answering 429 after %.0f s of waiting; %d batches left unfetched",
                                backoff.waited, len(plan) - index)
                    break
            except TrendsError as exc:
                log.warning("trends batch %s failed: %s", batch, exc)
                break
        rescaled = rescale_to_anchor(series, batch[0]) if series is not None else None
        if series is not None and rescaled is None:
            log.warning("anchor %r too small next to %s: batch left missing", batch[0], batch[1:])
        results.append((batch, series, rescaled))
    return results, rate_limited


def _open(client_factory: ClientFactory) -> TrendReq:
    """A client; pytrends asks for its cookie on creation, which can meet a 429 or a dead network."""
    with external_call("google_trends", "cookie") as call:
        try:
            return client_factory()
        except pytrends_errors.TooManyRequestsError as exc:
            call.set_outcome("throttled")
            raise TrendsRateLimitedError("429 for the cookie request") from exc
        except (requests.RequestException, pytrends_errors.ResponseError) as exc:
            raise TrendsResponseError(f"cannot reach Google Trends: {type(exc).__name__}", retryable=True) from exc


def _fetch_batch(client: TrendReq, batch: list[str], timeframe: str, geo: str) -> BatchSeries:
    with external_call("google_trends", "interest_over_time", keywords=len(batch), geo=geo or "world") as call:
        try:
            client.build_payload(batch, timeframe=timeframe, geo=geo)
            frame = client.interest_over_time()
        except pytrends_errors.TooManyRequestsError as exc:
            call.set_outcome("throttled")
            raise TrendsRateLimitedError(f"429 for {batch}") from exc
        except pytrends_errors.ResponseError as exc:
            status = getattr(exc.response, "status_code", 0)
            raise TrendsResponseError(f"HTTP {status} for {batch}", retryable=status >= 500) from exc
        except (requests.RequestException, ValueError, KeyError) as exc:
            raise TrendsResponseError(f"{type(exc).__name__}: {exc}"[:200], retryable=True) from exc
        if frame.empty:
            call.set_outcome("empty")
            raise TrendsResponseError(f"no data for {batch}", retryable=False)
    times = [ts.to_pydatetime().replace(tzinfo=UTC) for ts in pd.to_datetime(frame.index)]
    values: dict[str, list[int | None]] = {k: [int(v) for v in frame[k].tolist()] for k in batch}
    partial = [bool(v) for v in frame["isPartial"].tolist()] if "isPartial" in frame else [False] * len(times)
    # Google marks points without data (hasData false) with a 0 that is not a zero.
    payload = getattr(client, "last_payload", None) or {}
    timeline = payload.get("default", {}).get("timelineData", []) if isinstance(payload, dict) else []
    if len(timeline) == len(times):
        for row, point in enumerate(timeline):
            for column, has_data in enumerate(point.get("hasData", [])):
                if not has_data and column < len(batch):
                    values[batch[column]][row] = None
    return BatchSeries(list(batch), times, values, partial)


def combine(results: Sequence[BatchResult], keywords: Sequence[str], anchor: str) -> dict[str, KeywordSeries | None]:
    """One series per keyword (anchor included); None for keywords no batch delivered."""
    collected: dict[str, list[dict[datetime, float | None]]] = {}
    for batch, series, rescaled in results:
        if series is None or rescaled is None:
            continue
        partial = series.partial or [False] * len(series.times)
        for keyword in batch:
            collected.setdefault(keyword, []).append(
                {t: v for t, v, p in zip(series.times, rescaled[keyword], partial) if not p})
    out: dict[str, KeywordSeries | None] = {}
    for keyword in dict.fromkeys([anchor, *keywords]):
        copies = collected.get(keyword)
        if not copies:
            out[keyword] = None
            continue
        # The anchor (or a keyword asked twice) appears in several batches: average the copies.
        merged: dict[datetime, float | None] = {}
        for moment in sorted({t for copy in copies for t in copy}):
            known = [copy[moment] for copy in copies if copy.get(moment) is not None]
            merged[moment] = sum(known) / len(known) if known else None
        out[keyword] = KeywordSeries(keyword, merged)
    return out


def anchor_spread(results: Sequence[BatchResult], anchor: str) -> float | None:
    """The largest difference, at one moment, between the batches' rescaled anchor values."""
    copies = [dict(zip(series.times, rescaled[anchor])) for _, series, rescaled in results
              if series is not None and rescaled is not None]
    if len(copies) < 2:
        return None
    spread = 0.0
    for moment in copies[0]:
        values = [c[moment] for c in copies if c.get(moment) is not None]
        if len(values) > 1:
            spread = max(spread, max(values) - min(values))
    return spread


def index_and_slope(series: KeywordSeries, days: int = INDEX_DAYS) -> tuple[float | None, float | None]:
    """Mean interest and least-squares slope (points per week) over the last `days` days."""
    known = [(t, v) for t, v in series.points.items() if v is not None]
    if not known:
        return None, None
    last = known[-1][0]
    window = [(t, v) for t, v in known if t > last - timedelta(days=days)]
    mean = sum(v for _, v in window) / len(window)
    if len(window) < 2:
        return mean, None
    xs = [(t - window[0][0]).total_seconds() / (7 * 86400) for t, _ in window]
    ys = [v for _, v in window]
    mean_x = sum(xs) / len(xs)
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean) for x, y in zip(xs, ys)) / spread if spread else None
    return mean, slope


def fetch_trends(
    shop_id: int,
    keywords: Sequence[str],
    *,
    geo: str | None = None,
    settings: Settings | None = None,
    client_factory: ClientFactory | None = None,
    backoff: RateLimitBackoff | None = None,
    pause_between_batches: float | None = None,
    now: datetime | None = None,
) -> TrendsSummary:
    """Interest index and four-week slope per keyword, on the anchor's scale, cached per day.

    Keywords already fetched today come from the cache; the rest are asked in batches of four
    plus the anchor. Keywords of failed batches are stored as missing (NULL) and listed in the
    summary. When nothing could be fetched because of rate limiting, a retryable
    `TrendsRateLimitedError` is raised so the step is tried again later.
    """
    settings = settings or get_settings()
    anchor = settings.trends_anchor_keyword
    geo = (geo if geo is not None else settings.trends_geo).upper()
    timeframe = settings.trends_timeframe
    now = now or datetime.now(UTC)
    day = now.date()
    factory = client_factory or (
        lambda: TrendsClient(settings.trends_base_url, hl=f"en-{geo or 'US'}", tz=0, timeout=TIMEOUT)
    )
    backoff = backoff or RateLimitBackoff(first_wait=settings.trends_retry_after_seconds,
                                          max_total_wait=settings.trends_max_wait_seconds)
    pause = settings.trends_pause_seconds if pause_between_batches is None else pause_between_batches
    wanted = list(dict.fromkeys(k.strip() for k in keywords if k.strip() and k.strip().casefold() != anchor.casefold()))
    summary = TrendsSummary(shop_id=shop_id, anchor=anchor, geo=geo, timeframe=timeframe, day=day, keywords=len(wanted))
    with transaction() as conn:
        cached = cached_trend_days(conn, shop_id, geo=geo, timeframe=timeframe, day=day)
    for keyword in wanted:
        if keyword in cached:
            hit = cached[keyword]
            summary.by_keyword[keyword] = KeywordTrendSummary(
                index=None if hit.index is None else round(hit.index, 2),
                slope=None if hit.slope is None else round(hit.slope, 3), cached=True)
    summary.cached_keywords = len(summary.by_keyword)
    to_fetch = [k for k in wanted if k not in cached]
    if not to_fetch:
        return summary

    plan = plan_batches(to_fetch, anchor)
    summary.batches = len(plan)
    results, summary.rate_limited = collect_interest(
        to_fetch, anchor=anchor, timeframe=timeframe, geo=geo, client_factory=factory, batches=plan,
        backoff=backoff, pause_between_batches=pause, sleep=backoff.sleep,
    )
    summary.waited_seconds = backoff.waited
    summary.failed_batches = sum(1 for _, _, rescaled in results if rescaled is None)
    spread = anchor_spread(results, anchor)
    summary.anchor_spread = None if spread is None else round(spread, 3)
    series = combine(results, to_fetch, anchor)

    all_weeks = sorted({week for s in series.values() if s for week in s.weeks()})
    points, days = [], []
    for keyword, found in series.items():
        weeks = found.weeks() if found else dict.fromkeys(all_weeks)
        for week, value in weeks.items():
            interest = None if value is None else Decimal(repr(round(value, 3)))
            points.append(TrendObservation(keyword=keyword, geo=geo, period_start=week, interest=interest,
                                           anchor=anchor if interest is not None else None))
        index, slope = index_and_slope(found) if found else (None, None)
        days.append(TrendKeywordDay(keyword=keyword, geo=geo, timeframe=timeframe, day=day,
                                    status="ok" if index is not None else "missing", index=index, slope=slope,
                                    anchor=anchor))
        if keyword == anchor:
            continue
        summary.by_keyword[keyword] = KeywordTrendSummary(
            index=None if index is None else round(index, 2), slope=None if slope is None else round(slope, 3))
        if index is None:
            summary.missing_keywords.append(keyword)
    with transaction() as conn:
        summary.points_stored = upsert_trend_observations(conn, shop_id, points, fetched_at=now)
        upsert_trend_days(conn, shop_id, days, fetched_at=now)
    if all(s is None for s in series.values()):
        if summary.rate_limited:
            raise TrendsRateLimitedError(f"Google Trends rate limit: none of {len(plan)} batches fetched")
        raise TrendsResponseError(f"no trends batch succeeded ({len(plan)} tried)", retryable=True)
    return summary
