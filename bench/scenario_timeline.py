"""Timeline API over years of history: 100,000 incidents over 3 years across 200 services.

Measures ``GET /api/v1/timeline/`` for the latest 90 days through the full Django stack
(test client: middleware, session auth, roles, JSON rendering) side by side with the bare
SQL query that fetches the same rows (incidents in range, engineer, service slugs), in the
same run and interleaved, so machine noise hits both alike. Goal (issue 5): p95 of the
API at most 3x the bare SQL's, at most 10 queries. Also times `/` for the default week.
"""

import random
import statistics
import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incidents.models import Incident, Service

NAME = "Timeline API over 100,000 incidents (dashboard)"
PREFIX = "bench-tl:"
SERVICES = 200
YEARS = 3
RANGE_DAYS = 90

BARE_SQL = """
SELECT i.id, i.ticket, i.title, i.severity, i.status, u.username, i.started_at, i.resolved_at,
       i.description, i.external_url, array_agg(s.slug ORDER BY s.name) AS services
  FROM incidents_incident i
  LEFT JOIN auth_user u ON u.id = i.engineer_id
  LEFT JOIN incidents_incident_services x ON x.incident_id = i.id
  LEFT JOIN incidents_service s ON s.id = x.service_id
 WHERE i.started_at < %s AND (i.resolved_at IS NULL OR i.resolved_at >= %s)
 GROUP BY i.id, u.username
 ORDER BY i.started_at DESC, i.id DESC
 LIMIT %s
"""


def _seed(count: int, now, rng: random.Random) -> None:
    """Bulk insert straight into the tables: the point is reading, not the write path."""
    Incident.objects.filter(source_ref__startswith=PREFIX).delete()
    Service.objects.filter(slug__startswith="bench-tl-").delete()
    User = get_user_model()
    engineers = []
    group = Group.objects.get_or_create(name="engineer")[0]
    for n in range(20):
        user, _ = User.objects.get_or_create(
            username=f"bench-tl-eng{n}", defaults={"first_name": "Bench", "last_name": f"Engineer {n}"}
        )
        user.groups.add(group)
        engineers.append(user)
    services = Service.objects.bulk_create(
        [Service(slug=f"bench-tl-{n:03d}", name=f"Bench service {n:03d}") for n in range(SERVICES)]
    )
    span = YEARS * 365 * 86400
    through = Incident.services.through
    batch = 5000
    for first in range(0, count, batch):
        rows = []
        for i in range(first, min(first + batch, count)):
            started = now - timedelta(seconds=rng.uniform(0, span))
            minutes = min(rng.lognormvariate(4.2, 1.1), 4 * 24 * 60)  # median ~1 h, up to 4 days
            resolved = started + timedelta(minutes=minutes)
            ongoing = resolved > now or rng.random() < 0.0005
            rows.append(
                Incident(
                    ticket=f"TL-{i:07d}",
                    title=f"Bench incident {i}: elevated errors",
                    description="Customers saw errors on checkout; the on-call engineer rolled back the deploy.",
                    severity=rng.choices([1, 2, 3, 4], weights=[1, 3, 5, 3])[0],
                    status="investigating" if ongoing else "resolved",
                    engineer=rng.choice(engineers) if rng.random() < 0.9 else None,
                    external_url=f"https://tickets.example.com/browse/OPS-{i}",
                    started_at=started,
                    resolved_at=None if ongoing else resolved,
                    source_ref=f"{PREFIX}{i}",
                )
            )
        with transaction.atomic():
            created = Incident.objects.bulk_create(rows)
            through.objects.bulk_create(
                [
                    through(incident_id=incident.pk, service_id=service.pk)
                    for incident in created
                    for service in rng.sample(services, k=rng.choice([1, 1, 1, 2, 3]))
                ]
            )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE incidents_incident; ANALYZE incidents_incident_services;")


