"""A loopback stand-in for Google Trends that speaks the wire format pytrends reads.

    with TrendsStandIn() as trends:
        settings.trends_base_url = trends.base_url

Endpoints (under `/trends`, as on trends.google.com):
- `GET  /trends/explore/?geo=GB`: an HTML page that sets the `NID` cookie pytrends picks up.
- `POST /trends/api/explore?hl=..&tz=..&req={...}`: `)]}'` then JSON with the widgets; the
  TIMESERIES widget carries the resolved request and a token signed over it.
- `GET  /trends/api/widgetdata/multiline?req={...}&token=..&tz=..`: `)]}',` then JSON with
  `default.timelineData`: one point per day (spans up to 269 days) or per week (weeks start on
  Sunday), each with `time` (epoch seconds), `formattedTime`, `value` (one integer per keyword),
  `hasData`, and `isPartial` on a period that is not over yet. Values are scaled so the largest
  in the request is 100, as Google does, so two requests are not on one scale.

Series are deterministic per keyword and day: a level and phase from the keyword's hash, a
yearly wave, day-to-day noise, and for gift terms a climb towards Christmas. `rate_limited`
(every API call) or `rate_limited_keywords` (calls that include one of them) make it answer
429, as Google does when it has had enough; `burst_429 = n` refuses the next n calls, then
recovers, as Google's bursts of 429 do.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from shared.local.background_server import LoopbackStandIn

GIFT_WORDS = ("gift", "present", "christmas", "xmas", "stocking", "advent", "santa", "hamper", "secret")
DAILY_LIMIT_DAYS = 269  # longer spans come back weekly, as from Google
_SECRET = b"trends-stand-in"


def raw_interest(keyword: str, day: date) -> float:
    """Unscaled search interest of a keyword on a day (deterministic)."""
    digest = hashlib.sha256(keyword.casefold().encode()).digest()
    level = 10 ** (0.5 + digest[0] / 255 * 1.5)  # 3..100, spread as search volumes are
    phase = digest[1] / 255 * 365
    wave = 1 + 0.15 * math.sin(2 * math.pi * (day.timetuple().tm_yday + phase) / 365.25)
    if any(word in keyword.casefold() for word in GIFT_WORDS):
        wave *= 1 + _christmas_rush(day)
    noise_digest = hashlib.sha256(f"{keyword.casefold()}|{day.isoformat()}".encode()).digest()
    noise = 1 + (noise_digest[0] / 255 - 0.5) * 0.12  # +-6 %
    weekend = 1.06 if day.weekday() >= 5 else 1.0
    return level * wave * noise * weekend


def _christmas_rush(day: date) -> float:
    """0 most of the year, climbing through Nov-Dec to about 3 on Christmas Eve, gone by January."""
    eve = date(day.year, 12, 24)
    if day > eve + timedelta(days=3):
        eve = date(day.year + 1, 12, 24)
    days_before = (eve - day).days
    if days_before < 0:
        return 3.0 * math.exp(days_before / 1.5)  # the drop after Christmas
    return 3.0 * math.exp(-days_before / 21)


def resolve_timeframe(timeframe: str, today: date) -> tuple[date, date]:
    """First and last day a pytrends timeframe covers ("today 3-m", "today 5-y", "2024-01-01 2024-03-31")."""
    timeframe = timeframe.strip()
    explicit = re.fullmatch(r"(\d{4}-\d{2}-\d{2})\s+(\d{4}-\d{2}-\d{2})", timeframe)
    if explicit:
        return date.fromisoformat(explicit[1]), date.fromisoformat(explicit[2])
    relative = re.fullmatch(r"(?:today|now)\s+(\d+)-([dmy])", timeframe)
    if relative:
        count, unit = int(relative[1]), relative[2]
        days = {"d": 1, "m": 30, "y": 365}[unit] * count
        return today - timedelta(days=days), today
    if timeframe == "all":
        return date(2004, 1, 1), today
    raise ValueError(f"unknown timeframe {timeframe!r}")


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def periods(first: date, last: date) -> tuple[str, list[Period]]:
    if (last - first).days <= DAILY_LIMIT_DAYS:
        return "DAY", [Period(d, d) for d in Period(first, last).days()]
    sunday = first - timedelta(days=(first.weekday() + 1) % 7)
    out = []
    while sunday <= last:
        out.append(Period(sunday, sunday + timedelta(days=6)))
        sunday += timedelta(days=7)
    return "WEEK", out


def timeline(keywords: list[str], first: date, last: date, today: date) -> dict:
    resolution, spans = periods(first, last)
    raw = [[sum(raw_interest(k, d) for d in p.days()) / len(p.days()) for k in keywords] for p in spans]
    top = max((v for row in raw for v in row), default=0.0) or 1.0
    points = []
    for period, row in zip(spans, raw):
        values = [int(round(v / top * 100)) for v in row]
        start = datetime(period.start.year, period.start.month, period.start.day, tzinfo=UTC)
        point = {
            "time": str(int(start.timestamp())),
            "formattedTime": period.start.strftime("%b %-d, %Y"),
            "formattedAxisTime": period.start.strftime("%b %-d"),
            "value": values,
            "hasData": [True] * len(values),
            "formattedValue": [str(v) if v else "<1" for v in values],
        }
        if period.end >= today:
            point["isPartial"] = True
        points.append(point)
    averages = [int(round(sum(p["value"][i] for p in points) / len(points))) if points else 0 for i in range(len(keywords))]
    return {"default": {"timelineData": points, "averages": averages}, "resolution": resolution}


def _sign(request: dict) -> str:
    payload = json.dumps(request, sort_keys=True, separators=(",", ":")).encode()
    return "APP6_UEAAAAA" + hmac.new(_SECRET, payload, hashlib.sha256).hexdigest()[:40]


class TrendsStandIn(LoopbackStandIn):
    """The stand-in server on 127.0.0.1, on a free port, in a background thread."""

    thread_name = "trends-stand-in"

    def __init__(self, *, today: date | None = None) -> None:
        self.today = today
        self.rate_limited = False
        self.rate_limited_keywords: set[str] = set()
        self.geos: list[str] = []  # the geo of every explore call
        self.burst_429 = 0  # the next this-many API calls answer 429, then it recovers
        self.requests: list[tuple[str, tuple[str, ...]]] = []  # (endpoint, keywords) in arrival order
        self._lock = threading.Lock()

    def current_day(self) -> date:
        return self.today or datetime.now(UTC).date()

    def _record(self, endpoint: str, keywords: list[str]) -> bool:
        """Log a call; True when it is to be refused with 429."""
        with self._lock:
            self.requests.append((endpoint, tuple(keywords)))
            wanted = {k.casefold() for k in self.rate_limited_keywords}
            if self.burst_429 > 0:
                self.burst_429 -= 1
                return True
            return self.rate_limited or any(k.casefold() in wanted for k in keywords)


class _Handler(BaseHTTPRequestHandler):
    standin: TrendsStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path.rstrip("/") == "/trends/explore":
            body = b"<!doctype html><title>Google Trends</title><p>Explore</p>"
            return self._send(200, body, "text/html; charset=utf-8", cookie="NID=511=standin; Path=/; HttpOnly")
        if parts.path == "/trends/api/widgetdata/multiline":
            return self._multiline(query)
        return self._send(404, b"not found", "text/html")

    def do_POST(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        if parts.path == "/trends/api/explore":
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            return self._explore({k: v[0] for k, v in parse_qs(parts.query).items()})
        return self._send(404, b"not found", "text/html")

    def _explore(self, query: dict[str, str]) -> None:
        try:
            req = json.loads(query["req"])
            items = req["comparisonItem"]
            keywords = [item["keyword"] for item in items]
        except (KeyError, ValueError, TypeError):
            return self._send(400, b"bad request", "text/html")
        if self.standin._record("explore", keywords) or not self._has_cookie():
            return self._send(429, b"<html>Too Many Requests</html>", "text/html")
        today = self.standin.current_day()
        try:
            first, last = resolve_timeframe(items[0].get("time", "today 3-m"), today)
        except ValueError:
            return self._send(400, b"bad timeframe", "text/html")
        geo = items[0].get("geo") or ""
        with self.standin._lock:
            self.standin.geos.append(geo)
        resolution, _ = periods(first, last)
        request = {
            "time": f"{first.isoformat()} {last.isoformat()}",
            "resolution": resolution,
            "locale": query.get("hl", "en-US"),
            "comparisonItem": [
                {"geo": {"country": geo} if geo else {},
                 "complexKeywordsRestriction": {"keyword": [{"type": "BROAD", "value": k}]}}
                for k in keywords
            ],
            "requestOptions": {"property": req.get("property", ""), "backend": "IZG", "category": req.get("category", 0)},
        }
        widgets = [
            {"request": request, "token": _sign(request), "id": "TIMESERIES", "type": "fe_line_chart",
             "title": "Interest over time", "template": "fe", "embedTemplate": "fe_embed", "version": "1"},
            {"request": {"geo": {"country": geo}, "resolution": "REGION", "comparisonItem": request["comparisonItem"]},
             "token": "APP6_geo", "id": "GEO_MAP", "type": "fe_geo_chart_explore", "title": "Interest by subregion"},
        ]
        body = {"widgets": widgets, "keywords": [{"keyword": k, "name": k, "type": "Search term"} for k in keywords],
                "timeRanges": [request["time"]], "examples": [], "shareText": "Explore search interest"}
        self._send(200, b")]}'\n" + json.dumps(body).encode(), "application/json; charset=utf-8")

    def _multiline(self, query: dict[str, str]) -> None:
        try:
            request = json.loads(query["req"])
            keywords = [item["complexKeywordsRestriction"]["keyword"][0]["value"] for item in request["comparisonItem"]]
        except (KeyError, ValueError, TypeError, IndexError):
            return self._send(400, b"bad request", "text/html")
        if self.standin._record("multiline", keywords) or not self._has_cookie():
            return self._send(429, b"<html>Too Many Requests</html>", "text/html")
        if not hmac.compare_digest(query.get("token", ""), _sign(request)):
            return self._send(401, b"<html>Unauthorized</html>", "text/html")
        first, last = (date.fromisoformat(part) for part in request["time"].split())
        data = timeline(keywords, first, last, self.standin.current_day())
        data.pop("resolution")
        self._send(200, b")]}',\n" + json.dumps(data).encode(), "application/json; charset=utf-8")

    def _has_cookie(self) -> bool:
        return "NID=" in (self.headers.get("Cookie") or "")

    def _send(self, status: int, body: bytes, content_type: str, cookie: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if cookie:
            self.send_header("Set-Cookie", cookie)
        self.end_headers()
        self.wfile.write(body)


TrendsStandIn.handler_class = _Handler  # the handler is defined below the stand-in it serves
