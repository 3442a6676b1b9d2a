"""`POST /api/v1/integrations/alertmanager/`: Alertmanager / Grafana notifications become incidents."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from rest_framework.test import APIClient

from incidents.models import Delivery, Incident, IncidentUpdate, Service
from metrics.models import AlertGroup
from tests.conftest import _user, api_key

URL = "/api/v1/integrations/alertmanager/"
GROUP = '{}/{severity=~"critical|warning"}:{alertname="HighErrorRate"}'


def go_time(moment) -> str:
    """As Go writes it: UTC, nanoseconds, Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def ago(minutes: float):
    return (timezone.now() - timedelta(minutes=minutes)).astimezone(timezone.get_fixed_timezone(0))


def alert(
    name="HighErrorRate", *, status="firing", severity="critical", service="web", starts=None, ends=None, fp=None
):
    labels = {"alertname": name}
    if severity is not None:
        labels["severity"] = severity
    if service is not None:
        labels["service"] = service
    return {
        "status": status,
        "labels": labels,
        "annotations": {"summary": f"{name} on {service}"},
        "startsAt": go_time(starts or ago(10)),
        "endsAt": go_time(ends) if ends else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
        "fingerprint": fp or f"fp-{name}-{service}",
    }


def payload(*alerts, group_key=GROUP, summary=None, **extra):
    alerts = list(alerts) or [alert()]
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    name = alerts[0]["labels"]["alertname"] if isinstance(alerts[0].get("labels"), dict) else "x"
    body = {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "beacon",
        "groupLabels": {"alertname": name},
        "commonLabels": {"alertname": name},
        "commonAnnotations": {"summary": summary} if summary else {},
        "externalURL": "http://alertmanager.example.com:9093",
        "alerts": alerts,
    }
    return {**body, **extra}


@pytest.fixture
def robot(db):
    """The account whose API token Alertmanager sends: a help-desk role may file incidents."""
    return _user("alertmanager-bot", "helpdesk")


@pytest.fixture
def api(robot):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key(robot)}")
    return client


def post(api, body):
    return api.post(URL, json.dumps(body), content_type="application/json")


def counts():
    return (
        Incident.objects.count(),
        IncidentUpdate.objects.count(),
        Delivery.objects.count(),
        Service.objects.count(),
        AlertGroup.objects.count(),
    )


def test_a_firing_alert_opens_an_incident_that_says_where_it_came_from(
    api, robot, services, django_capture_on_commit_callbacks
):
    starts = ago(12)
    with django_capture_on_commit_callbacks() as queued:
        response = post(api, payload(alert(starts=starts), summary="Checkout returns 5xx"))
    assert response.status_code == 200, response.content
    assert response.json()["action"] == "opened"
    incident = Incident.objects.get()
    assert response.json()["incident"] == incident.ticket
    assert incident.title == "Checkout returns 5xx"
    assert incident.severity == 1 and incident.is_open
    assert incident.source == "alertmanager"
    assert incident.source_ref.startswith("alertmanager:")
    assert incident.external_url.startswith("http://prometheus.example.com:9090/graph")
    assert list(incident.services.values_list("slug", flat=True)) == ["web"]
    assert abs((incident.started_at - starts).total_seconds()) < 0.001
    assert incident.reported_by == robot
    # Subscribers hear about it like a typed incident: deliveries recorded, sending queued on commit.
    # The worker writes one delivery row per recipient of the opening update (expansion
    # left the request); run that step as the worker would.
    from incidents.notifications import recipients_expand

    recipients_expand(incident.updates.get().pk)
    assert sorted(Delivery.objects.values_list("email", flat=True)) == [
        "oncall-web@example.com",
        "support-web@example.com",
    ]
    assert len(queued) >= 1


def test_the_title_falls_back_to_the_alert_name_without_a_summary(api, services):
    body = payload(alert("DiskFull"))
    body["alerts"][0]["annotations"] = {}
    assert post(api, body).status_code == 200
    assert Incident.objects.get().title == "DiskFull"


