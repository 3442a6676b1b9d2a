"""A series past its critical threshold for N polls in a row opens an incident; N good polls resolve it.

Polls go through the real polling service against a local server speaking Prometheus'
``query_range`` JSON; each poll's ``now`` moves one minute on and the source answers with
one point inside the window.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from incidents.models import Delivery, Incident
from incidents.services import incident_open
from metrics import services
from metrics.choices import PollStatus, SourceKind, ThresholdDirection
from metrics.models import PollResult, SeriesAlarm

from .conftest import make_series, make_source, prom_matrix

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
BAD, GOOD = 900.0, 120.0
NO_DATA = None


@pytest.fixture
def latency(db, fake_http, services):
    source = make_source(kind=SourceKind.PROMETHEUS, base_url=fake_http.url)
    return make_series(
        source,
        service=services["web"],
        warning_threshold=300,
        critical_threshold=500,
        opens_incidents=True,
        incident_after_polls=3,
    )


class Poller:
    """Answers each poll with the next value (None: an empty matrix) and polls at minute ``i``."""

    def __init__(self, series, fake_http):
        self.series = series
        self.minute = 0
        self.value = None
        fake_http.route("GET", "/api/v1/query_range", self._answer)

    def _answer(self, req):
        values = None if self.value is None else [(float(req.query["end"]) - 30, str(self.value))]
        return 200, {"Content-Type": "application/json"}, json.dumps(prom_matrix(values)).encode()

    def poll(self, *values):
        for value in values:
            self.value = value
            self.minute += 1
            services.series_poll(series_id=self.series.pk, now=self.at(self.minute), final=True)

    @staticmethod
    def at(minute: int) -> datetime:
        return NOW + timedelta(minutes=minute)


@pytest.fixture
def poller(latency, fake_http):
    return Poller(latency, fake_http)


def point_time(minute: int) -> datetime:
    return Poller.at(minute) - timedelta(seconds=30)


def test_n_polls_in_a_row_past_the_critical_threshold_open_an_incident(poller, services, settings):
    settings.METRICS_THRESHOLD_SEVERITY = 2
    poller.poll(BAD, BAD)
    assert not Incident.objects.exists()
    poller.poll(BAD)
    incident = Incident.objects.get()
    assert incident.source == "threshold"
    assert incident.severity == 2 and incident.is_open
    assert incident.title == "API Latency past its critical threshold"
    assert list(incident.services.all()) == [services["web"]]
    assert incident.started_at == point_time(1)  # the first bad poll, not the N-th
    assert "900ms, above its critical threshold 500ms" in incident.description
    # Subscribers of the service are told, as for a typed incident.
    # The worker writes one delivery row per recipient of the opening update (expansion
    # left the request); run that step as the worker would.
    from incidents.notifications import recipients_expand

    recipients_expand(incident.updates.get().pk)
    assert sorted(Delivery.objects.values_list("email", flat=True)) == [
        "oncall-web@example.com",
        "support-web@example.com",
    ]


def test_more_bad_polls_do_not_open_a_second_incident(poller):
    poller.poll(BAD, BAD, BAD, BAD, BAD)
    assert Incident.objects.count() == 1


def test_a_value_flapping_around_the_threshold_opens_nothing(poller):
    poller.poll(BAD, BAD, GOOD, BAD, BAD, GOOD, BAD)
    assert not Incident.objects.exists()
    assert SeriesAlarm.objects.get().bad_polls == 1


def test_a_warning_is_not_a_bad_poll(poller):
    poller.poll(400, 400, 400)
    assert not Incident.objects.exists()


def test_n_good_polls_resolve_it_and_fewer_do_not(poller):
    poller.poll(BAD, BAD, BAD, GOOD, GOOD)
    incident = Incident.objects.get()
    assert incident.is_open
    poller.poll(BAD, GOOD, GOOD)  # a bad poll starts the count again
    incident.refresh_from_db()
    assert incident.is_open
    poller.poll(GOOD)
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert incident.resolved_at == point_time(7)  # the first of the three good polls
    assert "back within its critical threshold" in incident.updates.last().message


def test_no_data_polls_count_neither_as_bad_nor_as_good(poller):
    poller.poll(BAD, NO_DATA, BAD, NO_DATA, NO_DATA)
    assert PollResult.objects.filter(status=PollStatus.NO_DATA).count() == 3
    assert not Incident.objects.exists()
    poller.poll(BAD)
    incident = Incident.objects.get()
    poller.poll(GOOD, NO_DATA, GOOD, NO_DATA)
    incident.refresh_from_db()
    assert incident.is_open
    poller.poll(GOOD)
    incident.refresh_from_db()
    assert incident.status == "resolved"


def test_a_poll_with_no_newer_point_counts_once(latency, fake_http):
    fixed = (NOW - timedelta(minutes=2)).timestamp()
    fake_http.json_route("/api/v1/query_range", prom_matrix([(fixed, str(BAD))]))
    for minute in range(5):
        services.series_poll(series_id=latency.pk, now=NOW + timedelta(minutes=minute), final=True)
    assert SeriesAlarm.objects.get().bad_polls == 1
    assert not Incident.objects.exists()


def test_with_the_switch_off_nothing_is_opened(poller, latency):
    latency.opens_incidents = False
    latency.save()
    poller.poll(BAD, BAD, BAD, BAD)
    assert not Incident.objects.exists()
    assert not SeriesAlarm.objects.exists()


def test_n_is_per_series(poller, latency):
    latency.incident_after_polls = 1
    latency.save()
    poller.poll(BAD)
    assert Incident.objects.get().is_open
    poller.poll(GOOD)
    assert Incident.objects.get().status == "resolved"


def test_below_thresholds_are_bad_when_the_value_falls(poller, latency):
    latency.threshold_direction = ThresholdDirection.BELOW
    latency.critical_threshold, latency.warning_threshold = 2, 3
    latency.save()
    poller.poll(1, 1, 1)
    assert Incident.objects.get().is_open


def test_it_joins_an_incident_already_open_for_the_service_and_leaves_closing_to_its_owner(
    poller, services, engineer_user
):
    typed = incident_open(
        title="Checkout slow",
        severity=3,
        services=[services["web"]],
        by=engineer_user,
        started_at=NOW - timedelta(hours=1),
        now=NOW,
    )
    mails = Delivery.objects.count()
    poller.poll(BAD, BAD, BAD)
    assert Incident.objects.count() == 1
    joined = typed.updates.last()
    assert "above its critical threshold" in joined.message
    assert SeriesAlarm.objects.get().incident == typed
    poller.poll(GOOD, GOOD, GOOD)
    typed.refresh_from_db()
    assert typed.is_open
    assert "back within its critical threshold" in typed.updates.last().message
    assert Delivery.objects.count() == mails  # notes on someone else's incident email nobody


def test_a_threshold_incident_closed_by_hand_is_left_closed(poller, engineer_user):
    from incidents.services import incident_resolve

    poller.poll(BAD, BAD, BAD)
    incident = Incident.objects.get()
    incident_resolve(incident=incident, message="Known slowness", by=engineer_user, now=Poller.at(4))
    poller.poll(BAD, BAD, GOOD, GOOD, GOOD)
    assert Incident.objects.count() == 1
    poller.poll(BAD, BAD, BAD)  # a new breach after recovery is a new incident
    assert Incident.objects.filter(status="investigating").count() == 1


def test_a_dry_run_poll_changes_no_alarm(latency, fake_http):
    fake_http.json_route("/api/v1/query_range", prom_matrix([((NOW - timedelta(seconds=30)).timestamp(), "900")]))
    latency.incident_after_polls = 1
    latency.save()
    services.series_poll(series_id=latency.pk, now=NOW, final=True, dry_run=True)
    assert not SeriesAlarm.objects.exists() and not Incident.objects.exists()


def test_switching_it_on_needs_a_critical_threshold_and_a_service(latency):
    latency.critical_threshold = None
    latency.service = None
    with pytest.raises(ValidationError) as caught:
        latency.full_clean()
    assert {"critical_threshold", "service"} <= set(caught.value.message_dict)


def test_the_switch_and_n_are_in_the_admin(client, admin_user, latency):
    client.force_login(admin_user)
    page = client.get(f"/admin/metrics/metricseries/{latency.pk}/change/").content.decode()
    assert 'name="opens_incidents"' in page and 'name="incident_after_polls"' in page


def test_the_incident_page_says_a_metric_threshold_opened_it(poller, client, helpdesk_user):
    poller.poll(BAD, BAD, BAD)
    client.force_login(helpdesk_user)
    page = client.get(Incident.objects.get().get_absolute_url()).content.decode()
    assert "Metric threshold" in page