def _p(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def run(args) -> str:
    count = 10_000 if args.quick else 100_000
    iterations = 10 if args.quick else 40
    now = timezone.now()
    rng = random.Random(5)
    existing = Incident.objects.filter(source_ref__startswith=PREFIX).count()
    t0 = time.perf_counter()
    if existing != count:
        _seed(count, now, rng)
    seed_seconds = time.perf_counter() - t0

    User = get_user_model()
    leader, _ = User.objects.get_or_create(username="bench-tl-leader")
    leader.groups.add(Group.objects.get_or_create(name="leadership")[0])
    client = Client()
    client.force_login(leader)

    end = timezone.now()
    start = end - timedelta(days=RANGE_DAYS)
    url = "/api/v1/timeline/"
    params = {"start": start.isoformat(), "end": end.isoformat()}
    from django.conf import settings

    limit = settings.TIMELINE_MAX_ROWS + 1

    def bare():
        with connection.cursor() as cursor:
            cursor.execute(BARE_SQL, [end, start, limit])
            return cursor.fetchall()

    def api():
        response = client.get(url, params)
        assert response.status_code == 200, response.content[:500]
        return response

    # Warm up both (connection, plans, caches), and check they fetch the same rows.
    sql_rows = bare()
    body = api().json()
    assert body["count"] == len(sql_rows[: limit - 1]), (body["count"], len(sql_rows))
    assert {r["ticket"] for r in body["results"]} == {row[1] for row in sql_rows[: limit - 1]}
    connection.queries_log.clear()
    with CaptureQueriesContext(connection) as queries:
        api()
    api_queries = len(queries)

    sql_times, api_times = [], []
    for _ in range(iterations):
        t = time.perf_counter()
        bare()
        sql_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        api()
        api_times.append(time.perf_counter() - t)

    page_times = []
    connection.queries_log.clear()  # the log is capped; a full one would count 0 new queries
    with CaptureQueriesContext(connection) as captured:
        client.get("/")
    page_queries = len(captured)  # read now: every request start clears the query log
    for _ in range(max(5, iterations // 4)):
        t = time.perf_counter()
        response = client.get("/")
        assert response.status_code == 200
        page_times.append(time.perf_counter() - t)

    sql_p95, api_p95 = _p(sql_times, 0.95), _p(api_times, 0.95)
    ratio = api_p95 / sql_p95
    ok = ratio <= 3 and api_queries <= 10
    ms = lambda s: f"{s * 1000:.1f} ms"  # noqa: E731
    total = Incident.objects.count()
    return "\n".join(
        [
            f"{total:,} incidents in the database ({count:,} bench incidents over {YEARS} years, "
            f"{SERVICES} services; {'reused' if existing == count else f'seeded in {seed_seconds:.0f} s'}), "
            f"PostgreSQL, {iterations} interleaved runs. Range: the latest {RANGE_DAYS} days, "
            f"**{body['count']:,} incidents** returned{' (capped)' if body['truncated'] else ''}.",
            "",
            "| measurement | p50 | p95 |",
            "| --- | --- | --- |",
            f"| bare SQL (same rows: incidents, engineer, service slugs) | {ms(_p(sql_times, 0.5))} | {ms(sql_p95)} |",
            f"| `GET /api/v1/timeline/` (full stack, JSON) | {ms(_p(api_times, 0.5))} | {ms(api_p95)} |",
            f"| `/` dashboard, default 7 days ({page_queries} queries) | {ms(_p(page_times, 0.5))} | "
            f"{ms(_p(page_times, 0.95))} |",
            "",
            f"API p95 / SQL p95 = **{ratio:.2f}x** (goal ≤ 3x); API queries: **{api_queries}** (goal ≤ 10, "
            f"incl. session and user lookups). Mean API time {ms(statistics.mean(api_times))}. "
            f"Result: **{'met' if ok else 'NOT met'}**.",
        ]
    )
