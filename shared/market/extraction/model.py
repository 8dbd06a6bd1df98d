"""The types every extraction layer shares: what is found, and the page it is found in."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator
from selectolax.lexbor import LexborHTMLParser


class Availability(StrEnum):
    in_stock = "in_stock"
    out_of_stock = "out_of_stock"
    unknown = "unknown"


class PriceSource(StrEnum):
    json_ld = "json_ld"
    microdata = "microdata"
    rdfa = "rdfa"
    meta = "meta"
    selector = "selector"
    heuristic = "heuristic"


class PriceHints(BaseModel):
    """What we already know about a competitor's pages."""

    model_config = ConfigDict(frozen=True)

    currency: str | None = Field(None, description="ISO 4217 code the competitor sells in.")
    css_selector: str | None = Field(None, description="Where the price is on this competitor's pages.")
    decimal_separator: str | None = Field(None, pattern=r"^[.,]$")

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", value):
            raise ValueError("currency must be an ISO 4217 code such as GBP")
        return value


class ExtractedPrice(BaseModel):
    model_config = ConfigDict(frozen=True)

    price: Decimal | None = None
    currency: str | None = None
    availability: Availability = Availability.unknown
    source: PriceSource | None = None



@dataclass
class Found:
    price: Decimal | None = None
    currency: str | None = None  # as written; converted to ISO at the end
    availability: Availability | None = None


@dataclass
class Page:
    html: str
    url: str | None
    hints: PriceHints
    country: str | None = None
    _tree: LexborHTMLParser | None = field(default=None, init=False, repr=False)

    @property
    def tree(self) -> LexborHTMLParser:
        # Parsing is most of the cost; pages whose JSON-LD says everything never pay it.
        if self._tree is None:
            self._tree = LexborHTMLParser(self.html)
        return self._tree

    @property
    def expected_currency(self) -> str | None:
        return self.hints.currency


def country_of(url: str | None) -> str | None:
    if not url:
        return None
    host = (urlsplit(url).hostname or "").lower()
    tld = host.rsplit(".", 1)[-1] if "." in host else ""
    return tld if len(tld) == 2 else None
