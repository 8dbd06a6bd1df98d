"""Reading a catalogue CSV: Shopify's own product export, or a minimal sku,title,price,cost,inventory.

    catalog = parse_catalog_csv(data, max_bytes=15_000_000)   # raises CatalogCsvError listing every problem

Two formats, told apart by the header:

- Shopify's product CSV (the header has `Handle`): one row per variant; the first row of a
  handle carries the product (`Title`, `Vendor`, `Type`, `Status`), the following rows of the
  same handle leave `Title` empty and add variants (`Option1 Value` .. `Option3 Value`,
  `Variant SKU`, `Variant Price`, `Variant Compare At Price`, `Cost per item`,
  `Variant Inventory Qty`). Rows with no variant field at all (extra images) are skipped;
  other columns are ignored.
- The minimal format: exactly the columns `sku,title,price` and optionally `cost`, `inventory`
  (any order); one product per row.

UTF-8 with or without a byte-order mark; comma-separated; numbers with digits and a `.` for
decimals (no currency sign, no thousands separator). Rows are numbered as a spreadsheet shows
them (the header is row 1). Every problem is collected, with its row, column and reason, so
that one upload shows the merchant everything to fix; a file with any problem is refused whole.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from decimal import Decimal
from enum import Enum

from pydantic import BaseModel, ConfigDict

from shared.csv_problems import CsvProblem, CsvRejectedError, CsvTooLargeError

MAX_PRICE = Decimal("9999999999.99")  # numeric(12, 2)
MAX_TEXT = 255
_NUMBER = re.compile(r"^\d+(\.\d+)?$")
_INTEGER = re.compile(r"^-?\d+$")
_STATUSES = {"active": "ACTIVE", "draft": "DRAFT", "archived": "ARCHIVED"}

SHOPIFY_REQUIRED = ("Handle", "Title", "Variant Price")
SHOPIFY_VARIANT_FIELDS = ("Variant SKU", "Variant Price", "Option1 Value", "Option2 Value", "Option3 Value",
                          "Variant Compare At Price", "Cost per item", "Variant Inventory Qty")
MINIMAL_REQUIRED = ("sku", "title", "price")
MINIMAL_COLUMNS = (*MINIMAL_REQUIRED, "cost", "inventory")


class CsvFormat(str, Enum):
    SHOPIFY = "shopify"
    MINIMAL = "minimal"


class CatalogCsvError(CsvRejectedError):
    """The file cannot be imported; `problems` lists every reason, by row and column."""


class CatalogTooLargeError(CatalogCsvError, CsvTooLargeError):
    pass


class CatalogRow(BaseModel):
    """One variant, as the file states it."""

    model_config = ConfigDict(frozen=True)

    row: int
    product_key: str  # natural key of a product created from the file
    variant_key: str  # natural key of a variant created from the file
    handle: str | None
    product_title: str
    product_type: str | None = None
    vendor: str | None = None
    status: str | None = None
    sku: str | None
    variant_title: str | None
    price: Decimal
    compare_at_price: Decimal | None = None
    has_compare_at_price: bool = False  # the column exists: an empty cell clears it
    cost: Decimal | None = None
    inventory: int | None = None


class ParsedCatalog(BaseModel):
    model_config = ConfigDict(frozen=True)

    format: CsvFormat
    rows: list[CatalogRow]
    skipped_rows: int  # image-only continuation rows of Shopify's export


def parse_catalog_csv(data: bytes, *, max_bytes: int) -> ParsedCatalog:
    if len(data) > max_bytes:
        raise CatalogTooLargeError([CsvProblem(row=0, column=None, reason=(
            f"the file is {len(data):,} bytes; the limit is {max_bytes:,} bytes: split it into smaller files"))])
    text = _decoded(data)
    records = _records(text)
    header = next(records, None)
    if header is None or not any(cell.strip() for cell in header[1]):
        raise CatalogCsvError([CsvProblem(row=1, column=None, reason="the file is empty: no header row")])
    names = [cell.strip() for cell in header[1]]
    problems: list[CsvProblem] = []
    duplicates = sorted({n for n in names if n and names.count(n) > 1})
    for name in duplicates:
        problems.append(CsvProblem(row=1, column=name, reason="the column appears more than once"))
    if "Handle" in names:
        format_ = CsvFormat.SHOPIFY
        required = SHOPIFY_REQUIRED
    elif "sku" in {n.lower() for n in names}:
        format_ = CsvFormat.MINIMAL
        required = MINIMAL_REQUIRED
        names = [n.lower() for n in names]
        for name in names:
            if name and name not in MINIMAL_COLUMNS:
                problems.append(CsvProblem(row=1, column=name, reason=(
                    f"unknown column; the minimal format has {', '.join(MINIMAL_COLUMNS)}")))
    else:
        raise CatalogCsvError([CsvProblem(row=1, column=None, reason=(
            "unrecognised header: expected Shopify's product CSV (Handle, Title, Variant Price, ...) "
            "or the minimal format sku,title,price,cost,inventory"))])
    for name in required:
        if name not in names:
            problems.append(CsvProblem(row=1, column=name, reason="required column is missing"))
    if problems:
        raise CatalogCsvError(problems)

    reader = _ShopifyRows() if format_ is CsvFormat.SHOPIFY else _MinimalRows()
    for number, cells in records:
        if not any(cell.strip() for cell in cells):
            continue  # a blank line
        if len(cells) > len(names):
            problems.append(CsvProblem(row=number, column=None, reason=(
                f"{len(cells)} fields but the header has {len(names)} columns (a comma inside an unquoted value?)")))
            continue
        values = dict(zip(names, [c.strip() for c in cells] + [""] * (len(names) - len(cells))))
        reader.add(number, values, problems)
    if problems:
        raise CatalogCsvError(problems)
    if not reader.rows:
        raise CatalogCsvError([CsvProblem(row=2, column=None, reason="the file has a header but no product rows")])
    return ParsedCatalog(format=format_, rows=reader.rows, skipped_rows=reader.skipped)


# --- reading the bytes --------------------------------------------------------------------------


def _decoded(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CatalogCsvError([CsvProblem(row=line, column=None, reason=(
            f"not UTF-8 (byte 0x{data[exc.start]:02x} on line {line}): save the file as CSV UTF-8"))]) from None


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(spreadsheet row, cells); a quoted value may span lines, so rows are counted as records."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CatalogCsvError([CsvProblem(row=number + 1, column=None, reason=f"not valid CSV: {exc}")]) from None
        number += 1
        yield number, cells


# --- values ---------------------------------------------------------------------------------------


def _money(value: str, column: str, row: int, problems: list[CsvProblem], *, places: int,
           required: bool) -> Decimal | None:
    if not value:
        if required:
            problems.append(CsvProblem(row=row, column=column, reason="required value is empty"))
        return None
    if not _NUMBER.match(value):
        reason = "negative amounts are not allowed" if value.startswith("-") and _NUMBER.match(value[1:]) else (
            f"{value[:40]!r} is not a number (digits and a '.' for decimals, no currency sign or thousands separator)")
        problems.append(CsvProblem(row=row, column=column, reason=reason))
        return None
    amount = Decimal(value)
    if -amount.as_tuple().exponent > places:
        problems.append(CsvProblem(row=row, column=column, reason=f"{value} has more than {places} decimal places"))
        return None
    if amount > MAX_PRICE:
        problems.append(CsvProblem(row=row, column=column, reason=f"{value} is too large"))
        return None
    return amount


def _integer(value: str, column: str, row: int, problems: list[CsvProblem]) -> int | None:
    if not value:
        return None
    if not _INTEGER.match(value) or abs(int(value)) > 2_000_000_000:
        problems.append(CsvProblem(row=row, column=column, reason=f"{value[:40]!r} is not a whole number"))
        return None
    return int(value)


def _text(value: str, column: str, row: int, problems: list[CsvProblem], *, required: bool) -> str | None:
    if not value:
        if required:
            problems.append(CsvProblem(row=row, column=column, reason="required value is empty"))
        return None
    if len(value) > MAX_TEXT and column not in ("Title", "title"):
        problems.append(CsvProblem(row=row, column=column, reason=f"longer than {MAX_TEXT} characters"))
        return None
    return value


class _MinimalRows:
    def __init__(self) -> None:
        self.rows: list[CatalogRow] = []
        self.skipped = 0
        self._skus: dict[str, int] = {}

    def add(self, row: int, values: dict[str, str], problems: list[CsvProblem]) -> None:
        before = len(problems)
        sku = _text(values["sku"], "sku", row, problems, required=True)
        title = _text(values["title"], "title", row, problems, required=True)
        price = _money(values["price"], "price", row, problems, places=2, required=True)
        cost = _money(values.get("cost", ""), "cost", row, problems, places=4, required=False)
        inventory = _integer(values.get("inventory", ""), "inventory", row, problems)
        if sku is not None:
            if sku in self._skus:
                problems.append(CsvProblem(row=row, column="sku", reason=f"duplicate of row {self._skus[sku]}"))
            else:
                self._skus[sku] = row
        if len(problems) > before:
            return
        assert sku is not None and title is not None and price is not None
        self.rows.append(CatalogRow(
            row=row, product_key=f"csv:sku:{sku}", variant_key=f"csv:sku:{sku}", handle=None, product_title=title,
            sku=sku, variant_title=None, price=price, cost=cost, inventory=inventory,
        ))


class _ShopifyRows:
    def __init__(self) -> None:
        self.rows: list[CatalogRow] = []
        self.skipped = 0
        self._products: dict[str, dict[str, str | None]] = {}  # handle -> product fields from its first row
        self._skus: dict[str, int] = {}
        self._keys: dict[str, int] = {}

    def add(self, row: int, values: dict[str, str], problems: list[CsvProblem]) -> None:
        before = len(problems)
        handle = _text(values["Handle"], "Handle", row, problems, required=True)
        if handle is None:
            return
        title = values.get("Title", "")
        if handle not in self._products:
            if not title:
                problems.append(CsvProblem(row=row, column="Title", reason=(
                    f"the first row of handle {handle!r} must carry the product's title")))
                return
            status = values.get("Status", "").lower()
            if status and status not in _STATUSES:
                problems.append(CsvProblem(row=row, column="Status", reason="must be active, draft or archived"))
            self._products[handle] = {"title": title, "type": values.get("Type") or None,
                                      "vendor": values.get("Vendor") or None, "status": _STATUSES.get(status)}
        if not any(values.get(name) for name in SHOPIFY_VARIANT_FIELDS):
            self.skipped += 1  # an extra image of the product, not a variant
            return
        product = self._products[handle]
        sku = _text(values.get("Variant SKU", ""), "Variant SKU", row, problems, required=False)
        price = _money(values.get("Variant Price", ""), "Variant Price", row, problems, places=2, required=True)
        compare = _money(values.get("Variant Compare At Price", ""), "Variant Compare At Price", row, problems,
                         places=2, required=False)
        cost = _money(values.get("Cost per item", ""), "Cost per item", row, problems, places=4, required=False)
        inventory = _integer(values.get("Variant Inventory Qty", ""), "Variant Inventory Qty", row, problems)
        options = [values.get(f"Option{i} Value", "") for i in (1, 2, 3)]
        variant_title = " / ".join(o for o in options if o) or None
        key = f"csv:{handle}:{'/'.join(options)}"
        if sku is not None:
            if sku in self._skus:
                problems.append(CsvProblem(row=row, column="Variant SKU", reason=f"duplicate of row {self._skus[sku]}"))
            else:
                self._skus[sku] = row
        elif key in self._keys:
            problems.append(CsvProblem(row=row, column="Option1 Value", reason=(
                f"the same options as row {self._keys[key]} for handle {handle!r}")))
        self._keys.setdefault(key, row)
        if len(problems) > before:
            return
        assert price is not None
        self.rows.append(CatalogRow(
            row=row, product_key=f"csv:{handle}", variant_key=f"csv:sku:{sku}" if sku else key, handle=handle,
            product_title=str(product["title"]), product_type=product["type"], vendor=product["vendor"],
            status=product["status"], sku=sku, variant_title=variant_title, price=price, compare_at_price=compare,
            has_compare_at_price="Variant Compare At Price" in values, cost=cost, inventory=inventory,
        ))
