from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count

from incidents.models import Incident, IncidentUpdate, Service
from intake.models import ImportCursor, ServiceLink
from intake.tasks import import_pagerduty
from tests.conftest import login

from .conftest import T0, Fault

pytestmark = pytest.mark.django_db

RANGE = ["--since", "2026-03-01", "--until", "2026-03-31"]


def rows() -> tuple[int, int]:
    return Incident.objects.count(), IncidentUpdate.objects.count()


def build_month(fake):
    """25 incidents over March 2026 on two services (3 pages of 10), and the story of one raised P3→P1."""
    for n in range(24):
        created = T0 + timedelta(hours=7 * n)
        pd_id = f"PINC{n:03d}"
        service = ("PSVC1", "Checkout API") if n % 2 else ("PSVC2", "Search")
        fake.add_incident(pd_id, created=created, service=service, priority=["P2", "P4", None][n % 3])
        fake.acknowledge(pd_id, created + timedelta(minutes=3))
        if n % 5 != 4:  # every fifth stays open
            fake.resolve(pd_id, created + timedelta(minutes=30 + n))
    # 10:00 P3 on Payments, raised to P1 at 10:20, resolved at 11:00: 40 minutes of Sev 1.
    start = datetime(2026, 3, 20, 10, 0, tzinfo=UTC)
    fake.add_incident("PRAISED", created=start, title="Payments failing", priority="P3", service=("PSVC3", "Payments"))
    fake.acknowledge("PRAISED", start + timedelta(minutes=5))
    fake.change_priority("PRAISED", start + timedelta(minutes=20), "P1")
    fake.resolve("PRAISED", start + timedelta(hours=1))
    # A long log (two pages of 10): notes every two minutes on PINC007.
    for n in range(11):
        note = {"type": "web_trigger", "summary": f"Note {n}: still failing"}
        fake.entry("PINC007", "annotate_log_entry", T0 + timedelta(hours=49, minutes=5 + n), channel=note)


def test_the_import_reads_every_page_through_a_429_and_a_500_and_keeps_severities_over_time(
    pagerduty, mailbox, client, leader_user
):
    build_month(pagerduty)
    pagerduty.fail("incidents", Fault(status=429, headers={"Retry-After": "1"}))
    pagerduty.fail("log_entries", Fault(status=500), Fault(status=503))
    out = StringIO()

    call_command("import_pagerduty", *RANGE, stdout=out)

    assert Incident.objects.count() == 25
    assert {(s.name, s.slug) for s in Service.objects.all()} == {
        ("Checkout API", "checkout-api"),
        ("Search", "search"),
        ("Payments", "payments"),
    }
    assert ServiceLink.objects.count() == 3
    raised = Incident.objects.get(source_ref="pagerduty:PRAISED")
    assert raised.source == "pagerduty" and raised.external_url == "https://acme.pagerduty.com/incidents/PRAISED"
    assert raised.title == "Payments failing" and raised.severity == 1
    assert raised.started_at == datetime(2026, 3, 20, 10, 0, tzinfo=UTC)
    assert raised.resolved_at == datetime(2026, 3, 20, 11, 0, tzinfo=UTC)
    history = [(u.kind, u.sets_severity, u.effective_at.strftime("%H:%M")) for u in raised.updates.order_by("id")]
    assert history == [
        ("opened", 3, "10:00"),
        ("updated", None, "10:05"),
        ("updated", 1, "10:20"),
        ("resolved", None, "11:00"),
    ]
    # Priority without a name maps by urgency (high → 2); P2 → 2, P4 → 4.
    assert Incident.objects.get(source_ref="pagerduty:PINC002").severity == 2
    assert Incident.objects.get(source_ref="pagerduty:PINC001").severity == 4
    assert Incident.objects.filter(status="resolved").count() == 21  # 4 of 24 stay open
    # Every page, and each retried request, went through.
    text = out.getvalue()
    assert "Page 1 " in text and "Page 3 " in text and "25 incident(s) read" in text
    assert len(pagerduty.requests("incidents")) == 3 + 1 and len(pagerduty.requests("log_entries")) == 25 + 1 + 2
    notes = Incident.objects.get(source_ref="pagerduty:PINC007").updates.filter(message__startswith="Note ")
    first_two = list(notes.order_by("effective_at").values_list("message", flat=True))[:2]
    assert first_two == ["Note 0: still failing", "Note 1: still failing"]
    assert notes.count() == 11
    assert mailbox.messages == []

    # The report counts the Sev 1 from 10:20 (40 minutes), not the Sev 3 before nor when it was imported.
    login(client, leader_user)
    uptime = client.get("/api/v1/uptime/?month=2026-03").json()
    payments = next(r for r in uptime["results"] if r["service"] == "payments")
    assert payments["downtime_seconds"] == 40 * 60 and payments["incident_count"] == 1


