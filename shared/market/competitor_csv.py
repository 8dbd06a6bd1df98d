"""The competitor list as a merchant writes it: a CSV of `sku,competitor,url`, checked whole.

Required columns: `sku`, `competitor`, `url`. Optional, per competitor: `currency` (ISO 4217),
`fetch_tier` (standard, js, premium) and `price_selector` (a CSS selector for the price on
that competitor's pages); a value given on several rows of one competitor must be the same.
A row with an empty `sku` is a competitor page still to be matched to one of the shop's
variants (by GTIN, SKU/MPN or title); the match is proposed, and used once confirmed.

Every problem is collected with its row (as a spreadsheet numbers it: the header is row 1)
and column, and the file is refused whole if there is any: nothing is half-imported.
"""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict
from selectolax.lexbor import LexborHTMLParser

from shared.csv_problems import CsvProblem, CsvRejectedError, CsvTooLargeError

REQUIRED_COLUMNS = ("sku", "competitor", "url")
OPTIONAL_COLUMNS = ("currency", "fetch_tier", "price_selector")
FETCH_TIERS = ("standard", "js", "premium")
MAX_URL_LENGTH = 2048
MAX_NAME_LENGTH = 100
MAX_SELECTOR_LENGTH = 300


class CompetitorCsvError(CsvRejectedError):
    """The file cannot be imported; `problems` lists every reason, by row and column."""


class CompetitorCsvTooLargeError(CompetitorCsvError, CsvTooLargeError):
    pass


class CompetitorSpec(BaseModel):
    """A competitor as the file describes it; None where the file leaves a setting alone."""

    model_config = ConfigDict(frozen=True)

    name: str
    domain: str
    currency: str | None = None
    fetch_tier: str | None = None
    price_selector: str | None = None


class CompetitorLink(BaseModel):
    model_config = ConfigDict(frozen=True)

    row: int
    sku: str | None  # None: a page to match
    competitor: str
    url: str


class CompetitorCsv(BaseModel):
    competitors: list[CompetitorSpec]
    links: list[CompetitorLink]
    duplicate_rows: int = 0


