"""The Prometheus HTTP API (``/api/v1/query_range``): one PromQL expression, one series of points."""

from __future__ import annotations

from datetime import datetime

from .http_json import Point, SourceError, TransientSourceError, get_json, parse_ts, parse_value


def query_range(
    base_url: str,
    query: str,
    *,
    start: datetime,
    end: datetime,
    step: int,
    headers: dict | None = None,
    timeout: float = 10,
) -> list[Point]:
    """Points of ``query`` over ``[start, end]``. An empty matrix is no data (``[]``).

    Beacon stores one number per timestamp, so a query must return at most one series;
    more is a configuration error, reported as such instead of being silently summed.
    """
    url = base_url.rstrip("/") + "/api/v1/query_range"
    params = {"query": query, "start": f"{start.timestamp():.3f}", "end": f"{end.timestamp():.3f}", "step": str(step)}
    try:
        doc = get_json(url, params=params, headers=headers, timeout=timeout)
    except SourceError as exc:
        raise type(exc)(f"Prometheus {exc}") from None
    if not isinstance(doc, dict) or doc.get("status") != "success":
        error = doc.get("error", "unknown error") if isinstance(doc, dict) else "malformed response"
        kind = doc.get("errorType", "") if isinstance(doc, dict) else ""
        cls = TransientSourceError if kind in ("timeout", "unavailable") else SourceError
        raise cls(f"Prometheus {kind or 'error'}: {error}")
    data = doc.get("data") or {}
    if data.get("resultType") != "matrix":
        raise SourceError(f"Prometheus returned {data.get('resultType')!r}, expected a range matrix")
    result = data.get("result") or []
    if not result:
        return []
    if len(result) > 1:
        raise SourceError(f"the query returned {len(result)} series; wrap it in sum(…) or avg(…) so it returns one")
    points = []
    for raw_ts, raw_value in result[0].get("values", []):
        value = parse_value(raw_value)
        if value is not None:
            points.append((parse_ts(raw_ts), value))
    return points