def test_a_second_run_writes_nothing_and_a_later_run_closes_an_incident_resolved_since(pagerduty, mailbox):
    build_month(pagerduty)
    call_command("import_pagerduty", *RANGE, stdout=StringIO())
    before = rows()
    log_requests = len(pagerduty.requests("log_entries"))

    again = StringIO()
    call_command("import_pagerduty", *RANGE, stdout=again)

    assert rows() == before
    assert "0 row(s) written" in again.getvalue()
    # Resolved on both sides: their logs are final and not read again; the 4 open ones are.
    assert len(pagerduty.requests("log_entries")) - log_requests == 4

    # --full reads every log again, and still writes nothing.
    full = StringIO()
    call_command("import_pagerduty", *RANGE, "--full", stdout=full)
    assert rows() == before and "0 row(s) written" in full.getvalue()
    assert len(pagerduty.requests("log_entries")) - log_requests == 4 + 26

    # PINC004 (created 2 March) is resolved in PagerDuty; the next run resumes from the cursor.
    pagerduty.resolve("PINC004", T0 + timedelta(days=5))
    assert ImportCursor.objects.get().last_until == datetime(2026, 4, 1, tzinfo=UTC)
    later = StringIO()
    call_command("import_pagerduty", stdout=later)
    closed = Incident.objects.get(source_ref="pagerduty:PINC004")
    assert closed.status == "resolved" and closed.resolved_at == T0 + timedelta(days=5)
    assert rows() == (before[0], before[1] + 1)
    assert "Followed 4 open incident(s)" in later.getvalue()
    assert mailbox.messages == []


def test_the_offset_cap_makes_the_import_split_the_range(pagerduty, monkeypatch):
    monkeypatch.setattr("integrations.pagerduty.PAGINATION_CAP", 40)
    pagerduty.cap = 40
    for n in range(130):  # all on one day: 130 > 40 cannot be paged in one range
        pd_id = f"PMANY{n:03d}"
        pagerduty.add_incident(pd_id, created=T0 + timedelta(minutes=5 * n), priority="P3")
        pagerduty.resolve(pd_id, T0 + timedelta(minutes=5 * n + 2))

    call_command("import_pagerduty", "--since", "2026-03-02", "--until", "2026-03-02", stdout=StringIO())

    assert Incident.objects.filter(source="pagerduty").count() == 130
    assert Incident.objects.filter(status="resolved").count() == 130
    listed = pagerduty.requests("incidents")
    assert all(int(p["offset"]) + int(p["limit"]) <= 40 for p in listed)
    assert len({(p["since"], p["until"]) for p in listed}) > 3  # split into smaller windows
    assert IncidentUpdate.objects.values("incident").annotate(n=Count("id")).filter(n__gt=2).count() == 0