def test_when_every_alert_is_resolved_the_incident_is_resolved_at_the_last_end(api, services):
    starts = ago(30)
    post(api, payload(alert("A", starts=starts), alert("B", starts=starts, severity="warning")))
    one_ended = ago(20)
    response = post(
        api,
        payload(
            alert("A", status="resolved", starts=starts, ends=one_ended),
            alert("B", starts=starts, severity="warning"),
        ),
    )
    assert response.json()["action"] == "updated"  # the worst alert ended: severity falls to 3
    incident = Incident.objects.get()
    assert incident.is_open and incident.severity == 3
    lowered = incident.updates.filter(sets_severity=3).last()
    assert abs((lowered.effective_at - one_ended).total_seconds()) < 0.001

    last_ended = ago(5)
    response = post(
        api,
        payload(
            alert("A", status="resolved", starts=starts, ends=one_ended),
            alert("B", status="resolved", starts=starts, ends=last_ended, severity="warning"),
        ),
    )
    assert response.json()["action"] == "resolved"
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert abs((incident.resolved_at - last_ended).total_seconds()) < 0.001


def test_the_same_notification_delivered_twice_changes_nothing(api, services):
    body = payload(alert())
    first = post(api, body)
    before = counts()
    again = post(api, body)
    assert again.status_code == 200
    assert again.json() == {**first.json(), "action": "unchanged", "duplicate": True}
    assert counts() == before


def test_re_notification_of_a_firing_group_never_opens_a_second_incident(api, services):
    starts = ago(60)
    post(api, payload(alert("A", starts=starts)))
    # repeat_interval: the same alerts again; then the group grows by one alert of the same severity.
    post(api, payload(alert("A", starts=starts), receiver="beacon-repeat"))
    response = post(api, payload(alert("A", starts=starts), alert("C", starts=ago(2))))
    assert response.json()["action"] == "unchanged"
    assert Incident.objects.count() == 1


def test_a_group_that_fires_again_after_resolving_opens_a_new_incident(api, services):
    first_start = ago(50)
    post(api, payload(alert(starts=first_start)))
    post(api, payload(alert(status="resolved", starts=first_start, ends=ago(40))))
    response = post(api, payload(alert(starts=ago(10))))
    assert response.json()["action"] == "opened"
    old, new = Incident.objects.order_by("pk")
    assert old.status == "resolved" and new.is_open
    assert response.json()["incident"] == new.ticket
    assert old.source_ref != new.source_ref


def test_a_late_duplicate_of_the_firing_notification_does_not_reopen_anything(api, services):
    starts = ago(50)
    firing = payload(alert(starts=starts))
    post(api, firing)
    post(api, payload(alert(status="resolved", starts=starts, ends=ago(40))))
    before = counts()
    response = post(api, {**firing, "receiver": "beacon-retry"})  # not byte-identical, same alert
    assert response.json()["action"] == "unchanged"
    assert counts() == before
    assert Incident.objects.get().status == "resolved"


def test_a_worse_alert_raises_severity_from_the_time_it_started(api, services):
    opened_at = ago(30)
    post(api, payload(alert("Slow", severity="warning", starts=opened_at)))
    worse_start = ago(10)
    response = post(
        api, payload(alert("Slow", severity="warning", starts=opened_at), alert("Down", starts=worse_start))
    )
    assert response.json()["action"] == "updated" and response.json()["severity"] == 1
    update = Incident.objects.get().updates.get(sets_severity=1, kind="updated")
    assert abs((update.effective_at - worse_start).total_seconds()) < 0.001
    assert update.changes["severity"] == [3, 1]


@pytest.mark.parametrize(
    ("label", "severity"),
    [("critical", 1), ("major", 2), ("error", 2), ("warning", 3), ("WARNING", 3), ("info", 4), (None, 4)],
)
def test_the_severity_label_maps_to_incident_severity(api, services, label, severity):
    post(api, payload(alert(severity=label)))
    assert Incident.objects.get().severity == severity


def test_the_severity_mapping_is_a_setting(api, services, settings):
    settings.ALERTMANAGER_SEVERITY = {"p1": 1, "p2": 2, "*": 3}
    post(api, payload(alert("A", severity="p2"), group_key="g1"))
    post(api, payload(alert("B", severity="critical"), group_key="g2"))
    assert list(Incident.objects.order_by("pk").values_list("severity", flat=True)) == [2, 3]


