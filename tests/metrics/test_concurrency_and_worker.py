"""Real concurrency and the real Celery worker: no duplicates, and one bad source delays no other."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from metrics import services, tasks
from metrics.choices import PollStatus, SourceKind
from metrics.models import MetricSample, PollResult
from tests.conftest import wait_until

from .conftest import make_series, make_source, prom_matrix

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def test_two_pollers_on_the_same_window_store_each_sample_once(transactional_db, fake_http):
    """Both pollers fetch at the same moment (the server holds both answers until both asked), then upsert."""
    source = make_source(kind=SourceKind.PROMETHEUS, base_url=fake_http.url)
    series = make_series(source, period_seconds=60)
    both_asked = threading.Barrier(2, timeout=10)
    body = prom_matrix([((NOW - timedelta(seconds=s)).timestamp(), str(s)) for s in (240, 180, 120, 60)])

    def answer(req):
        both_asked.wait()
        import json

        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    fake_http.route("GET", "/api/v1/query_range", answer)
    outcomes, errors = [], []

    def poller():
        try:
            outcomes.append(services.series_poll(series_id=series.pk, now=NOW, final=True))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=poller) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert [o.status for o in outcomes] == [PollStatus.OK, PollStatus.OK]
    assert MetricSample.objects.filter(series=series).count() == 4
    assert sum(o.stored for o in outcomes) == 4  # one poller wrote them; the other found them there


def test_concurrent_pushes_of_overlapping_batches_do_not_deadlock_or_duplicate(transactional_db):
    source = make_source(kind=SourceKind.HTTP_JSON, base_url="http://example.invalid", json_values_path="v")
    series = [make_series(source, key=f"s{i}", label=f"S{i}") for i in range(3)]
    points = [(s.pk, NOW + timedelta(minutes=m), float(m)) for m in range(300) for s in series]
    errors = []

    def push(rows):
        try:
            services.samples_upsert(points=rows)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=push, args=(rows,)) for rows in (points, list(reversed(points)), points[::2])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert MetricSample.objects.count() == len(points)


@pytest.mark.worker
def test_the_worker_polls_every_series_and_a_failing_source_delays_no_other(worker, fake_http):
    broken = make_source(name="broken-prom", kind=SourceKind.PROMETHEUS, base_url=fake_http.url + "/broken")
    healthy = make_source(name="prom", kind=SourceKind.PROMETHEUS, base_url=fake_http.url)
    bad = make_series(broken, key="a-broken", label="Broken")
    good = make_series(healthy, key="b-good", label="Good")
    fake_http.json_route("/broken/api/v1/query_range", {"status": "error", "error": "down"}, status=503)

    def answer(req):
        import json

        end = float(req.query["end"])
        body = prom_matrix([(end - 60, "10"), (end, "11")])
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    fake_http.route("GET", "/api/v1/query_range", answer)
    tasks.poll_all_series.delay()
    wait_until(lambda: PollResult.objects.filter(series=good, status=PollStatus.OK).exists(), message="good polled")
    assert sorted(MetricSample.objects.filter(series=good).values_list("value", flat=True)) == [10, 11]
    # the broken source was asked, and is being retried with backoff rather than holding the worker
    assert fake_http.received("/broken/api/v1/query_range")
    assert not PollResult.objects.filter(series=bad).exists()


def test_the_same_alert_notification_delivered_four_times_at_once_opens_one_incident(transactional_db):
    """Alertmanager retries a delivery that timed out while the first is still being handled."""
    from incidents.models import Incident, Service
    from integrations.alertmanager import notification_parse
    from metrics.services import alertmanager_notify

    Service.objects.create(slug="web", name="Web")
    now = datetime.now(UTC)

    def notification(status, **times):
        alert = {"status": status, "labels": {"alertname": "Down", "service": "web", "severity": "critical"}}
        alert.update({key: value.isoformat() for key, value in times.items()})
        return notification_parse(
            {"version": "4", "groupKey": '{}:{alertname="Down"}', "status": status, "alerts": [alert]}
        )

    # The group is known from an earlier outage, so the deliveries race on its row, not on creating it.
    earlier = notification("resolved", startsAt=now - timedelta(hours=2), endsAt=now - timedelta(hours=1))
    assert alertmanager_notify(notification=earlier, by=None).action == "unchanged"
    firing = notification("firing", startsAt=now - timedelta(minutes=5))
    start = threading.Barrier(4, timeout=10)
    actions, errors = [], []

    def deliver():
        try:
            start.wait()
            actions.append(alertmanager_notify(notification=firing, by=None).action)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert sorted(actions) == ["opened", "unchanged", "unchanged", "unchanged"]
    assert Incident.objects.count() == 1
