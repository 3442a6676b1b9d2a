"""Bulk sample ingest: the push API and the pollers both end in ``samples_upsert``.

Huge payloads (hundreds of thousands of rows) are validated with plain Python rather than a
serializer per row, series keys are resolved with one query, and rows are written in
set-based statements: on PostgreSQL a ``COPY`` into a staging table and one
``INSERT … SELECT … ON CONFLICT``, elsewhere a batched ``INSERT … ON CONFLICT``. Conflicting rows are
only rewritten when the value differs, so re-sending a batch writes nothing.

Every write also rewrites, from the raw rows, the hourly aggregates (``MetricHourly``) of
the hours it touched and the series' stored latest value: the availability report and
``/metrics/`` read those instead of scanning millions of samples.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from config.api import BulkRowsInvalid, bulk_row, time_problem

from ..models import MetricHourly, MetricSample, MetricSeries

HOURLY_LOCK = 14_0001  # advisory lock namespace: one writer per series while its hours are recomputed
SQLITE_CHUNK = 300  # 3 parameters per row, under SQLite's 999-variable limit on old builds
MAX_REPORTED_ERRORS = 20


@dataclass(frozen=True)
class IngestResult:
    received: int  # rows in the request
    stored: int  # rows inserted or changed (0 when the batch was already stored)


def samples_ingest(*, rows: Any) -> IngestResult:
    """Validate a pushed list of ``{"series": key, "ts": ISO 8601, "value": number}`` and upsert it.

    All or nothing: any bad row raises ``ValidationError`` naming the row (``rows[17].ts``)
    before anything is written.
    """
    if not isinstance(rows, list):
        raise ValidationError({"non_field_errors": ['Send a JSON list of {"series", "ts", "value"} objects.']})
    limit = settings.METRICS_INGEST_MAX_ROWS
    if len(rows) > limit:
        raise ValidationError({"non_field_errors": [f"At most {limit} rows per request; got {len(rows)}."]})
    if not rows:
        return IngestResult(received=0, stored=0)

    errors: dict[str, list[str]] = {}
    parsed: list[tuple[str, datetime, float]] = []
    ts_cache: dict[str, datetime] = {}
    append = parsed.append
    for index, row in enumerate(rows):
        try:
            key, raw_ts, value = row["series"], row["ts"], row["value"]
        except (TypeError, KeyError, IndexError):
            _row_error(errors, index, row)
            continue
        ts = ts_cache.get(raw_ts) if type(raw_ts) is str else None
        if ts is None:
            ts = _parse_ts(raw_ts)
            if ts is None:
                errors.setdefault(f"rows[{index}].ts", []).append(
                    f"{raw_ts!r} is not an ISO 8601 time with a UTC offset between 1970 and 2999, "
                    "e.g. 2025-01-31T12:05:00Z."
                )
                continue
            ts_cache[raw_ts] = ts
        vtype = type(value)
        if vtype is not float and vtype is not int:
            errors.setdefault(f"rows[{index}].value", []).append(f"{value!r} is not a number.")
            continue
        if vtype is float and not math.isfinite(value):
            errors.setdefault(f"rows[{index}].value", []).append("Value must be a finite number.")
            continue
        if type(key) is not str or not key:
            errors.setdefault(f"rows[{index}].series", []).append("Give the series key as a string.")
            continue
        append((key, ts, value))
        if len(errors) >= MAX_REPORTED_ERRORS:
            break
    if errors:
        raise _invalid(errors, rows)

    keys = {key for key, _, _ in parsed}
    ids = dict(MetricSeries.objects.filter(key__in=keys).values_list("key", "pk"))
    if len(ids) != len(keys):
        for index, (key, _, _) in enumerate(parsed):
            if key not in ids:
                errors.setdefault(f"rows[{index}].series", []).append(f"Unknown series {key!r}.")
                if len(errors) >= MAX_REPORTED_ERRORS:
                    break
        raise _invalid(errors, rows)

    stored = samples_upsert(points=((ids[key], ts, value) for key, ts, value in parsed))
    return IngestResult(received=len(rows), stored=stored)


def samples_upsert(*, points: Iterable[tuple[int, datetime, float]]) -> int:
    """Insert or update ``(series_id, ts, value)`` rows atomically; return how many were new or changed.

    Duplicates inside one call are collapsed (last wins) because one statement may not touch
    a row twice. Safe to run concurrently: two pollers storing the same window race on the
    unique (series, ts) constraint and PostgreSQL serialises them into one row.
    """
    unique: dict[tuple[int, datetime], float] = {}
    for series_id, ts, value in points:
        unique[(series_id, ts)] = value
    if not unique:
        return 0
    # Sorted rows keep concurrent upserts from deadlocking on each other's index locks.
    ordered = sorted(unique.items())
    with transaction.atomic():
        if connection.vendor == "postgresql":
            return _upsert_postgresql(ordered)
        return _upsert_generic(ordered)


def _upsert_postgresql(ordered: list[tuple[tuple[int, datetime], float]]) -> int:
    """COPY the rows into a temporary staging table, then one ``INSERT … SELECT … ON CONFLICT``.

    COPY is the cheapest way to hand PostgreSQL many rows (psycopg formats them in C);
    the staging table has no index, and the final statement does the set-based upsert.
    """
    table = MetricSample._meta.db_table
    connection.ensure_connection()
    raw = connection.connection
    with raw.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE metrics_ingest_stage (series_id bigint, ts timestamptz, value float8) "
            "ON COMMIT DROP"
        )
        with cursor.copy("COPY metrics_ingest_stage (series_id, ts, value) FROM STDIN") as copy:
            write = copy.write_row
            for (series_id, ts), value in ordered:
                write((series_id, ts, value))
        # Writers of the same series take turns (in series order, so never a deadlock): the
        # hourly aggregates below are recomputed from the raw rows, and a concurrent writer's
        # uncommitted rows would otherwise be missing from the figure that commits last.
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, series_id::int) FROM "
            "(SELECT DISTINCT series_id FROM metrics_ingest_stage ORDER BY series_id) s",
            [HOURLY_LOCK],
        )
        cursor.execute(
            f"INSERT INTO {table} (series_id, ts, value) "
            "SELECT series_id, ts, value FROM metrics_ingest_stage "
            "ON CONFLICT (series_id, ts) DO UPDATE SET value = EXCLUDED.value "
            f"WHERE {table}.value IS DISTINCT FROM EXCLUDED.value"
        )
        stored = max(cursor.rowcount, 0)
        if stored:
            hourly = MetricHourly._meta.db_table
            # Each touched hour is recomputed from its raw rows: exact whatever was
            # inserted, changed or sent twice.
            cursor.execute(
                f"INSERT INTO {hourly} (series_id, hour, count, total, minimum, maximum, updated_at) "
                "SELECT s.series_id, d.hour, count(*), sum(s.value), min(s.value), max(s.value), now() "
                "FROM (SELECT DISTINCT series_id, date_trunc('hour', ts, 'UTC') AS hour FROM metrics_ingest_stage) d "
                f"JOIN {table} s ON s.series_id = d.series_id AND s.ts >= d.hour AND s.ts < d.hour + interval '1 hour' "
                "GROUP BY s.series_id, d.hour "
                "ON CONFLICT (series_id, hour) DO UPDATE SET count = EXCLUDED.count, total = EXCLUDED.total, "
                "minimum = EXCLUDED.minimum, maximum = EXCLUDED.maximum, updated_at = EXCLUDED.updated_at"
            )
            series = MetricSeries._meta.db_table
            cursor.execute(
                f"UPDATE {series} m SET latest_ts = l.ts, latest_value = l.value FROM "
                "(SELECT DISTINCT ON (series_id) series_id, ts, value FROM metrics_ingest_stage "
                "ORDER BY series_id, ts DESC) l "
                "WHERE m.id = l.series_id AND (m.latest_ts IS NULL OR l.ts >= m.latest_ts)"
            )
        # Dropped now rather than at commit: the caller may be inside a longer transaction.
        cursor.execute("DROP TABLE metrics_ingest_stage")
    return stored


def _upsert_generic(ordered: list[tuple[tuple[int, datetime], float]]) -> int:
    table = MetricSample._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    stored = 0
    with connection.cursor() as cursor:
        for start in range(0, len(ordered), SQLITE_CHUNK):
            chunk = ordered[start : start + SQLITE_CHUNK]
            placeholders = ", ".join(["(%s, %s, %s)"] * len(chunk))
            params: list = []
            for (series_id, ts), value in chunk:
                params += [series_id, adapt(ts), float(value)]
            cursor.execute(
                f"INSERT INTO {table} (series_id, ts, value) VALUES {placeholders} "
                "ON CONFLICT (series_id, ts) DO UPDATE SET value = excluded.value "
                f"WHERE {table}.value IS NOT excluded.value",
                params,
            )
            stored += max(cursor.rowcount, 0)
    if stored:
        _refresh_derived_generic(ordered)
    return stored


def _refresh_derived_generic(ordered: list[tuple[tuple[int, datetime], float]]) -> None:
    """Hourly aggregates and latest values for databases without the PostgreSQL statements."""
    hours: dict[int, set[datetime]] = {}
    newest: dict[int, tuple[datetime, float]] = {}
    for (series_id, ts), value in ordered:
        hours.setdefault(series_id, set()).add(ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0))
        if series_id not in newest or ts >= newest[series_id][0]:
            newest[series_id] = (ts, value)
    now = timezone.now()
    rows = []
    for series_id, wanted in hours.items():
        found = (
            MetricSample.objects.filter(
                series_id=series_id, ts__gte=min(wanted), ts__lt=max(wanted) + timedelta(hours=1)
            )
            .annotate(hour=TruncHour("ts", tzinfo=UTC))
            .values("hour")
            .annotate(n=Count("pk"), total=Sum("value"), low=Min("value"), high=Max("value"))
            .order_by()
        )
        for row in found:
            if row["hour"] in wanted:
                rows.append(
                    MetricHourly(
                        series_id=series_id,
                        hour=row["hour"],
                        count=row["n"],
                        total=row["total"],
                        minimum=row["low"],
                        maximum=row["high"],
                        updated_at=now,
                    )
                )
    MetricHourly.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["series", "hour"],
        update_fields=["count", "total", "minimum", "maximum", "updated_at"],
        batch_size=500,
    )
    for series_id, (ts, value) in newest.items():
        MetricSeries.objects.filter(Q(latest_ts__isnull=True) | Q(latest_ts__lte=ts), pk=series_id).update(
            latest_ts=ts, latest_value=value
        )


def _parse_ts(raw: Any) -> datetime | None:
    if type(raw) is not str:
        return None
    try:
        ts = datetime.fromisoformat(raw)
    except ValueError:
        return None
    # Naive times, offsets PostgreSQL refuses and years out of range (a sample at year 1
    # would break the daily retention job for good) are all refused here.
    return None if time_problem(ts) else ts


def _row_error(errors: dict, index: int, row: Any) -> None:
    if not isinstance(row, dict):
        errors.setdefault(f"rows[{index}]", []).append('Each row must be an object with "series", "ts" and "value".')
        return
    for name in ("series", "ts", "value"):
        if name not in row:
            errors.setdefault(f"rows[{index}].{name}", []).append("This field is required.")


def _invalid(errors: dict, rows: list) -> BulkRowsInvalid:
    """``{"rows[17].ts": [messages]}`` → the shared bulk error (row 17, field ``ts``)."""
    by_row: dict[int, dict[str, list[str]]] = {}
    for name, messages in errors.items():
        index_text, _, field = name.removeprefix("rows[").partition("]")
        by_row.setdefault(int(index_text), {})[field.lstrip(".") or "non_field_errors"] = messages
    found = []
    for index, problems in by_row.items():
        row = rows[index]
        key = row.get("series") if isinstance(row, dict) and isinstance(row.get("series"), str) else None
        found.append(bulk_row(index, key, problems))
    return BulkRowsInvalid(found, len(rows))