def test_the_severity_setting_is_read_from_the_environment_and_refuses_nonsense(monkeypatch):
    from config.settings import _alert_severities

    monkeypatch.setenv("ALERTMANAGER_SEVERITY", "page=1, ticket=3")
    assert _alert_severities("ALERTMANAGER_SEVERITY", "") == {"page": 1, "ticket": 3, "*": 4}
    monkeypatch.setenv("ALERTMANAGER_SEVERITY", "page=5")
    with pytest.raises(ImproperlyConfigured, match="ALERTMANAGER_SEVERITY"):
        _alert_severities("ALERTMANAGER_SEVERITY", "")


def test_an_unknown_service_slug_creates_the_service_rather_than_losing_the_outage(api, services):
    post(api, payload(alert(service="search-api")))
    created = Service.objects.get(slug="search-api")
    assert list(Incident.objects.get().services.all()) == [created]


def test_alerts_naming_several_services_affect_them_all(api, services):
    post(api, payload(alert("A", service="web"), alert("B", service="payments")))
    assert sorted(Incident.objects.get().services.values_list("slug", flat=True)) == ["payments", "web"]


def test_a_link_django_would_refuse_falls_back_to_the_external_url(api, services):
    body = payload(alert())
    body["alerts"][0]["generatorURL"] = "http://prometheus:9090/graph?g0.expr=up"  # host without a dot
    post(api, body)
    assert Incident.objects.get().external_url == "http://alertmanager.example.com:9093"


def test_a_link_that_is_not_http_is_dropped(api, services):
    body = payload(alert(), externalURL="javascript:alert(1)")
    body["alerts"][0]["generatorURL"] = "ftp://example.com/x"
    post(api, body)
    assert Incident.objects.get().external_url == ""


@pytest.mark.parametrize("keyword", ["Bearer", "Token", "bearer"])
def test_both_token_keywords_are_accepted(robot, services, keyword):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {api_key(robot)}")
    assert post(client, payload()).status_code == 200


def test_bearer_works_on_the_rest_of_the_api_too(engineer_user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key(engineer_user)}")
    assert client.get("/api/v1/metrics/series/").status_code == 200


@pytest.mark.parametrize(
    "header", [None, "Bearer not-a-real-token", "Bearer", "Basic dXNlcjpwYXNz", "Bearer two tokens"]
)
def test_a_missing_or_bad_token_is_401_and_writes_nothing(services, header):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    before = counts()
    response = post(client, payload())
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert "detail" in response.json()
    assert counts() == before


def test_a_session_login_is_not_enough(client, helpdesk_user, services):
    client.force_login(helpdesk_user)
    response = client.post(URL, json.dumps(payload()), content_type="application/json")
    assert response.status_code == 401


def test_a_token_without_a_role_that_may_file_incidents_is_403(leader_user, services):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key(leader_user)}")
    assert post(client, payload()).status_code == 403
    assert not Incident.objects.exists()


def _without(body, key):
    return {k: v for k, v in body.items() if k != key}


