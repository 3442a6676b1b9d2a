"""`/batches/` with 500 clients × 2 years of daily runs (≈365k runs).

Goal (issue 6): the Monitoring page under 300 ms p95 with a query count that does not
grow with clients. Also measured: the client investigation page over two years, the
periodic alert check, and API ingest of 1,000 runs (first time and repeated).
"""

import statistics
import time
from datetime import UTC, datetime, timedelta
from datetime import time as dtime

NAME = "batches"
PREFIX = "bench-"


def _percentile(values, pct):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def _build(clients: int, days: int, now: datetime) -> float:
    """(Re)create the data set unless it is already there; return seconds spent."""
    import random

    from batches import services
    from batches.models import BatchRun, Client

    existing = Client.objects.filter(slug__startswith=PREFIX).count()
    runs = BatchRun.objects.filter(client__slug__startswith=PREFIX).count()
    if existing == clients and runs >= clients * (days - 10):
        return 0.0
    started = time.perf_counter()
    Client.objects.filter(slug__startswith=PREFIX).delete()
    rng = random.Random(6)
    today = now.date()
    for i in range(clients):
        client = Client.objects.create(
            slug=f"{PREFIX}{i:04d}",
            name=f"Bench client {i:04d}",
            instance_size=rng.choice(["m5.xlarge", "m5.2xlarge", "c5.4xlarge"]),
            average_daily_volume=rng.randint(10_000, 2_000_000),
        )
        base = rng.uniform(5, 120)
        last_day = today - timedelta(days=3 if i % 10 == 0 else 0)  # every 10th client is stale
        batch = []
        for d in range(days):
            day = last_day - timedelta(days=days - 1 - d)
            start = datetime.combine(day, dtime(2, 0), tzinfo=UTC) + timedelta(minutes=i % 120)
            if start > now:
                continue
            minutes = base * (1 + d / days) * rng.lognormvariate(0, 0.08)
            if d == days - 1 and i % 15 == 0:
                minutes *= 3  # a long latest run
            failed = rng.random() < 0.02
            batch.append(
                BatchRun(
                    client=client,
                    run_id=f"{day:%Y%m%d}",
                    run_date=day,
                    started_at=start,
                    finished_at=start + timedelta(minutes=minutes),
                    duration=timedelta(minutes=minutes),
                    status="failed" if failed else "succeeded",
                    records_processed=None if failed else rng.randint(1000, 100000),
                )
            )
        BatchRun.objects.bulk_create(batch, batch_size=5000)
    services.client_stats_refresh(
        client_ids=Client.objects.filter(slug__startswith=PREFIX).values_list("pk", flat=True)
    )
    return time.perf_counter() - started


def _time_get(http, url, repeat):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        assert http.get(url).status_code == 200
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        response = http.get(url)
        timings.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        http.get(url)
    return timings, len(queries)


def run(args) -> str:
    from django.contrib.auth.models import Group, User
    from django.test import Client as HttpClient
    from django.utils import timezone

    from batches import services
    from batches.models import BatchRun, Client

    clients, days, repeat = (50, 60, 10) if args.quick else (500, 730, 40)
    now = timezone.now()
    build_seconds = _build(clients, days, now)
    runs = BatchRun.objects.filter(client__slug__startswith=PREFIX).count()

    user, _ = User.objects.get_or_create(username="bench-batches")
    user.groups.add(Group.objects.get_or_create(name="engineer")[0])
    http = HttpClient()
    http.force_login(user)

    mon, mon_queries = _time_get(http, "/batches/", repeat)
    start = (timezone.localdate() - timedelta(days=729)).isoformat()
    detail, detail_queries = _time_get(http, f"/batches/{PREFIX}0007/?start={start}", repeat)

    began = time.perf_counter()
    services.batch_alerts_check(now=now, notify=False)
    check_ms = (time.perf_counter() - began) * 1000

    rows = [
        {
            "client": "bench_ingest",
            "run_id": f"r{i}",
            "started_at": (now - timedelta(days=1000 - i)).isoformat(),
            "finished_at": (now - timedelta(days=1000 - i) + timedelta(minutes=30)).isoformat(),
            "status": "succeeded",
        }
        for i in range(1000)
    ]
    BatchRun.objects.filter(client__slug="bench_ingest").delete()
    began = time.perf_counter()
    first = http.post("/api/v1/batch-runs/", rows, content_type="application/json")
    ingest_ms = (time.perf_counter() - began) * 1000
    began = time.perf_counter()
    again = http.post("/api/v1/batch-runs/", rows, content_type="application/json")
    again_ms = (time.perf_counter() - began) * 1000
    assert first.status_code == 201 and again.json()["unchanged"] == 1000, (first.content, again.content)

    stale = sum(1 for c in Client.objects.filter(slug__startswith=PREFIX).select_related("latest_run")
                if services.client_state(c, now=now).staleness.stale)  # fmt: skip
    built = f"built in {build_seconds:.0f} s" if build_seconds else "reused from an earlier run"
    lines = [
        f"Data: {clients} clients × {days} days = {runs:,} runs on PostgreSQL "
        f"({built}); "
        f"{stale} stale clients. Timings from Django's test client in one process, {repeat} requests after 3 warm-ups.",
        "",
        "| what | p50 | p95 | max | queries |",
        "| --- | --- | --- | --- | --- |",
        f"| `GET /batches/` (Monitoring) | {statistics.median(mon):.0f} ms | {_percentile(mon, 95):.0f} ms "
        f"| {max(mon):.0f} ms | {mon_queries} |",
        f"| `GET /batches/<client>/` over 2 years | {statistics.median(detail):.0f} ms "
        f"| {_percentile(detail, 95):.0f} ms | {max(detail):.0f} ms | {detail_queries} |",
        "",
        f"Periodic alert check over {clients} clients: {check_ms:.0f} ms. "
        f"`POST /api/v1/batch-runs/` with 1,000 runs: {ingest_ms:.0f} ms new, {again_ms:.0f} ms repeated (idempotent).",
        "",
        f"Goal: Monitoring p95 < 300 ms, queries constant in the number of clients → "
        f"**{'met' if _percentile(mon, 95) < 300 else 'NOT met'}** (p95 {_percentile(mon, 95):.0f} ms, "
        f"{mon_queries} queries: session, user, groups, clients with latest run, open alerts, failed runs).",
    ]
    return "\n".join(lines)
