"""`import_statuspage FILE.json`: a real Statuspage export becomes Beacon history, once."""

import json
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from incidents.models import Delivery, Incident, IncidentUpdate, Postmortem, Service

pytestmark = pytest.mark.django_db

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "statuspage_incidents.json"


def run(path) -> str:
    out = StringIO()
    call_command("import_statuspage", str(path), stdout=out)
    return out.getvalue()


def counts():
    return (
        Incident.objects.count(),
        IncidentUpdate.objects.count(),
        Service.objects.count(),
        Postmortem.objects.count(),
        Delivery.objects.count(),
    )


def by_ref(ref) -> Incident:
    return Incident.objects.get(source_ref=f"statuspage:{ref}")


def utc(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_an_export_becomes_incidents_services_and_update_logs():
    output = run(FIXTURE)

    assert "5 new incidents" in output and "skipped 1 not yet started" in output
    api = by_ref("p31zjtct2jer")
    assert api.title == "Elevated API error rates"
    assert api.severity == 1 and api.status == "resolved"
    assert sorted(api.services.values_list("slug", flat=True)) == ["api", "dashboard"]
    assert api.started_at == utc("2025-03-10T13:52:00")
    assert api.resolved_at == utc("2025-03-10T16:11:40")
    assert api.external_url == "https://stspg.io/p31zjt"
    assert api.description.startswith("We are investigating elevated error rates")
    log = list(api.updates.order_by("id"))
    assert [u.status for u in log] == ["investigating", "identified", "monitoring", "resolved"]
    assert log[1].message.startswith("The issue has been identified")
    assert log[1].created_at == utc("2025-03-10T14:41:03")
    assert log[-1].message == "This incident has been resolved. API error rates are back to normal."
    assert all(u.source_ref.startswith("statuspage:p31zjtct2jer") for u in log)
    assert api.source_ref == "statuspage:p31zjtct2jer"
    assert Service.objects.get(slug="single-sign-on-saml").name == "Single Sign-On (SAML)"
    # History does not email anyone.
    assert not Delivery.objects.exists()


def test_impact_maps_to_severity():
    run(FIXTURE)
    assert {ref: by_ref(ref).severity for ref in ("p31zjtct2jer", "s8d2mf7z1qpr", "w9n1kq3b7vxd", "c0n9r4lz8hxa")} == {
        "p31zjtct2jer": 1,  # critical
        "s8d2mf7z1qpr": 2,  # major
        "w9n1kq3b7vxd": 3,  # minor
        "c0n9r4lz8hxa": 4,  # none
    }


def test_an_incident_spanning_days_keeps_its_start_and_end():
    run(FIXTURE)
    webhooks = by_ref("w9n1kq3b7vxd")
    # No started_at in the export: created_at stands in.
    assert webhooks.started_at == utc("2025-02-20T08:30:00")
    assert (webhooks.resolved_at - webhooks.started_at).days == 3
    assert webhooks.updates.count() == 5


def test_an_unresolved_incident_stays_ongoing():
    run(FIXTURE)
    email = by_ref("e4t6yc0v2nmb")
    assert email.resolved_at is None and email.status == "monitoring"
    assert email.is_open


def test_an_incident_without_components_is_filed_under_the_page():
    run(FIXTURE)
    assert list(by_ref("c0n9r4lz8hxa").services.values_list("name", flat=True)) == ["Acme Cloud"]


def test_the_postmortem_body_becomes_the_incidents_postmortem():
    run(FIXTURE)
    saml = by_ref("s8d2mf7z1qpr")
    assert saml.postmortem.summary.startswith("## What happened")
    assert "renewal reminder went to a deactivated mailbox" in saml.postmortem.summary
    # The "postmortem" status update is not part of the outage's update log.
    assert [u.status for u in saml.updates.order_by("id")] == ["investigating", "identified", "resolved"]


def test_a_scheduled_maintenance_in_the_future_is_skipped():
    run(FIXTURE)
    assert not Incident.objects.filter(source_ref="statuspage:f7m3a9x2c5vu").exists()


def test_importing_the_same_file_twice_changes_nothing():
    run(FIXTURE)
    before = counts()
    snapshot = list(Incident.objects.order_by("id").values("id", "version", "status", "resolved_at"))

    output = run(FIXTURE)

    assert counts() == before
    assert list(Incident.objects.order_by("id").values("id", "version", "status", "resolved_at")) == snapshot
    assert "0 new incidents, 0 new updates, 0 new services, 0 postmortems" in output


def test_a_newer_export_adds_only_what_is_new(tmp_path):
    run(FIXTURE)
    data = json.loads(FIXTURE.read_text())
    email = next(i for i in data["incidents"] if i["id"] == "e4t6yc0v2nmb")
    email["status"] = "resolved"
    email["resolved_at"] = "2025-03-14T10:30:00.000Z"
    email["incident_updates"].insert(
        0,
        {"id": "n3", "status": "resolved", "body": "Emails are on time again.",
         "created_at": "2025-03-14T10:30:00.000Z", "display_at": "2025-03-14T10:30:00.000Z"},
    )  # fmt: skip
    newer = tmp_path / "incidents.json"
    newer.write_text(json.dumps(data))
    before = counts()

    run(newer)

    assert counts()[0] == before[0] and counts()[1] == before[1] + 1
    resolved = by_ref("e4t6yc0v2nmb")
    assert resolved.status == "resolved" and resolved.resolved_at == utc("2025-03-14T10:30:00")
    assert resolved.updates.order_by("-id").first().message == "Emails are on time again."


def test_a_file_that_is_not_json_is_a_clear_error(tmp_path):
    bad = tmp_path / "incidents.json"
    bad.write_text('{"incidents": [')

    with pytest.raises(CommandError, match="is not valid JSON"):
        run(bad)
    assert counts() == (0, 0, 0, 0, 0)


def test_json_of_the_wrong_shape_is_a_clear_error(tmp_path):
    bad = tmp_path / "incidents.json"
    bad.write_text(json.dumps({"components": []}))

    with pytest.raises(CommandError, match="Not a Statuspage incidents export"):
        run(bad)


def test_a_bad_incident_anywhere_in_the_file_writes_nothing(tmp_path):
    data = json.loads(FIXTURE.read_text())
    data["incidents"][-1]["impact"] = "apocalyptic"
    bad = tmp_path / "incidents.json"
    bad.write_text(json.dumps(data))

    with pytest.raises(CommandError, match="unknown impact 'apocalyptic'"):
        run(bad)
    assert counts() == (0, 0, 0, 0, 0)


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        run(tmp_path / "nope.json")
