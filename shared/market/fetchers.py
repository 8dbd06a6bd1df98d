"""Which fetcher a run uses: ZenRows when its key is set, the direct fetcher otherwise."""

from __future__ import annotations

from shared.market.fetch import DirectFetcher, PageFetcher
from shared.market.zenrows import ZenRowsFetcher
from shared.secrets import get_optional_secret
from shared.settings import Settings, get_settings


def fetcher_from_settings(settings: Settings | None = None) -> PageFetcher:
    """A fetcher for one run; the caller closes it (`await fetcher.aclose()`)."""
    settings = settings or get_settings()
    api_key = get_optional_secret("ZENROWS_API_KEY")
    if api_key:
        return ZenRowsFetcher.from_settings(api_key, settings)
    return DirectFetcher.from_settings(settings)