def _alert_with(**fields):
    return payload(alert() | fields)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("{not json", "body"),
        ("[1, 2]", "body"),
        (_without(payload(), "groupKey"), "groupKey"),
        (payload(groupKey=""), "groupKey"),
        (payload(version="3"), "version"),
        (payload(status="pending"), "status"),
        (payload(alerts=[]), "alerts"),
        (payload(alerts="x"), "alerts"),
        (payload(alerts=["x"]), "alerts[0]"),
        (payload(truncatedAlerts=-1), "truncatedAlerts"),
        (payload(commonLabels={"a": 1}), "commonLabels"),
        (_alert_with(startsAt="yesterday"), "alerts[0].startsAt"),
        (_alert_with(startsAt=None), "alerts[0].startsAt"),
        (_alert_with(startsAt="2025-02-30T10:00:00Z"), "alerts[0].startsAt"),
        (_alert_with(status="resolved"), "alerts[0].endsAt"),
        (_alert_with(status="on fire"), "alerts[0].status"),
        (_alert_with(labels=["service"]), "alerts[0].labels"),
        (_alert_with(generatorURL=7), "alerts[0].generatorURL"),
        (payload(alert(service=None)), "service"),
        (payload(alert(service="no such/slug")), "service"),
    ],
)
def test_a_malformed_payload_is_a_400_naming_the_field_and_writes_nothing(api, services, body, field):
    before = counts()
    raw = body if isinstance(body, str) else json.dumps(body)
    response = api.post(URL, raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert counts() == before


def test_alerts_without_a_service_label_go_to_the_default_service_when_one_is_set(api, services, settings):
    settings.ALERTMANAGER_DEFAULT_SERVICE = "payments"
    post(api, payload(alert(service=None)))
    assert list(Incident.objects.get().services.values_list("slug", flat=True)) == ["payments"]


def test_a_resolved_notification_for_a_group_never_seen_opens_nothing(api, services):
    response = post(api, payload(alert(status="resolved", starts=ago(30), ends=ago(20))))
    assert response.json() == {
        "action": "unchanged",
        "duplicate": False,
        "incident": None,
        "status": None,
        "severity": None,
    }
    assert not Incident.objects.exists()


def test_an_incident_closed_by_hand_is_not_reopened_by_the_still_firing_group(api, services, engineer_user):
    from incidents.services import incident_resolve

    starts = ago(30)
    post(api, payload(alert("A", starts=starts)))
    incident_resolve(incident=Incident.objects.get(), message="False alarm", by=engineer_user)
    response = post(api, payload(alert("A", starts=starts), alert("B", starts=ago(1))))
    assert response.json()["action"] == "unchanged"
    assert Incident.objects.count() == 1


def test_a_severity_set_by_hand_stands_until_the_worst_alert_changes(api, services, engineer_user):
    from incidents.services import incident_update

    starts = ago(30)
    post(api, payload(alert("A", severity="warning", starts=starts)))
    incident = Incident.objects.get()
    incident_update(incident=incident, message="Customers affected: Sev 2", severity=2, by=engineer_user)
    # The group grows by another warning: the worst alert is unchanged, so is the severity.
    post(api, payload(alert("A", severity="warning", starts=starts), alert("B", severity="warning")))
    assert Incident.objects.get().severity == 2
    post(
        api,
        payload(
            alert("A", severity="warning", starts=starts), alert("B", severity="warning"), alert("C", starts=ago(1))
        ),
    )
    assert Incident.objects.get().severity == 1


def test_the_request_makes_no_outbound_connection(api, services, monkeypatch):
    import socket

    connections = []
    monkeypatch.setattr(socket.socket, "connect", lambda sock, address: connections.append(address))
    response = post(api, payload(alert()))
    assert response.status_code == 200 and response.json()["action"] == "opened"
    assert connections == []


def test_grafana_alerting_notifications_are_understood(api, services):
    """Grafana's contact point of type webhook: the same shape, version "1", extra fields, local offsets."""
    starts = ago(15).astimezone(timezone.get_fixed_timezone(120))
    body = {
        "receiver": "beacon",
        "status": "firing",
        "orgId": 1,
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "Memory high", "service": "payments", "severity": "major", "zone": "eu-1"},
                "annotations": {"summary": "Memory above 90% in eu-1"},
                "startsAt": starts.isoformat(),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "https://grafana.example.com/alerting/grafana/abc123/view",
                "fingerprint": "7d1f0c2b9a4e5f60",
                "silenceURL": "https://grafana.example.com/alerting/silence/new",
                "dashboardURL": "",
                "panelURL": "",
                "values": {"B": 93.2, "C": 1},
            }
        ],
        "groupLabels": {"alertname": "Memory high"},
        "commonLabels": {"alertname": "Memory high", "service": "payments"},
        "commonAnnotations": {"summary": "Memory above 90% in eu-1"},
        "externalURL": "https://grafana.example.com/",
        "version": "1",
        "groupKey": '{}/{__grafana_autogenerated__="true"}:{alertname="Memory high"}',
        "truncatedAlerts": 0,
        "title": "[FIRING:1] Memory high",
        "state": "alerting",
        "message": "**Firing** ...",
    }
    response = post(api, body)
    assert response.status_code == 200, response.content
    incident = Incident.objects.get()
    assert (incident.title, incident.severity, incident.source) == ("Memory above 90% in eu-1", 2, "alertmanager")
    assert incident.started_at == starts
    assert incident.external_url == "https://grafana.example.com/alerting/grafana/abc123/view"


def test_the_incident_page_says_an_alert_opened_it(api, services, client, helpdesk_user):
    post(api, payload(alert()))
    client.force_login(helpdesk_user)
    page = client.get(Incident.objects.get().get_absolute_url()).content.decode()
    assert "Alertmanager / Grafana alert" in page
    assert 'href="http://prometheus.example.com:9090/graph' in page
