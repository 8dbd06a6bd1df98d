"""Matching competitor pages given without a SKU to the shop's variants, for the merchant to confirm.

Wrong matches are what merchants of price trackers complain about most, so nothing is linked
on a guess: each page is read (`extract_identity`), and a match is proposed by the strongest
evidence available, each with a confidence:

1. GTIN (EAN/UPC, check digit valid) equal to a variant's barcode: 0.99;
2. the page's SKU equal to a variant's SKU: 0.95; its MPN equal to a variant's SKU: 0.90;
3. title similarity (rapidfuzz, token-set and token-sort ratios averaged) of at least
   `competitor_match_min_title_score`: the score x 0.9, less when the runner-up is close.

Proposals are stored in competitor_page_matches; `confirm_match` turns one into a confirmed
competitor_urls link (the only kind that is scraped), `reject_match` sets it aside.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

from pydantic import BaseModel
from rapidfuzz import fuzz, process

from shared.db import competitor_matches as store
from shared.db.pool import transaction
from shared.market.extraction.identity import ProductIdentity, extract_identity
from shared.market.fetch import PageFetcher
from shared.market.fetchers import fetcher_from_settings
from shared.settings import get_settings

log = logging.getLogger(__name__)

GTIN_CONFIDENCE = 0.99
SKU_CONFIDENCE = 0.95
MPN_CONFIDENCE = 0.90
TITLE_WEIGHT = 0.9
CLOSE_RUNNER_UP = 5.0  # points out of 100: a second title this close makes the first doubtful


@dataclass(frozen=True)
class MatchProposal:
    variant_id: int
    method: str  # gtin, sku, mpn, title
    confidence: float


def normalise_gtin(value: str | None) -> str | None:
    """A GTIN-8/12/13/14 as 14 digits when its check digit is right; None otherwise."""
    if not value:
        return None
    digits = re.sub(r"\D", "", value)
    if len(digits) not in (8, 12, 13, 14):
        return None
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    if (10 - total % 10) % 10 != check:
        return None
    return digits.zfill(14)


def normalise_code(value: str | None) -> str | None:
    """A SKU or MPN compared without case, spaces or punctuation; too short to trust: None."""
    if not value:
        return None
    code = re.sub(r"[^0-9A-Za-z]", "", value).upper()
    return code if len(code) >= 3 else None


def normalise_title(value: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", value.casefold()).split())


class VariantMatcher:
    """Indexes of one shop's variants by GTIN, SKU and title."""

    def __init__(self, variants: list[store.VariantForMatching], min_title_score: float) -> None:
        self.min_title_score = min_title_score * 100
        self._by_gtin: dict[str, set[int]] = {}
        self._by_code: dict[str, set[int]] = {}
        for variant in variants:
            gtin = normalise_gtin(variant.barcode)
            if gtin:
                self._by_gtin.setdefault(gtin, set()).add(variant.variant_id)
            code = normalise_code(variant.sku)
            if code:
                self._by_code.setdefault(code, set()).add(variant.variant_id)
        self._titles = {v.variant_id: normalise_title(v.title) for v in variants}

    def propose(self, identity: ProductIdentity) -> MatchProposal | None:
        gtin = normalise_gtin(identity.gtin)
        if gtin and len(self._by_gtin.get(gtin, ())) == 1:
            return MatchProposal(next(iter(self._by_gtin[gtin])), "gtin", GTIN_CONFIDENCE)
        for value, method, confidence in ((identity.sku, "sku", SKU_CONFIDENCE), (identity.mpn, "mpn", MPN_CONFIDENCE)):
            code = normalise_code(value)
            if code and len(self._by_code.get(code, ())) == 1:
                return MatchProposal(next(iter(self._by_code[code])), method, confidence)
        if identity.title and self._titles:
            return self._by_title(identity.title)
        return None

    def _by_title(self, title: str) -> MatchProposal | None:
        query = normalise_title(title)
        if not query:
            return None
        best = process.extract(query, self._titles, scorer=_title_score, limit=2)
        if not best or best[0][1] < self.min_title_score:
            return None
        _, score, variant_id = best[0]
        confidence = score / 100 * TITLE_WEIGHT
        if len(best) > 1 and score - best[1][1] < CLOSE_RUNNER_UP:
            confidence *= 0.7  # two variants fit almost as well: the merchant must look
        return MatchProposal(variant_id, "title", round(confidence, 3))


def _title_score(a: str, b: str, **_kwargs) -> float:
    # token_set forgives extra words on the competitor's side (its brand, "| Shop name"),
    # token_sort penalises words missing on either side (another colour or size).
    return (fuzz.token_set_ratio(a, b) + fuzz.token_sort_ratio(a, b)) / 2


class MatchSummary(BaseModel):
    pages: int = 0
    proposed: int = 0
    no_match: int = 0
    failed: int = 0
    by_method: dict[str, int] = {}


async def propose_pending_matches(shop_id: int, fetcher: PageFetcher | None = None, *, limit: int = 500) -> MatchSummary:
    """Read every page still waiting for a match and store a proposal (or `no_match`)."""
    settings = get_settings()
    with transaction() as conn:
        pending = store.pending_pages(conn, shop_id, limit=limit)
        variants = store.variants_for_matching(conn, shop_id)
    summary = MatchSummary(pages=len(pending))
    if not pending:
        return summary
    matcher = VariantMatcher(variants, settings.competitor_match_min_title_score)
    own = fetcher is None
    fetcher = fetcher or fetcher_from_settings(settings)
    try:
        results = await asyncio.gather(*(fetcher.fetch(page.url, tier=page.fetch_tier) for page in pending))
    finally:
        if own:
            await fetcher.aclose()
    with transaction() as conn:
        for page, result in zip(pending, results):
            if not result.ok or result.html is None:
                summary.failed += 1
                store.record_failure(conn, page.match_id, f"{result.error}: {result.error_detail or ''}"[:300])
                continue
            identity = extract_identity(result.html)
            proposal = matcher.propose(identity)
            store.record_proposal(conn, page.match_id, identity, proposal)
            if proposal is None:
                summary.no_match += 1
            else:
                summary.proposed += 1
                summary.by_method[proposal.method] = summary.by_method.get(proposal.method, 0) + 1
    log.info("match proposals for shop %s: %s", shop_id, summary.model_dump())
    return summary
