import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from incidents.models import Incident, IncidentUpdate
from intake.models import WebhookEvent
from tests.conftest import api_key, login

from .conftest import T0, event, incident_data, post_event, sign

pytestmark = pytest.mark.django_db

URL = "/api/v1/integrations/pagerduty/"


def counts():
    return Incident.objects.count(), IncidentUpdate.objects.count(), WebhookEvent.objects.count()


def trigger(client, pd_id="PWH0001", **data):
    payload = event("incident.triggered", incident_data(pd_id, **data), event_id=f"ev-trigger-{pd_id}")
    return post_event(client, payload)


def test_a_triggered_event_signed_with_one_of_several_signatures_opens_the_incident(client, webhook_secret, mailbox):
    payload = event("incident.triggered", incident_data(), event_id="ev-1")
    body = json.dumps(payload).encode()
    # During a secret rotation PagerDuty signs with the old and the new secret.
    header = f"{sign(body, 'old-secret')},{sign(body)}"

    response = post_event(client, payload, signature=header)

    assert response.status_code == 200, response.content
    incident = Incident.objects.get(source_ref="pagerduty:PWH0001")
    assert incident.title == "Search down" and incident.severity == 3 and incident.status == "investigating"
    assert incident.started_at == T0 and incident.source == "pagerduty"
    assert [s.name for s in incident.services.all()] == ["Search"]
    assert response.json()["detail"].startswith(incident.ticket)
    assert mailbox.messages == []


@pytest.mark.parametrize(
    "signature",
    ["", "v1=" + "0" * 64, "v0=abc", "sha256=abc", "v1=", "v1=\u00fc\u00e9"],
    ids=["missing", "wrong", "other-scheme", "github-style", "empty", "not-ascii"],
)
def test_a_bad_signature_is_401_and_writes_nothing(client, webhook_secret, signature):
    payload = event("incident.triggered", incident_data(), event_id="ev-1")
    response = post_event(client, payload, signature=signature)
    assert response.status_code == 401
    assert "X-PagerDuty-Signature" in response.json()["detail"]
    assert counts() == (0, 0, 0)


def test_a_body_changed_after_signing_is_refused(client, webhook_secret):
    body = json.dumps(event("incident.triggered", incident_data(), event_id="ev-1")).encode()
    tampered = body.replace(b"Search down", b"Search fine")
    response = post_event(client, None, raw=tampered, signature=sign(body))
    assert response.status_code == 401 and counts() == (0, 0, 0)


def test_a_beacon_login_or_token_is_no_substitute_for_the_signature(client, webhook_secret, engineer_user):
    payload = event("incident.triggered", incident_data(), event_id="ev-1")
    login(client, engineer_user)
    assert post_event(client, payload, signature="").status_code == 401
    response = client.post(
        URL,
        data=json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {api_key(engineer_user)}",
    )
    assert response.status_code == 401 and counts() == (0, 0, 0)


def test_without_a_secret_the_endpoint_says_it_is_not_configured(client, settings):
    settings.PAGERDUTY_WEBHOOK_SECRET = ""
    body = json.dumps(event("incident.triggered", incident_data(), event_id="ev-1")).encode()
    response = post_event(client, None, raw=body, signature=sign(body, ""))
    assert response.status_code == 503
    assert "PAGERDUTY_WEBHOOK_SECRET" in response.json()["detail"]
    assert counts() == (0, 0, 0)


def test_the_same_delivery_twice_changes_nothing(client, webhook_secret):
    assert trigger(client).status_code == 200
    resolved = event(
        "incident.resolved", incident_data(status="resolved"), event_id="ev-2", occurred=T0 + timedelta(hours=1)
    )
    assert post_event(client, resolved).status_code == 200
    before = counts()
    again = post_event(client, resolved)
    assert again.status_code == 200 and "duplicate" in again.json()["detail"]
    assert trigger(client).status_code == 200
    assert counts() == before