def site_domain(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def check_url(value: str) -> str | None:
    """The reason a competitor URL is unusable, or None."""
    if len(value) > MAX_URL_LENGTH:
        return f"longer than {MAX_URL_LENGTH} characters"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http:// or https:// URL"
    if parts.username or parts.password:
        return "must not contain a user name or password"
    if any(ch.isspace() for ch in value):
        return "must not contain spaces"
    return None


def check_selector(value: str) -> str | None:
    if len(value) > MAX_SELECTOR_LENGTH:
        return f"longer than {MAX_SELECTOR_LENGTH} characters"
    try:
        LexborHTMLParser("<p></p>").css(value)
    except Exception:  # noqa: BLE001 - selectolax raises its own error type for a bad selector
        return f"not a valid CSS selector: {value[:60]!r}"
    return None


def parse_competitor_csv(data: bytes, *, max_bytes: int) -> CompetitorCsv:
    if len(data) > max_bytes:
        raise CompetitorCsvTooLargeError([CsvProblem(row=0, column=None,
                                                     reason=f"the file is larger than {max_bytes} bytes")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CompetitorCsvError([CsvProblem(row=0, column=None,
                                             reason=f"the file is not UTF-8 (byte {exc.start})")]) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header or not any(cell.strip() for cell in header):
        raise CompetitorCsvError([CsvProblem(row=1, column=None, reason="the file is empty; expected a header "
                                             "row with " + ",".join(REQUIRED_COLUMNS))])
    columns = [cell.strip().lower() for cell in header]
    problems: list[CsvProblem] = []
    for name in REQUIRED_COLUMNS:
        if name not in columns:
            problems.append(CsvProblem(row=1, column=name, reason="required column is missing"))
    for name in columns:
        if name and name not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS:
            problems.append(CsvProblem(row=1, column=name, reason="unknown column (expected "
                                       f"{', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)})"))
        elif name and columns.count(name) > 1:
            problems.append(CsvProblem(row=1, column=name, reason="column appears twice"))
    if problems:
        raise CompetitorCsvError(sorted(set(problems), key=lambda p: (p.row, p.column or "")))

    specs: dict[str, dict[str, tuple[str, int]]] = {}  # competitor -> setting -> (value, first row)
    links: list[CompetitorLink] = []
    seen: dict[tuple[str | None, str, str], int] = {}
    by_sku: dict[tuple[str, str], tuple[str, int]] = {}
    duplicates = 0
    for number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(columns):
            problems.append(CsvProblem(row=number, column=None,
                                       reason=f"{len(cells)} cells but the header has {len(columns)} columns"))
            continue
        row = {name: (cells[i].strip() if i < len(cells) else "") for i, name in enumerate(columns)}
        row_problems = _check_row(number, row)
        if row_problems:
            problems.extend(row_problems)
            continue
        sku = row["sku"] or None
        name, url = row["competitor"], row["url"]
        key = name.casefold()
        spec = specs.setdefault(key, {"name": (name, number), "domain": (site_domain(url), number)})
        domain, domain_row = spec["domain"]
        host = site_domain(url)
        if host != domain and not host.endswith("." + domain):
            problems.append(CsvProblem(row=number, column="url", reason=f"{host} is not on {name}'s site {domain} "
                                       f"(row {domain_row}); one competitor is one site"))
            continue
        for setting in OPTIONAL_COLUMNS:
            value = row.get(setting, "")
            if not value:
                continue
            if setting == "currency":
                value = value.upper()
            earlier = spec.get(setting)
            if earlier is None:
                spec[setting] = (value, number)
            elif earlier[0] != value:
                problems.append(CsvProblem(row=number, column=setting, reason=f"{value!r} differs from {earlier[0]!r} "
                                           f"given for {name} on row {earlier[1]}"))
        identity = (sku.casefold() if sku else None, key, url)
        if identity in seen:
            duplicates += 1  # the same line twice says nothing new
            continue
        seen[identity] = number
        if sku:
            earlier_url = by_sku.get((sku.casefold(), key))
            if earlier_url is not None:
                problems.append(CsvProblem(row=number, column="url", reason=f"{name} already has a URL for SKU {sku} "
                                           f"on row {earlier_url[1]}; one page per competitor and variant"))
                continue
            by_sku[(sku.casefold(), key)] = (url, number)
        links.append(CompetitorLink(row=number, sku=sku, competitor=spec["name"][0], url=url))
    if problems:
        raise CompetitorCsvError(problems)
    if not links:
        raise CompetitorCsvError([CsvProblem(row=2, column=None, reason="the file has a header but no rows")])
    competitors = [
        CompetitorSpec(name=spec["name"][0], domain=spec["domain"][0],
                       **{s: spec[s][0] for s in OPTIONAL_COLUMNS if s in spec})
        for spec in specs.values()
    ]
    return CompetitorCsv(competitors=competitors, links=links, duplicate_rows=duplicates)


def _check_row(number: int, row: dict[str, str]) -> list[CsvProblem]:
    problems = []
    if not row["competitor"]:
        problems.append(CsvProblem(row=number, column="competitor", reason="is empty"))
    elif len(row["competitor"]) > MAX_NAME_LENGTH:
        problems.append(CsvProblem(row=number, column="competitor", reason=f"longer than {MAX_NAME_LENGTH} characters"))
    if len(row["sku"]) > 255:
        problems.append(CsvProblem(row=number, column="sku", reason="longer than 255 characters"))
    if not row["url"]:
        problems.append(CsvProblem(row=number, column="url", reason="is empty"))
    else:
        reason = check_url(row["url"])
        if reason:
            problems.append(CsvProblem(row=number, column="url", reason=reason))
    currency = row.get("currency", "")
    if currency and not re.fullmatch(r"[A-Za-z]{3}", currency):
        problems.append(CsvProblem(row=number, column="currency", reason=f"{currency!r} is not an ISO 4217 code "
                                   "such as GBP"))
    tier = row.get("fetch_tier", "")
    if tier and tier not in FETCH_TIERS:
        problems.append(CsvProblem(row=number, column="fetch_tier", reason=f"{tier!r} is not one of "
                                   f"{', '.join(FETCH_TIERS)}"))
    selector = row.get("price_selector", "")
    if selector:
        reason = check_selector(selector)
        if reason:
            problems.append(CsvProblem(row=number, column="price_selector", reason=reason))
    return problems
