"""Generic HTTP JSON metric sources (Grafana, Dynatrace-style APIs) and the errors all sources share.

A source answers a GET with JSON; a dotted path (``result.0.data.0.values``) finds the
points inside. Points may be ``[ts, value]`` pairs, objects (``{"ts": …, "value": …}``) or,
Dynatrace style, a list of values beside a parallel list of timestamps.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import requests

Point = tuple[datetime, float]


class SourceError(Exception):
    """A source could not answer. ``retryable`` errors (5xx, timeouts, throttling) are retried with backoff."""

    retryable = False


class TransientSourceError(SourceError):
    retryable = True


class Throttled(TransientSourceError):
    """The source asked us to slow down (HTTP 429, CloudWatch ``Throttling``)."""


def get_json(url: str, *, params: dict | None = None, headers: dict | None = None, timeout: float = 10) -> Any:
    """GET ``url`` and decode JSON, turning every failure into a ``SourceError`` that says what happened."""
    try:
        response = requests.get(url, params=params, headers=headers or {}, timeout=timeout)
    except requests.Timeout:
        raise TransientSourceError(f"timed out after {timeout:g} s") from None
    except requests.ConnectionError as exc:
        raise TransientSourceError(f"connection failed: {_short(exc)}") from None
    if response.status_code == 429:
        raise Throttled(f"HTTP 429 throttled: {_short(response.text)}")
    if response.status_code >= 500:
        raise TransientSourceError(f"HTTP {response.status_code}: {_short(response.text)}")
    try:
        doc = response.json()
    except ValueError:
        raise SourceError(f"HTTP {response.status_code}: response is not JSON: {_short(response.text)}") from None
    if response.status_code >= 400:
        raise SourceError(f"HTTP {response.status_code}: {_short(response.text)}")
    return doc


def fetch_points(
    url: str,
    *,
    values_path: str,
    timestamps_path: str = "",
    ts_key: str = "ts",
    value_key: str = "value",
    headers: dict | None = None,
    timeout: float = 10,
) -> list[Point]:
    doc = get_json(url, headers=headers, timeout=timeout)
    return extract_points(
        doc, values_path=values_path, timestamps_path=timestamps_path, ts_key=ts_key, value_key=value_key
    )


def fill_url(template: str, *, start: datetime, end: datetime, step: int) -> str:
    """Fill the placeholders of a series' URL with its query window."""
    return template.format(
        start=int(start.timestamp()),
        end=int(end.timestamp()),
        start_ms=int(start.timestamp() * 1000),
        end_ms=int(end.timestamp() * 1000),
        start_iso=start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        end_iso=end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        step=step,
    )


def extract_points(
    doc: Any, *, values_path: str, timestamps_path: str = "", ts_key: str = "ts", value_key: str = "value"
) -> list[Point]:
    """Points found at ``values_path``. A missing path or an empty list is no data (``[]``), not an error."""
    values = _walk(doc, values_path)
    if values is None:
        return []
    if not isinstance(values, list):
        raise SourceError(f"{values_path!r} is not a list in the response")
    if timestamps_path:
        stamps = _walk(doc, timestamps_path)
        if not isinstance(stamps, list) or len(stamps) != len(values):
            raise SourceError(f"{timestamps_path!r} is not a list as long as {values_path!r}")
        pairs = zip(stamps, values, strict=True)
    else:
        pairs = []
        for item in values:
            if isinstance(item, (list, tuple)) and len(item) == 2:
                pairs.append((item[0], item[1]))
            elif isinstance(item, dict) and ts_key in item and value_key in item:
                pairs.append((item[ts_key], item[value_key]))
            else:
                raise SourceError(
                    f"point {item!r} is neither a [ts, value] pair nor an object with {ts_key}/{value_key}"
                )
    points = []
    for raw_ts, raw_value in pairs:
        value = parse_value(raw_value)
        if value is not None:
            points.append((parse_ts(raw_ts), value))
    return points


def parse_ts(raw: Any) -> datetime:
    """Epoch seconds, epoch milliseconds or an ISO 8601 string with offset, as an aware UTC datetime."""
    if isinstance(raw, bool):
        raise SourceError(f"bad timestamp {raw!r}")
    if isinstance(raw, (int, float)):
        seconds = raw / 1000 if raw > 1e11 else raw
        return datetime.fromtimestamp(seconds, tz=UTC)
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            try:
                return parse_ts(float(raw))
            except ValueError:
                raise SourceError(f"bad timestamp {raw!r}") from None
        if parsed.tzinfo is None:
            raise SourceError(f"timestamp {raw!r} has no UTC offset")
        return parsed.astimezone(UTC)
    raise SourceError(f"bad timestamp {raw!r}")


def parse_value(raw: Any) -> float | None:
    """A number, or None for the explicit gaps sources use (null, NaN)."""
    if raw is None or isinstance(raw, bool):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise SourceError(f"bad value {raw!r}") from None
    return value if math.isfinite(value) else None


def _walk(doc: Any, path: str) -> Any:
    node = doc
    for part in filter(None, path.split(".")):
        if isinstance(node, list):
            try:
                node = node[int(part)]
            except (ValueError, IndexError):
                return None
        elif isinstance(node, dict):
            if part not in node:
                return None
            node = node[part]
        else:
            return None
    return node


def _short(value: Any, limit: int = 200) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
