"""The `Retry-After` header (RFC 9110): seconds or an HTTP date, as a wait in seconds."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import httpx


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """How long the server asks us to wait; None when it does not say (or says nonsense)."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, (moment - datetime.now(timezone.utc)).total_seconds())
