"""`import_statuspage FILE.json`: a real Statuspage export becomes Beacon history, once."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from incidents import services as incident_services
from incidents.management.commands.import_statuspage import MaintenanceRecord, parse_export
from incidents.models import Delivery, Incident, IncidentUpdate, Postmortem, Service
from tests.conftest import _database_url as database_url

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

    assert (
        "5 new incidents" in output and "0 repaired, 0 skipped, 1 new planned maintenance of 1 in the file." in output
    )
    assert "f7m3a9x2c5vu: planned maintenance, not an incident" in output.splitlines()
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


def test_a_scheduled_maintenance_is_not_an_incident():
    from maintenance.models import Maintenance

    run(FIXTURE)
    assert not Incident.objects.filter(source_ref="statuspage:f7m3a9x2c5vu").exists()
    (maintenance,) = Maintenance.objects.all()
    assert maintenance.source_ref == "statuspage:f7m3a9x2c5vu"
    assert maintenance.services.exists()
    output = run(FIXTURE)  # again: nothing new
    assert Maintenance.objects.count() == 1
    assert "0 new planned maintenance of 1 in the file." in output


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


def test_an_incident_of_unknown_impact_is_skipped_and_named_and_the_rest_imported(tmp_path):
    data = json.loads(FIXTURE.read_text())
    data["incidents"][-2]["impact"] = "apocalyptic"  # c0n9r4lz8hxa
    bad = tmp_path / "incidents.json"
    bad.write_text(json.dumps(data))
    out = StringIO()

    with pytest.raises(CommandError, match="1 skipped") as refused:
        call_command("import_statuspage", str(bad), stdout=out)

    assert refused.value.returncode == 1
    assert "c0n9r4lz8hxa: skipped: unknown impact 'apocalyptic'" in out.getvalue()
    assert not Incident.objects.filter(source_ref="statuspage:c0n9r4lz8hxa").exists()
    assert Incident.objects.count() == 4


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        run(tmp_path / "nope.json")


# --- a real export: repaired, skipped and maintenance entries ------------------------

GITHUB_2020 = FIXTURE.parent / "statuspage_github_2020.json"
ROOT = FIXTURE.parent.parent.parent


def run_refused(path) -> tuple[str, CommandError]:
    """Run the command on a file with skipped entries: its output, and the exit-1 error it ends with."""
    out = StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("import_statuspage", str(path), stdout=out)
    return out.getvalue(), refused.value


def test_a_real_export_imports_every_valid_incident_and_names_the_others():
    output, error = run_refused(GITHUB_2020)

    assert error.returncode == 1 and str(error) == "2 skipped (named above); the other incidents were imported."
    assert output.splitlines()[:4] == [
        "h4b9wlq7m1sd: repaired: started_at 2020-11-02T19:40:00Z after resolved_at 2020-11-02T19:31:05Z; "
        "started at created_at",
        "q2kx8v0c7jnf: skipped: started_at 2020-11-13T09:20:00Z and created_at 2020-11-13T09:15:00Z are both "
        "after resolved_at 2020-11-13T08:55:16Z",
        "r8f1tz3k6wpa: skipped: resolved_at 2099-11-19T21:58:02Z is in the future",
        "w1y4b7e0h3mk: planned maintenance, not an incident",
    ]
    assert (
        "2 new incidents" in output and "1 repaired, 2 skipped, 1 new planned maintenance of 1 in the file." in output
    )
    assert sorted(Incident.objects.values_list("source_ref", flat=True)) == [
        "statuspage:h4b9wlq7m1sd",
        "statuspage:zd9nd6gbr3gp",
    ]
    actions = by_ref("zd9nd6gbr3gp")
    assert actions.started_at == utc("2020-11-24T14:02:00") and actions.resolved_at == utc("2020-11-24T16:45:31")
    assert [u.status for u in actions.updates.order_by("id")] == ["investigating", "monitoring", "resolved"]


def test_an_incident_started_after_its_resolution_starts_at_its_creation():
    run_refused(GITHUB_2020)

    repaired = by_ref("h4b9wlq7m1sd")
    assert repaired.started_at == utc("2020-11-02T18:02:47")  # created_at
    assert repaired.resolved_at == utc("2020-11-02T19:31:05")
    assert repaired.status == "resolved" and repaired.severity == 2
    assert sorted(repaired.services.values_list("slug", flat=True)) == ["api-requests", "webhooks"]


def test_a_resolution_in_the_future_never_becomes_downtime():
    run_refused(GITHUB_2020)

    assert not Incident.objects.filter(source_ref="statuspage:r8f1tz3k6wpa").exists()
    # Nothing of a skipped incident is written (its service exists only for the planned
    # maintenance of the same export, with no incident on it).
    assert not Incident.objects.filter(services__slug="github-pages").exists()
    assert not IncidentUpdate.objects.filter(source_ref__startswith="statuspage:r8f1tz3k6wpa").exists()


def test_a_maintenance_of_the_export_is_parsed_apart_from_the_incidents():
    export = parse_export(json.loads(GITHUB_2020.read_text()), now=utc("2021-01-01T00:00:00"))

    assert [r.id for r in export.incidents] == ["zd9nd6gbr3gp", "h4b9wlq7m1sd"]
    (maintenance,) = export.maintenances
    assert maintenance == MaintenanceRecord(
        id="w1y4b7e0h3mk",
        source_ref="statuspage:w1y4b7e0h3mk",
        title="Scheduled maintenance of GitHub Pages",
        description="GitHub Pages builds will be paused for up to one hour while we migrate storage.",
        components=[("github-pages", "GitHub Pages")],
        starts_at=utc("2020-11-28T02:00:00"),
        ends_at=utc("2020-11-28T03:00:00"),
        status="completed",
    )
    assert not Incident.objects.filter(source_ref="statuspage:w1y4b7e0h3mk").exists()


def test_a_maintenance_being_verified_is_in_progress_and_one_without_an_end_is_skipped():
    raw = json.loads(GITHUB_2020.read_text())["incidents"][-1]
    verifying = raw | {"id": "mverify00001", "status": "verifying"}
    endless = raw | {"id": "mendless0001", "scheduled_until": None}

    export = parse_export([verifying, endless], now=utc("2021-01-01T00:00:00"))

    assert [(m.id, m.status) for m in export.maintenances] == [("mverify00001", "in_progress")]
    assert export.notes == ["mendless0001: skipped: a maintenance needs both scheduled_for and scheduled_until"]


def test_the_future_is_judged_against_the_time_of_the_import():
    data = json.loads(GITHUB_2020.read_text())
    # At 16:00 on the day of the Actions incident, its 16:45 resolution had not happened yet.
    export = parse_export(data, now=utc("2020-11-24T16:00:00"))

    assert "zd9nd6gbr3gp: skipped: resolved_at 2020-11-24T16:45:31Z is in the future" in export.notes
    # A minute's clock skew is tolerated, as for every other write.
    export = parse_export(data, now=utc("2020-11-24T16:45:00"))
    assert "zd9nd6gbr3gp" in [r.id for r in export.incidents]


def test_importing_a_real_export_again_writes_nothing():
    run_refused(GITHUB_2020)
    before = counts()
    snapshot = list(Incident.objects.order_by("id").values("id", "version", "status", "started_at", "resolved_at"))

    output, error = run_refused(GITHUB_2020)

    assert error.returncode == 1
    assert counts() == before
    assert list(Incident.objects.order_by("id").values("id", "version", "status", "started_at", "resolved_at")) == (
        snapshot
    )
    assert "0 new incidents, 0 new updates, 0 new services, 0 postmortems" in output


def test_a_bare_list_of_incidents_is_an_export_too(tmp_path):
    data = json.loads(FIXTURE.read_text())
    bare = tmp_path / "incidents.json"
    bare.write_text(json.dumps(data["incidents"]))

    output = run(bare)

    assert "Imported from Statuspage: 5 new incidents" in output
    # Without a page, incidents without components are filed under "Statuspage".
    assert list(by_ref("c0n9r4lz8hxa").services.values_list("name", flat=True)) == ["Statuspage"]


def _normal_incident() -> dict:
    return json.loads(GITHUB_2020.read_text())["incidents"][0]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"name": ""}, "the incident has no name"),
        ({"name": ["Degraded", "performance"]}, "name is a list, not text"),
        ({"started_at": "yesterday"}, "started_at 'yesterday' is not an ISO 8601 time"),
        ({"created_at": "2020-02-30T10:00:00Z"}, "created_at '2020-02-30T10:00:00Z' is not an ISO 8601 time"),
        ({"resolved_at": 1606236331}, "resolved_at is a number, not a time"),
        ({"impact": "apocalyptic"}, "unknown impact 'apocalyptic' (expected critical, major, minor, none)"),
        ({"components": {"name": "GitHub Actions"}}, "components is an object, not a list"),
        ({"components": [{"id": "x"}]}, "a component has no name"),
        ({"incident_updates": [{"id": "u1", "status": "resolved", "display_at": "soon"}]},
         "update u1 time 'soon' is not an ISO 8601 time"),
        ({"incident_updates": [{"id": "u1", "body": "x", "display_at": "2099-01-01T00:00:00Z"}]},
         "update u1 is dated 2099-01-01T00:00:00Z, in the future"),
        ({"started_at": None, "created_at": None}, "it has neither started_at nor created_at"),
        ({"resolved_at": None, "started_at": "2099-01-01T00:00:00Z"},
         "started_at 2099-01-01T00:00:00Z is in the future"),
    ],
)  # fmt: skip
def test_a_bad_field_skips_only_its_incident_and_names_it(tmp_path, change, reason):
    bad = _normal_incident() | {"id": "badbadbad001"} | change
    good = _normal_incident()
    path = tmp_path / "incidents.json"
    path.write_text(json.dumps({"page": {"name": "GitHub"}, "incidents": [bad, good]}))

    output, error = run_refused(path)

    assert f"badbadbad001: skipped: {reason}" in output.splitlines()
    assert error.returncode == 1 and str(error).startswith("1 skipped")
    assert list(Incident.objects.values_list("source_ref", flat=True)) == ["statuspage:zd9nd6gbr3gp"]


def test_an_incident_without_an_id_or_with_a_repeated_one_is_skipped(tmp_path):
    path = tmp_path / "incidents.json"
    path.write_text(json.dumps([_normal_incident() | {"id": None}, _normal_incident(), _normal_incident()]))

    output, _ = run_refused(path)

    assert output.splitlines()[:2] == [
        "Incident #1: skipped: it has no Statuspage id",
        "zd9nd6gbr3gp: skipped: the same id appears earlier in the file",
    ]
    assert Incident.objects.count() == 1


def test_an_incident_the_services_refuse_is_skipped_and_leaves_nothing_behind(tmp_path, monkeypatch):
    # Nothing in a checked export is known to be refused; should the services refuse an
    # incident halfway (here: its resolution), its incident, updates and new service go.
    real_resolve = incident_services.incident_resolve

    def refusing_resolve(*, incident, **kwargs):
        if incident.source_ref == "statuspage:late00000001":
            raise ValidationError({"resolved_at": "Refused for the test."})
        return real_resolve(incident=incident, **kwargs)

    monkeypatch.setattr(incident_services, "incident_resolve", refusing_resolve)
    late = _normal_incident() | {"id": "late00000001", "components": []}
    path = tmp_path / "incidents.json"
    path.write_text(json.dumps({"page": {"name": "Elsewhere"}, "incidents": [late, _normal_incident()]}))

    output, error = run_refused(path)

    assert "late00000001: skipped: Refused for the test." in output.splitlines()
    assert "1 new incidents, 2 new updates, 1 new services" in output  # the refused one not counted
    assert error.returncode == 1
    assert list(Incident.objects.values_list("source_ref", flat=True)) == ["statuspage:zd9nd6gbr3gp"]
    assert not Service.objects.filter(slug="elsewhere").exists()
    assert not IncidentUpdate.objects.filter(source_ref__startswith="statuspage:late00000001").exists()


# --- the real `manage.py` process -------------------------------------------------


@pytest.fixture
def manage_py(transactional_db):
    """Run ``python manage.py …`` as a separate process against the test database."""
    env = {**os.environ, "DATABASE_URL": database_url()}

    def run_process(*args) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )

    return run_process


def test_the_command_exits_1_when_it_skipped_anything_and_0_otherwise(manage_py):
    skipping = manage_py("import_statuspage", str(GITHUB_2020))

    assert skipping.returncode == 1
    assert "q2kx8v0c7jnf: skipped: started_at" in skipping.stdout
    assert "r8f1tz3k6wpa: skipped: resolved_at 2099-11-19T21:58:02Z is in the future" in skipping.stdout
    assert "h4b9wlq7m1sd: repaired:" in skipping.stdout
    assert skipping.stderr == "CommandError: 2 skipped (named above); the other incidents were imported.\n"
    assert Incident.objects.count() == 2  # committed: the valid incidents stay

    clean = manage_py("import_statuspage", str(FIXTURE))

    assert clean.returncode == 0, clean.stderr
    assert clean.stderr == "" and "5 new incidents" in clean.stdout
    assert Incident.objects.count() == 7


LATIN_1 = json.dumps({"page": {"name": "Café"}, "incidents": []}, ensure_ascii=False).encode("latin-1")
ONE_INCIDENT = {"id": "abc123def456", "name": "Outage", "impact": "major", "resolved_at": "2020-11-02T19:31:05Z"}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param(b"", "is empty", id="empty"),
        pytest.param(b'{"incidents": [', "is not valid JSON: Expecting value (line 1, column 16)", id="not-json"),
        pytest.param(b'{"components": []}', "Not a Statuspage incidents export", id="wrong-shape"),
        pytest.param(b'{"incidents": "none"}', "Not a Statuspage incidents export", id="incidents-not-a-list"),
        pytest.param(b'{"incidents": [1, 2]}', "incident #1 is a number, not an object", id="wrong-types"),
        pytest.param(b'{"page": 7, "incidents": []}', "page is a number without a text name", id="page-wrong-type"),
        pytest.param(b"[" * 10_000 + b"]" * 10_000, "is nested too deeply", id="deep-nesting"),
        pytest.param(b"[" + b"9" * 5000 + b"]", "Exceeds the limit (4300 digits)", id="huge-number"),
        pytest.param(
            json.dumps([ONE_INCIDENT | {"created_at": "2020-11-02T25:02:47Z"}]).encode(),
            "abc123def456: skipped: created_at '2020-11-02T25:02:47Z' is not an ISO 8601 time",
            id="bad-date",
        ),
        pytest.param(
            json.dumps([ONE_INCIDENT | {"created_at": "2020-11-02T18:02:47Z", "started_at": [[[]]]}]).encode(),
            "abc123def456: skipped: started_at is a list, not a time",
            id="date-of-wrong-type",
        ),
        pytest.param(LATIN_1, "is not UTF-8 text (byte 0xe9 at offset", id="latin-1"),
    ],
)
def test_a_malformed_file_is_one_line_of_error_and_writes_nothing(manage_py, tmp_path, content, problem):
    path = tmp_path / "incidents.json"
    path.write_bytes(content)

    result = manage_py("import_statuspage", str(path))

    assert result.returncode == 1
    assert problem in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("CommandError: ")
    assert counts() == (0, 0, 0, 0, 0)
