"""Search interest per keyword from Google Trends (through pytrends), on one scale, stored weekly.

Google scales every request to its own 100, so two requests cannot be compared. Each batch
therefore holds at most five keywords of which one is the same anchor keyword, and every
batch is rescaled by the anchor: a keyword's value becomes its interest as a percentage of
the anchor's average interest over the window. All keywords then share one scale, whichever
batches succeeded. A batch that fails leaves its keywords missing (None, NULL in the table),
never zero.

pytrends is unmaintained: its retry option breaks with urllib3 2, so it runs with retries=0
and a 429 is handled here, boundedly; its URLs are fixed to trends.google.com, so `TrendsClient`
points them at `trends_base_url` (a loopback stand-in locally).
"""

from __future__ import annotations

import logging
import time as time_module
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import requests
from pydantic import BaseModel, Field
from pytrends import exceptions as pytrends_errors
from pytrends.request import BASE_TRENDS_URL, TrendReq

from shared.db.market import TrendObservation, upsert_trend_observations
from shared.db.pool import transaction
from shared.settings import Settings, get_settings

log = logging.getLogger(__name__)

BATCH_SIZE = 5  # Google compares at most five terms per request
SLOPE_WEEKS = 8
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


# --- batches and rescaling --------------------------------------------------------------------


def plan_batches(keywords: Sequence[str], anchor: str, size: int = BATCH_SIZE) -> list[list[str]]:
    """Keywords in batches of at most `size`, the anchor first in every one."""
    anchor_key = anchor.casefold()
    unique = list(dict.fromkeys(k.strip() for k in keywords if k.strip() and k.strip().casefold() != anchor_key))
    step = size - 1
    return [[anchor, *unique[i:i + step]] for i in range(0, len(unique), step)]


@dataclass
class BatchSeries:
    """What one request returned: integer values 0..100 on that request's own scale."""

    keywords: list[str]
    times: list[datetime]
    values: dict[str, list[int | None]]


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
    latest: float | None = Field(description="Latest weekly interest, % of the anchor's mean.")
    slope: float | None = Field(description="Interest points per week over the last weeks.")


class TrendsSummary(BaseModel):
    shop_id: int
    anchor: str
    geo: str
    keywords: int = 0
    batches: int = 0
    failed_batches: int = 0
    rate_limited: bool = False
    points_stored: int = 0
    missing_keywords: list[str] = Field(default_factory=list)
    by_keyword: dict[str, KeywordTrendSummary] = Field(default_factory=dict)

    def counts(self) -> dict[str, int | bool]:
        return {"keywords": self.keywords, "batches": self.batches, "failed_batches": self.failed_batches,
                "missing_keywords": len(self.missing_keywords), "rate_limited": self.rate_limited,
                "points_stored": self.points_stored}


@dataclass
class KeywordSeries:
    keyword: str
    weeks: dict[date, float | None]


ClientFactory = Callable[[], TrendReq]


def collect_interest(
    keywords: Sequence[str],
    *,
    anchor: str,
    timeframe: str,
    geo: str,
    client_factory: ClientFactory,
    batches: Sequence[Sequence[str]] | None = None,
    retry_429_after: float = 60.0,
    max_429_retries: int = 1,
    pause_between_batches: float = 1.0,
    sleep: Callable[[float], None] = time_module.sleep,
) -> tuple[list[tuple[list[str], BatchSeries | None, dict[str, list[float | None]] | None]], bool]:
    """Every batch fetched and rescaled: [(batch, raw series or None, rescaled or None)], rate_limited.

    A 429 is waited out `max_429_retries` times; if it persists, this batch and all later
    ones are left unfetched (asking again only prolongs Google's block).
    """
    plan = [list(b) for b in batches] if batches is not None else plan_batches(keywords, anchor)
    client: TrendReq | None = None
    results: list[tuple[list[str], BatchSeries | None, dict[str, list[float | None]] | None]] = []
    rate_limited = False
    for index, batch in enumerate(plan):
        if rate_limited:
            results.append((batch, None, None))
            continue
        if index and pause_between_batches:
            sleep(pause_between_batches)
        series = None
        for attempt in range(max_429_retries + 1):
            try:
                client = client or _open(client_factory)
                series = _fetch_batch(client, batch, timeframe, geo)
                break
            except TrendsRateLimitedError:
                if attempt == max_429_retries:
                    rate_limited = True
                    log.warning("Google Trends keeps answering 429; %d batches left unfetched", len(plan) - index)
                else:
                    sleep(retry_429_after)
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
    try:
        return client_factory()
    except pytrends_errors.TooManyRequestsError as exc:
        raise TrendsRateLimitedError("429 for the cookie request") from exc
    except (requests.RequestException, pytrends_errors.ResponseError) as exc:
        raise TrendsResponseError(f"cannot reach Google Trends: {type(exc).__name__}", retryable=True) from exc


