"""Pieces every retrying HTTP client here shares (Rundeck, PagerDuty).

Each client keeps one explicit retry loop, so the waits are visible, capped and testable;
these helpers only answer "how long": a server's ``Retry-After`` and exponential backoff.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def backoff(attempt: int, *, factor: float, cap: float) -> float:
    """Exponential backoff: ``factor`` × 2^attempt seconds, at most ``cap``."""
    return min(cap, factor * (2**attempt))
