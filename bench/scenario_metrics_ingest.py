"""Bulk metric ingest: 1,000,000 samples through ``POST /api/v1/metrics/samples/`` vs a raw ``COPY``.

Goal (issue 3): sustained API throughput at least 30% of a raw PostgreSQL ``COPY`` of the
same rows into the same table, measured side by side; re-ingesting the same batches is
as fast and stores nothing new. Requests go through the whole Django stack in process
(middleware, token authentication, DRF parsing, validation, upsert); the client's JSON
encoding is done beforehand and not timed.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

NAME = "Bulk metric ingest: 1,000,000 samples vs COPY (metrics)"
PREFIX = "bench-ingest-"


def run(args) -> str:
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    from metrics.choices import SeriesRole, SourceKind
    from metrics.models import MetricSample, MetricSeries, MetricSource

    n_series, per_series, batch = (20, 1_000, 5_000) if args.quick else (100, 10_000, 50_000)
    total = n_series * per_series
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.METRICS_INGEST_MAX_ROWS = max(settings.METRICS_INGEST_MAX_ROWS, batch)

    source, _ = MetricSource.objects.get_or_create(
        name=f"{PREFIX}source", defaults={"kind": SourceKind.HTTP_JSON, "base_url": "http://bench.invalid"}
    )
    series = [
        MetricSeries.objects.get_or_create(
            key=f"{PREFIX}{i:03d}", defaults={"label": f"Bench {i}", "source": source, "role": SeriesRole.CUSTOM}
        )[0]
        for i in range(n_series)
    ]
    user, _ = User.objects.get_or_create(username=f"{PREFIX}pusher", defaults={"is_superuser": True})
    from accounts.services import token_create

    token_key = token_create(user=user, name="bench")[1]

    # The same rows for both paths: minute samples, all series interleaved as a pusher sends them.
    base = datetime(2025, 1, 1, tzinfo=UTC)
    rows = []
    for minute in range(per_series):
        ts = base + timedelta(minutes=minute)
        for s in series:
            rows.append((s.pk, s.key, ts, float((minute * 7 + s.pk) % 500) / 10))
    payloads = [
        json.dumps(
            [{"series": key, "ts": ts.isoformat(), "value": value} for _, key, ts, value in rows[i : i + batch]]
        ).encode()
        for i in range(0, total, batch)
    ]
    copy_rows = [(sid, ts, value) for sid, _, ts, value in rows]
    table = MetricSample._meta.db_table
    ids = [s.pk for s in series]

    def clear():
        with connection.cursor() as cur:
            cur.execute(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE NOT (series_id = ANY(%s)))", [ids])
            if cur.fetchone()[0]:  # someone else's samples: delete only ours
                cur.execute(f"DELETE FROM {table} WHERE series_id = ANY(%s)", [ids])
            else:
                cur.execute(f"TRUNCATE {table}")
        with connection.cursor() as cur:
            cur.execute(f"VACUUM ANALYZE {table}")

    def bench_count() -> int:
        return MetricSample.objects.filter(series_id__in=ids).count()

    def copy_run() -> float:
        clear()
        started = time.perf_counter()
        connection.ensure_connection()
        with connection.connection.cursor() as cur, cur.copy(f"COPY {table} (series_id, ts, value) FROM STDIN") as copy:
            for row in copy_rows:
                copy.write_row(row)
        elapsed = time.perf_counter() - started
        assert bench_count() == total
        return elapsed

    client = Client(HTTP_AUTHORIZATION=f"Token {token_key}")

    def api_run() -> tuple[float, int]:
        stored = 0
        started = time.perf_counter()
        for body in payloads:
            response = client.post("/api/v1/metrics/samples/", body, content_type="application/json")
            assert response.status_code == 200, response.content[:500]
            stored += response.json()["stored"]
        return time.perf_counter() - started, stored

    copy_first = copy_run()
    clear()
    api_seconds, api_stored = api_run()
    assert api_stored == total and bench_count() == total, (api_stored, bench_count())
    again_seconds, again_stored = api_run()
    assert again_stored == 0 and bench_count() == total, (again_stored, bench_count())
    copy_second = copy_run()
    clear()

    copy_seconds = min(copy_first, copy_second)  # the faster COPY: the stricter baseline
    copy_rate, api_rate, again_rate = total / copy_seconds, total / api_seconds, total / again_seconds
    ratio, again_ratio = api_rate / copy_rate, again_rate / copy_rate
    verdict = "met" if ratio >= 0.30 and again_ratio >= 0.30 else "NOT met"
    return "\n".join(
        [
            f"{total:,} samples ({n_series} series × {per_series:,} minutes), {len(payloads)} requests of "
            f"{batch:,} rows, PostgreSQL `{connection.settings_dict['NAME']}`, table `{table}` emptied before "
            "each first load.",
            "",
            "| path | seconds | samples/s | vs COPY | rows stored |",
            "| --- | ---: | ---: | ---: | ---: |",
            f"| raw `COPY` (best of 2: {copy_first:.2f} s, {copy_second:.2f} s) | {copy_seconds:.2f} | "
            f"{copy_rate:,.0f} | 100% | {total:,} |",
            f"| `POST /api/v1/metrics/samples/` | {api_seconds:.2f} | {api_rate:,.0f} | {ratio:.0%} | {api_stored:,} |",
            f"| same batches again (idempotent) | {again_seconds:.2f} | {again_rate:,.0f} | {again_ratio:.0%} | "
            f"{again_stored:,} |",
            "",
            f"Goal ≥ 30% of COPY for first load and re-ingest: **{verdict}**.",
        ]
    )