def test_each_incident_event_updates_the_same_incident_through_its_life(client, webhook_secret, mailbox, leader_user):
    trigger(client)  # 10:00 P3
    steps = [
        ("incident.acknowledged", {}, 5),
        ("incident.priority_updated", {"priority": "P1"}, 20),
        ("incident.annotated", None, 25),
        ("incident.resolved", {"status": "resolved"}, 60),
        ("incident.reopened", {"status": "triggered"}, 70),
        ("incident.resolved", {"status": "resolved"}, 80),
    ]
    for number, (event_type, changes, minutes) in enumerate(steps):
        if event_type == "incident.annotated":
            data = {
                "incident": {"id": "PWH0001", "type": "incident_reference", "html_url": "https://acme.pagerduty.com/incidents/PWH0001"},
                "id": "PNOTE1",
                "content": "Rolled back the index change.",
                "trigger_log_entry_id": "R1",
                "type": "incident_note",
            }  # fmt: skip
        else:
            data = incident_data(**changes)
        payload = event(event_type, data, event_id=f"ev-{number}", occurred=T0 + timedelta(minutes=minutes))
        response = post_event(client, payload)
        assert response.status_code == 200, (event_type, response.content)

    incident = Incident.objects.get()
    log = [(u.kind, u.sets_severity, u.effective_at - T0, u.message) for u in incident.updates.order_by("id")]
    assert log == [
        ("opened", 3, timedelta(0), "Triggered in PagerDuty."),
        ("updated", None, timedelta(minutes=5), "Acknowledged in PagerDuty by Ada Oncall."),
        ("updated", 1, timedelta(minutes=20), "Priority changed to P1 in PagerDuty by Ada Oncall."),
        ("updated", None, timedelta(minutes=25), "Rolled back the index change."),
        ("resolved", None, timedelta(minutes=60), "Resolved in PagerDuty by Ada Oncall."),
        ("reopened", None, timedelta(minutes=70), "Reopened in PagerDuty by Ada Oncall."),
        ("resolved", None, timedelta(minutes=80), "Resolved in PagerDuty by Ada Oncall."),
    ]
    assert incident.status == "resolved" and incident.resolved_at == T0 + timedelta(minutes=80)
    assert incident.severity == 1
    assert WebhookEvent.objects.count() == 7
    # Sev 1 from 10:20 to 11:00 and 11:10 to 11:20: 50 minutes of downtime in the report.
    login(client, leader_user)
    uptime = client.get("/api/v1/uptime/?month=2026-03").json()
    search = next(r for r in uptime["results"] if r["service"] == "search")
    assert search["downtime_seconds"] == 50 * 60
    assert mailbox.messages == []


def test_an_unknown_event_type_is_accepted_and_ignored(client, webhook_secret):
    payload = event("service.updated", {"id": "PSVC9", "type": "service"}, event_id="ev-9")
    response = post_event(client, payload)
    assert response.status_code == 202 and "service.updated" in response.json()["detail"]
    assert counts() == (0, 0, 0)


def _body(event_type, data, **changes) -> bytes:
    payload = event(event_type, data, event_id=changes.pop("event_id", "e"))
    payload["event"].update(changes)
    return json.dumps(payload).encode()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"[1, 2]", "event"),
        (json.dumps({"event": {"id": "x"}}).encode(), "event.event_type"),
        (_body("incident.triggered", incident_data(), event_id=""), "event.id"),
        (_body("incident.triggered", {}, occurred_at="soon"), "event.occurred_at"),
        (_body("incident.triggered", "nope"), "event.data"),
        (_body("incident.triggered", {**incident_data(), "id": None}), "event.data.id"),
        (_body("incident.triggered", {**incident_data(), "created_at": "x"}), "event.data.created_at"),
        (_body("incident.annotated", {"content": "hi"}), "event.data.incident"),
    ],
)
def test_a_malformed_body_is_400_naming_the_problem_and_writes_nothing(client, webhook_secret, body, field):
    response = post_event(client, None, raw=body, signature=sign(body))
    assert response.status_code == 400
    assert field in response.json()
    assert counts() == (0, 0, 0)


def test_an_event_stamped_before_the_incident_began_takes_effect_at_its_start(client, webhook_secret):
    trigger(client)
    # Clocks differ: a resolution stamped a minute before the start is kept at the start, not refused.
    early = event(
        "incident.resolved", incident_data(status="resolved"), event_id="ev-early", occurred=T0 - timedelta(minutes=1)
    )
    assert post_event(client, early).status_code == 200
    incident = Incident.objects.get()
    assert incident.status == "resolved" and incident.resolved_at == T0


def test_the_import_and_the_webhook_keep_one_incident(client, webhook_secret, pagerduty):
    pagerduty.add_incident("PBOTH", created=T0, priority="P2", service=("PSVC9", "Search"))
    pagerduty.resolve("PBOTH", T0 + timedelta(minutes=45))
    data = incident_data("PBOTH", priority="P2")
    assert post_event(client, event("incident.triggered", data, event_id="ev-a")).status_code == 200

    call_command("import_pagerduty", "--since", "2026-03-01", "--until", "2026-03-31", stdout=StringIO())
    late = event(
        "incident.resolved", {**data, "status": "resolved"}, event_id="ev-b", occurred=T0 + timedelta(minutes=45)
    )
    assert post_event(client, late).status_code == 200

    incident = Incident.objects.get()
    assert incident.source_ref == "pagerduty:PBOTH" and incident.resolved_at == T0 + timedelta(minutes=45)
    assert incident.updates.filter(kind="resolved").count() == 1


def test_a_delivery_racing_another_for_the_same_incident_is_applied_once_it_can_be(client, webhook_secret, monkeypatch):
    from django.db import IntegrityError

    from intake import services

    real = services.service_for
    calls = []

    def first_one_loses(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise IntegrityError("duplicate key value violates unique constraint")
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "service_for", first_one_loses)
    assert trigger(client).status_code == 200
    assert counts() == (1, 1, 1) and len(calls) == 2

    calls.clear()
    monkeypatch.setattr(services, "service_for", lambda *a, **k: (_ for _ in ()).throw(IntegrityError("again")))
    response = trigger(client, "PWH0002")
    assert response.status_code == 409 and "send it again" in response.json()["detail"]
    assert counts() == (1, 1, 1)