def test_a_rejected_token_stops_at_once_with_a_one_line_message_and_exit_code_1(pagerduty, transactional_db):
    """Run as a user would: ``manage.py import_pagerduty`` in its own process, against the test database."""
    import os
    import subprocess
    import sys

    from django.conf import settings as django_settings

    from tests.conftest import _database_url

    build_month(pagerduty)
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "BEACON_VAR_DIR": str(django_settings.VAR_DIR),
        "PAGERDUTY_API_URL": pagerduty.url,
        "PAGERDUTY_TOKEN": "revoked",
    }
    run = subprocess.run(
        [sys.executable, "manage.py", "import_pagerduty", *RANGE],
        cwd=django_settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 1
    err = run.stderr.strip()
    assert err.startswith("CommandError: PagerDuty refused the token (HTTP 401: Unauthorized)"), err
    assert "PAGERDUTY_TOKEN" in err and "\n" not in err
    assert len(pagerduty.log) == 1  # not retried: waiting does not fix a bad token
    assert rows() == (0, 0)


def test_a_missing_token_or_bad_dates_are_refused_before_any_request(pagerduty, settings):
    with pytest.raises(CommandError, match="is not a date"):
        call_command("import_pagerduty", "--since", "March", stdout=StringIO())
    with pytest.raises(CommandError, match="--until is before --since"):
        call_command("import_pagerduty", "--since", "2026-03-05", "--until", "2026-03-01", stdout=StringIO())
    settings.PAGERDUTY_TOKEN = ""
    with pytest.raises(CommandError, match="PAGERDUTY_TOKEN"):
        call_command("import_pagerduty", stdout=StringIO())
    assert pagerduty.log == []


def test_a_server_that_keeps_failing_stops_with_the_reason_and_leaves_the_cursor(pagerduty):
    build_month(pagerduty)
    pagerduty.fail("incidents", *[Fault(status=502)] * 4)
    with pytest.raises(CommandError, match="failed after 4 attempts; last: HTTP 502"):
        call_command("import_pagerduty", *RANGE, stdout=StringIO())
    cursor = ImportCursor.objects.get()
    assert cursor.last_until is None and "HTTP 502" in cursor.last_error and cursor.running_since is None
    # Run again once the server is back: everything comes in.
    call_command("import_pagerduty", *RANGE, stdout=StringIO())
    assert Incident.objects.count() == 25


def test_the_import_maps_to_an_existing_service_of_the_same_name(pagerduty, services):
    pagerduty.add_incident("PONE", created=T0, service=("PSVCX", "payments"))
    call_command("import_pagerduty", *RANGE, stdout=StringIO())
    assert list(Incident.objects.get().services.all()) == [services["payments"]]
    assert Service.objects.count() == 2


def test_the_beat_task_imports_from_the_cursor_and_does_nothing_without_a_token(pagerduty, settings):
    build_month(pagerduty)
    ImportCursor.objects.create(source="pagerduty", last_until=datetime(2026, 3, 20, 9, 0, tzinfo=UTC))
    summary = import_pagerduty.apply().get()
    # Created from 08:50 (cursor less 10 minutes): PINC061/062… and PRAISED; open older ones followed.
    assert "row(s) written" in summary
    assert Incident.objects.filter(source_ref="pagerduty:PRAISED").exists()
    assert not Incident.objects.filter(source_ref="pagerduty:PINC000").exists()
    settings.PAGERDUTY_TOKEN = ""
    assert import_pagerduty.apply().get() is None


def test_beat_schedules_the_import_only_once_a_token_is_set(tmp_path):
    import os
    import subprocess
    import sys

    from django.conf import settings as django_settings

    code = "from django.conf import settings as s; print(s.CELERY_BEAT_SCHEDULE.get('pagerduty-import'))"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "BEACON_VAR_DIR": str(tmp_path)}
    env.pop("PAGERDUTY_TOKEN", None)
    run = [sys.executable, "-c", "import django; django.setup(); " + code]
    off = subprocess.run(run, env=env, cwd=django_settings.BASE_DIR, capture_output=True, text=True, check=True)
    assert off.stdout.strip() == "None"
    env |= {"PAGERDUTY_TOKEN": "x", "PAGERDUTY_IMPORT_MINUTES": "15"}
    on = subprocess.run(run, env=env, cwd=django_settings.BASE_DIR, capture_output=True, text=True, check=True)
    assert "'task': 'intake.tasks.import_pagerduty'" in on.stdout and "'schedule': 900" in on.stdout
    env |= {"PAGERDUTY_PRIORITY_SEVERITY": "P1:one"}
    bad = subprocess.run(run, env=env, cwd=django_settings.BASE_DIR, capture_output=True, text=True)
    assert bad.returncode != 0 and "PAGERDUTY_PRIORITY_SEVERITY must look like" in bad.stderr


def test_import_workers_write_the_same_record_as_one(pagerduty, settings, transactional_db, mailbox):
    """On PostgreSQL each page is shared out to worker threads (SQLite runs them one after the other)."""
    settings.PAGERDUTY_IMPORT_WORKERS = 3
    build_month(pagerduty)
    call_command("import_pagerduty", *RANGE, stdout=StringIO())
    assert Incident.objects.count() == 25 and Incident.objects.filter(status="resolved").count() == 21
    assert Incident.objects.get(source_ref="pagerduty:PRAISED").severity == 1
    assert IncidentUpdate.objects.count() == 25 + 25 + 1 + 21 + 11  # opened, acknowledged, P1, resolved, notes
    again = StringIO()
    call_command("import_pagerduty", *RANGE, stdout=again)
    assert "0 row(s) written" in again.getvalue()
    assert mailbox.messages == []
