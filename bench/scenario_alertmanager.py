"""Alertmanager webhook: ``POST /api/v1/integrations/alertmanager/`` latency, no outbound I/O.

Goal (issue "Incidents from the tools that already see them"): a notification is handled
with p95 under 50 ms and the request opens no connection to anything but the database
(and the broker, to queue the emails after commit). Each alert group goes through what
Alertmanager sends in a real outage: the first firing notification (opens an incident for
a service with 20 subscribers, so 20 delivery rows), the same notification again (a
retried delivery), a re-notification with one more alert of higher severity (a severity
update), and the resolution. Requests go through Django's test client with a Bearer
token: middleware, authentication, parsing, the writes; the JSON is encoded beforehand.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

NAME = "Alertmanager webhook: notifications to incidents (metrics)"
PREFIX = "bench-am-"


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))]


def _go(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def run(args) -> str:
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.test import Client

    from config.celery import app
    from incidents.models import Delivery, Incident, Service, Subscriber
    from metrics.models import AlertGroup

    groups = 30 if args.quick else 200
    queue = f"bench-alertmanager-{os.getpid()}"
    app.conf.task_default_queue = queue
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]

    service, _ = Service.objects.get_or_create(slug=f"{PREFIX}web", defaults={"name": "Bench Alertmanager"})
    for n in range(20):
        Subscriber.objects.get_or_create(service=service, email=f"oncall{n:02d}@bench.invalid")
    user, _ = User.objects.get_or_create(username=f"{PREFIX}bot")
    user.groups.add(Group.objects.get_or_create(name="helpdesk")[0])
    from accounts.services import token_create

    token = token_create(user=user, name="bench")[1]
    # Leftovers of an interrupted run.
    Incident.objects.filter(source="alertmanager", services=service).delete()
    AlertGroup.objects.filter(group_key__contains=f'service="{service.slug}"').delete()
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    run_id = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)

    def alert(name: str, severity: str, starts: datetime, ends: datetime | None = None) -> dict:
        return {
            "status": "resolved" if ends else "firing",
            "labels": {"alertname": name, "service": service.slug, "severity": severity},
            "annotations": {"summary": f"{name} on the bench"},
            "startsAt": _go(starts),
            "endsAt": _go(ends) if ends else "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.bench.example.com:9090/graph?g0.expr=up+%3D%3D+0",
            "fingerprint": f"{run_id}{name}",
        }

    def body(key: str, *alerts: dict) -> bytes:
        status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
        return json.dumps(
            {
                "version": "4",
                "groupKey": key,
                "truncatedAlerts": 0,
                "status": status,
                "receiver": "beacon",
                "groupLabels": {"service": service.slug},
                "commonLabels": {"service": service.slug},
                "commonAnnotations": {},
                "externalURL": "http://alertmanager.bench.example.com:9093",
                "alerts": list(alerts),
            }
        ).encode()

    plans = []
    for g in range(groups):
        key = f'{{}}:{{service="{service.slug}",run="{run_id}",group="{g}"}}'
        start = now - timedelta(minutes=30)
        slow, down = alert(f"Slow{g}", "warning", start), alert(f"Down{g}", "critical", now - timedelta(minutes=10))
        firing = body(key, slow)
        plans.append(
            [
                ("open", firing),
                ("repeat", firing),
                ("severity", body(key, slow, down)),
                (
                    "resolve",
                    body(
                        key,
                        alert(f"Slow{g}", "warning", start, now - timedelta(minutes=2)),
                        alert(f"Down{g}", "critical", now - timedelta(minutes=10), now - timedelta(minutes=1)),
                    ),
                ),
            ]
        )

    db = connection.settings_dict
    allowed = {int(db.get("PORT") or 5432)} | ({6379} if settings.REDIS_URL else set())
    outbound: list = []
    real_connect = socket.socket.connect

    def watching(sock, address):
        if not (isinstance(address, tuple) and address[1] in allowed):
            outbound.append(address)
        return real_connect(sock, address)

    timings: dict[str, list[float]] = {kind: [] for kind, _ in plans[0]}
    expected = {"open": "opened", "repeat": "unchanged", "severity": "updated", "resolve": "resolved"}
    client.post("/api/v1/integrations/alertmanager/", plans[0][0][1], content_type="application/json")  # warm-up
    socket.socket.connect = watching
    try:
        for steps in plans[1:]:
            for kind, payload in steps:
                started = time.perf_counter()
                response = client.post("/api/v1/integrations/alertmanager/", payload, content_type="application/json")
                timings[kind].append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.content[:500]
                assert response.json()["action"] == expected[kind], (kind, response.json())
    finally:
        socket.socket.connect = real_connect

    ours = AlertGroup.objects.filter(group_key__contains=f'run="{run_id}"')
    incidents = Incident.objects.filter(pk__in=ours.values("incident"))
    deliveries = Delivery.objects.filter(update__incident__in=incidents).count()
    count = incidents.count()
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(queue)
    Incident.objects.filter(pk__in=list(incidents.values_list("pk", flat=True))).delete()
    ours.delete()

    everything = [t for values in timings.values() for t in values]
    p95 = _percentile(everything, 95)
    verdict = "met" if p95 < 50 and not outbound else "NOT met"
    rows = [
        f"| {kind} | {len(values)} | {statistics.median(values):.1f} | {_percentile(values, 95):.1f} | "
        f"{max(values):.1f} |"
        for kind, values in timings.items()
    ]
    broker = "Redis" if settings.REDIS_URL else "embedded filesystem broker"
    return "\n".join(
        [
            f"{groups - 1} alert groups × 4 notifications ({len(everything)} requests) after one warm-up group; "
            f"PostgreSQL `{db['NAME']}`, {broker}; a service with 20 subscribers.",
            "",
            "| notification | requests | p50 ms | p95 ms | max ms |",
            "| --- | ---: | ---: | ---: | ---: |",
            *rows,
            f"| **all** | {len(everything)} | {statistics.median(everything):.1f} | {p95:.1f} | "
            f"{max(everything):.1f} |",
            "",
            f"{count} incidents (one left open by the warm-up), {deliveries} delivery rows queued; "
            f"connections other than the database and broker during the requests: {len(outbound)}.",
            "",
            f"Goal p95 < 50 ms with no outbound I/O: **{verdict}**.",
        ]
    )
