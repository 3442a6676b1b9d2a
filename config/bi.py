"""Shared parts of the read APIs for BI tools and notebooks (Power BI, Excel, pandas).

Time filters that name the bad parameter, cursor pagination (stable under inserts, cheap on
deep pages) and ``?format=csv``, which streams every matching row (no page limit, formula-safe
cells) with columns named like the JSON keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, time, timedelta

from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import BaseRenderer

from . import spreadsheet


class CsvRenderer(BaseRenderer):
    """Lets DRF accept ``?format=csv``; the views stream the CSV themselves."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, dict) and "results" not in data:
            # An error body: one row per field message, still readable in a spreadsheet.
            rows = [["field", "message"]] + [[k, " ".join(map(str, v)) if isinstance(v, list) else v]
                                             for k, v in data.items()]  # fmt: skip
            return "\n".join(",".join(f'"{spreadsheet.safe_cell(c)}"' for c in row) for row in rows).encode()
        return b""


class TimeCursorPagination(CursorPagination):
    page_size = 500
    page_size_query_param = "page_size"
    max_page_size = 5000
    ordering = ("started_at", "id")


def parse_time(params, name: str, *, end: bool = False) -> datetime | None:
    """``name`` as an ISO 8601 time with offset, or a date (start of that day; for ``end``, the next day)."""
    raw = params.get(name)
    if raw in (None, ""):
        return None
    problem = ValidationError({name: [f"{raw!r} is not a date (YYYY-MM-DD) or an ISO 8601 time with offset."]})
    try:
        # A bare date first: parse_datetime would read "2025-03-19" as its midnight.
        day = parse_date(raw) if len(raw) == 10 else None
        value = None if day is not None else parse_datetime(raw)
    except ValueError:
        raise problem from None
    if value is not None:
        if timezone.is_naive(value):
            value = timezone.make_aware(value)
        return value
    if day is not None:
        moment = timezone.make_aware(datetime.combine(day, time.min))
        return moment + timedelta(days=1) if end else moment
    raise problem


def time_range(params) -> tuple[datetime | None, datetime | None]:
    start, end = parse_time(params, "start"), parse_time(params, "end", end=True)
    if start and end and end <= start:
        raise ValidationError({"end": ["end must be after start."]})
    return start, end


def wants_csv(request) -> bool:
    return request.query_params.get("format") == "csv" or getattr(request.accepted_renderer, "format", "") == "csv"


def csv_response(filename: str, columns: list[str], rows: Iterable[dict], convert: Callable[[str, object], object]):
    """Stream ``rows`` as CSV with ``columns`` as the header (the JSON keys)."""

    class Echo:
        def write(self, value):
            return value

    writer = spreadsheet.writer(Echo())

    def lines():
        yield writer.writerow(columns)
        for row in rows:
            yield writer.writerow([convert(c, row[c]) for c in columns])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def csv_value(_column: str, value):
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return value