def _fetch_batch(client: TrendReq, batch: list[str], timeframe: str, geo: str) -> BatchSeries:
    try:
        client.build_payload(batch, timeframe=timeframe, geo=geo)
        frame = client.interest_over_time()
    except pytrends_errors.TooManyRequestsError as exc:
        raise TrendsRateLimitedError(f"429 for {batch}") from exc
    except pytrends_errors.ResponseError as exc:
        status = getattr(exc.response, "status_code", 0)
        raise TrendsResponseError(f"HTTP {status} for {batch}", retryable=status >= 500) from exc
    except (requests.RequestException, ValueError, KeyError) as exc:
        raise TrendsResponseError(f"{type(exc).__name__}: {exc}"[:200], retryable=True) from exc
    if frame.empty:
        raise TrendsResponseError(f"no data for {batch}", retryable=False)
    times = [ts.to_pydatetime().replace(tzinfo=UTC) for ts in pd.to_datetime(frame.index)]
    values: dict[str, list[int | None]] = {k: [int(v) for v in frame[k].tolist()] for k in batch}
    # Google marks points without data (hasData false) with a 0 that is not a zero.
    payload = getattr(client, "last_payload", None) or {}
    timeline = payload.get("default", {}).get("timelineData", []) if isinstance(payload, dict) else []
    if len(timeline) == len(times):
        for row, point in enumerate(timeline):
            for column, has_data in enumerate(point.get("hasData", [])):
                if not has_data and column < len(batch):
                    values[batch[column]][row] = None
    return BatchSeries(list(batch), times, values)


def combine(
    results: Sequence[tuple[list[str], BatchSeries | None, dict[str, list[float | None]] | None]],
    keywords: Sequence[str],
    anchor: str,
) -> dict[str, KeywordSeries | None]:
    """One weekly series per keyword (anchor included); None for keywords no batch delivered."""
    collected: dict[str, list[dict[date, float | None]]] = {}
    for batch, series, rescaled in results:
        if series is None or rescaled is None:
            continue
        for keyword in batch:
            collected.setdefault(keyword, []).append(weekly(series.times, rescaled[keyword]))
    out: dict[str, KeywordSeries | None] = {}
    for keyword in dict.fromkeys([anchor, *keywords]):
        copies = collected.get(keyword)
        if not copies:
            out[keyword] = None
            continue
        # The anchor (or a keyword asked twice) appears in several batches: average the copies.
        weeks = sorted({week for copy in copies for week in copy})
        merged = {}
        for week in weeks:
            known = [copy[week] for copy in copies if copy.get(week) is not None]
            merged[week] = sum(known) / len(known) if known else None
        out[keyword] = KeywordSeries(keyword, merged)
    return out


def fetch_trends(
    shop_id: int,
    keywords: Sequence[str],
    *,
    settings: Settings | None = None,
    client_factory: ClientFactory | None = None,
    retry_429_after: float = 60.0,
    max_429_retries: int = 1,
    pause_between_batches: float = 1.0,
    now: datetime | None = None,
) -> TrendsSummary:
    """Fetch weekly interest for the keywords, store it, and summarise it.

    Keywords of failed batches are stored as missing (NULL) for the weeks other batches
    covered, and listed in the summary. When every batch failed because of rate limiting, a
    retryable `TrendsRateLimitedError` is raised so the step is tried again later.
    """
    settings = settings or get_settings()
    anchor = settings.trends_anchor_keyword
    geo = settings.trends_geo
    factory = client_factory or (
        lambda: TrendsClient(settings.trends_base_url, hl=f"en-{geo or 'US'}", tz=0, timeout=TIMEOUT)
    )
    plan = plan_batches(keywords, anchor)
    wanted = [k for batch in plan for k in batch[1:]]
    summary = TrendsSummary(shop_id=shop_id, anchor=anchor, geo=geo, keywords=len(wanted), batches=len(plan))
    if not plan:
        return summary
    results, summary.rate_limited = collect_interest(
        wanted, anchor=anchor, timeframe=settings.trends_timeframe, geo=geo, client_factory=factory,
        batches=plan, retry_429_after=retry_429_after, max_429_retries=max_429_retries,
        pause_between_batches=pause_between_batches,
    )
    summary.failed_batches = sum(1 for _, _, rescaled in results if rescaled is None)
    series = combine(results, wanted, anchor)
    if all(s is None for s in series.values()):
        if summary.rate_limited:
            raise TrendsRateLimitedError(f"Google Trends rate limit: none of {len(plan)} batches fetched")
        raise TrendsResponseError(f"no trends batch succeeded ({len(plan)} tried)", retryable=True)

    all_weeks = sorted({week for s in series.values() if s for week in s.weeks})
    rows = []
    for keyword, found in series.items():
        weeks = found.weeks if found else dict.fromkeys(all_weeks)
        for week, value in weeks.items():
            interest = None if value is None else Decimal(repr(round(value, 3)))
            rows.append(TrendObservation(keyword=keyword, geo=geo, period_start=week, interest=interest,
                                         anchor=anchor if interest is not None else None))
        latest = next((v for v in reversed(list(weeks.values())) if v is not None), None)
        slope = slope_per_week(weeks)
        summary.by_keyword[keyword] = KeywordTrendSummary(
            latest=None if latest is None else round(latest, 2), slope=None if slope is None else round(slope, 3)
        )
        if found is None:
            summary.missing_keywords.append(keyword)
    with transaction() as conn:
        summary.points_stored = upsert_trend_observations(conn, shop_id, rows, fetched_at=now or datetime.now(UTC))
    return summary
