"""`import_pagerduty` over 10,000 incidents and 30,000 log entries, and the webhook's latency.

Goals (issue 9): the first import < 60 s; a second run < 10 s writing 0 rows; a webhook
delivery handled with p95 < 50 ms. PagerDuty is the local fake the tests use (a real HTTP
server on 127.0.0.1, PagerDuty's JSON and paging rules). Reference figure from the same
run: reading every page and every log (HTTP and JSON only, nothing written), so the cost
of the writes shows apart from the wire.
"""

import json
import statistics
import time
from datetime import UTC, datetime, timedelta

NAME = "pagerduty"
PREFIX = "PBENCH"
START = datetime(2002, 1, 1, tzinfo=UTC)  # out of the way of the other scenarios' data


def _percentile(values, pct):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def _build(fake, count: int) -> int:
    """``count`` incidents over 60 days on 20 services, 3 log entries each; 1 in 50 left open."""
    for n in range(count):
        created = START + timedelta(seconds=n * 60 * 60 * 24 * 60 // count)
        pd_id = f"{PREFIX}{n:05d}"
        service = (f"PBSVC{n % 20:02d}", f"Bench PD service {n % 20:02d}")
        fake.add_incident(pd_id, created=created, service=service, priority=["P3", "P2", "P4", None][n % 4])
        if n % 3 == 0:
            fake.change_priority(pd_id, created + timedelta(minutes=4), "P1")
        else:
            fake.acknowledge(pd_id, created + timedelta(minutes=2))
        if n % 50 == 49:
            fake.acknowledge(pd_id, created + timedelta(minutes=9))
        else:
            fake.resolve(pd_id, created + timedelta(minutes=20 + n % 40))
    return sum(len(entries) for entries in fake.entries.values())


def _serve(count: int, pipe) -> None:
    """The fake PagerDuty in a process of its own, as the real one is elsewhere: its JSON work does not
    compete with the import for this process's interpreter lock."""
    import os

    from tests.intake.conftest import FakePagerDuty

    fake = FakePagerDuty()
    fake.start()
    entries = _build(fake, count)
    pipe.send((fake.url, entries))
    pipe.recv()  # until told to stop
    fake.stop()
    os._exit(0)  # no interpreter clean-up: nothing inherited from the parent is closed from here


def _start_server(count: int):
    import multiprocessing

    from django.db import connections

    connections.close_all()  # a forked child must not share the parent's database sockets
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("fork").Process(target=_serve, args=(count, child), daemon=True)
    process.start()
    url, entries = parent.recv()
    return url, entries, lambda: (parent.send("stop"), process.join(30))


def _rows():
    from incidents.models import Incident, IncidentUpdate

    return Incident.objects.count() + IncidentUpdate.objects.count()


def _clean():
    from incidents.models import Incident
    from intake.models import ImportCursor, ServiceLink, WebhookEvent

    Incident.objects.filter(source="pagerduty", source_ref__startswith=f"pagerduty:{PREFIX}").delete()
    Incident.objects.filter(source="pagerduty", source_ref__startswith="pagerduty:PBWH").delete()
    WebhookEvent.objects.filter(event_id__startswith="bench-").delete()
    ImportCursor.objects.filter(source="pagerduty").delete()
    ServiceLink.objects.filter(external_id__startswith="PBSVC").delete()


def _webhook_latencies(count: int) -> list[float]:
    from django.test import Client
    from django.test.utils import override_settings

    from tests.intake.conftest import event, incident_data, sign

    http = Client()
    timings = []
    kinds = ["incident.triggered", "incident.acknowledged", "incident.priority_updated", "incident.resolved"]
    with override_settings(PAGERDUTY_WEBHOOK_SECRET="bench-secret"):
        for n in range(count):
            pd_id = f"PBWH{n // len(kinds):04d}"
            kind = kinds[n % len(kinds)]
            created = START + timedelta(days=70, minutes=n)
            data = incident_data(pd_id, created=created, priority="P1" if kind.endswith("updated") else "P3")
            if kind == "incident.resolved":
                data["status"] = "resolved"
            body = json.dumps(
                event(kind, data, event_id=f"bench-{n}", occurred=created + timedelta(minutes=n % 4))
            ).encode()
            began = time.perf_counter()
            response = http.post(
                "/api/v1/integrations/pagerduty/",
                data=body,
                content_type="application/json",
                HTTP_X_PAGERDUTY_SIGNATURE=sign(body, "bench-secret"),
            )
            timings.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, response.content
    return timings


def run(args) -> str:
    import logging
    import os

    from django.conf import settings
    from django.db import connection

    from intake import importer
    from integrations.pagerduty import PagerDutyClient
    from tests.intake.conftest import TOKEN

    logging.getLogger("integrations.pagerduty").setLevel(logging.ERROR)
    count, deliveries = (1000, 100) if args.quick else (10_000, 400)
    load = os.getloadavg()[0]
    url, entries, stop = _start_server(count)
    try:
        _clean()
        client = PagerDutyClient(base_url=url, token=TOKEN, page_size=100)
        since, until = START, START + timedelta(days=61)

        began = time.perf_counter()
        read = 0
        for page in client.incident_pages(since=since, until=until):
            for item in page.incidents:
                read += len(client.log_entries(item["id"]))
        wire_s = time.perf_counter() - began
        requests_wire = client.requests_made

        client = PagerDutyClient(base_url=url, token=TOKEN, page_size=100)
        before = _rows()
        began = time.perf_counter()
        first = importer.pagerduty_import(client=client, since=since, until=until, progress=lambda _: None)
        first_s = time.perf_counter() - began
        written = _rows() - before
        requests_first = client.requests_made

        client = PagerDutyClient(base_url=url, token=TOKEN, page_size=100)
        before = _rows()
        began = time.perf_counter()
        second = importer.pagerduty_import(client=client, since=since, until=until, progress=lambda _: None)
        second_s = time.perf_counter() - began
        second_written = _rows() - before
        requests_second = client.requests_made

        hooks = _webhook_latencies(deliveries)
    finally:
        stop()
    engine = connection.vendor
    p95 = _percentile(hooks, 95)
    met = first_s < 60 and second_s < 10 and second_written == 0 and p95 < 50
    workers = settings.PAGERDUTY_IMPORT_WORKERS if engine != "sqlite" else 1
    lines = [
        f"Data: {count:,} PagerDuty incidents on 20 services with {entries:,} log entries (trigger; a P→P1 "
        f"change or an acknowledgement; a resolve, or for 1 in 50 a second acknowledgement and still open), "
        f"served by the tests' fake PagerDuty on 127.0.0.1 (a separate process), 100 a page; database {engine}, "
        f"{workers} import worker(s) (PAGERDUTY_IMPORT_WORKERS); load average before the run {load:.1f}.",
        "",
        "| what | time | requests | rows written |",
        "| --- | --- | --- | --- |",
        f"| reference: read every page and log, write nothing | {wire_s:.1f} s | {requests_wire:,} "
        f"| — ({read:,} entries read) |",
        f"| first import | **{first_s:.1f} s** | {requests_first:,} | {written:,} "
        f"({first.counts.incidents:,} incidents, {first.counts.updates:,} updates) |",
        f"| second import, same range | **{second_s:.1f} s** | {requests_second:,} | **{second_written}** |",
        "",
        f"Webhook: {deliveries} signed deliveries (triggered, acknowledged, priority_updated, resolved for "
        f"{deliveries // 4} incidents) through Django's test client: p50 {statistics.median(hooks):.1f} ms, "
        f"p95 **{p95:.1f} ms**, max {max(hooks):.1f} ms.",
        "",
        f"Goals: first import < 60 s, second < 10 s with 0 rows, webhook p95 < 50 ms → "
        f"**{'met' if met else 'NOT met'}**. "
        f"The second run lists the {count:,} incidents again ({count // 100} pages) but reads the log only of "
        f"the {count // 50} still open ({second.counts.unchanged:,} unchanged).",
    ]
    return "\n".join(lines)
