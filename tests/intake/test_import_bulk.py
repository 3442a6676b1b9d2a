"""An incident new to Beacon is written with its whole PagerDuty log in one call; the record
must be the one the step-by-step services wrote before, field by field."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEntry
from incidents.models import Incident, IncidentUpdate, Service
from intake import services as intake_services
from intake.models import ImportCursor, ServiceLink

from .conftest import T0, z

pytestmark = pytest.mark.django_db

RANGE = ["--since", "2026-03-01", "--until", "2026-03-31"]
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
LONG_TITLE = "Disk full\non db-1\t" * 600_000  # 10.8 MB over many lines

INCIDENT_FIELDS = (
    "title", "description", "severity", "status", "engineer_id", "external_url", "started_at", "resolved_at",
    "reported_by_id", "extra_recipients", "source", "source_ref", "version",
)  # fmt: skip
UPDATE_FIELDS = (
    "kind", "status", "severity", "message", "changes", "author_id", "effective_at", "created_at", "sets_severity",
    "version", "source_ref", "visibility", "notify", "recipients_at",
)  # fmt: skip


def build_stories(fake):
    """One PagerDuty incident for each way the import reads a log."""
    fake.add_incident("PACK", created=T0, priority="P2")
    fake.acknowledge("PACK", T0 + 3 * MINUTE)
    fake.resolve("PACK", T0 + 30 * MINUTE)
    # Raised P3 → P1, a note, resolved.
    start = T0 + HOUR
    fake.add_incident("PRAISE", created=start, priority="P3", service=("PSVC2", "Search"))
    fake.change_priority("PRAISE", start + 10 * MINUTE, "P1")
    note = {"type": "web_trigger", "summary": "Rolling back the deploy"}
    fake.entry("PRAISE", "annotate_log_entry", start + 12 * MINUTE, channel=note)
    fake.resolve("PRAISE", start + 40 * MINUTE)
    # Still open: acknowledged twice; no priority, low urgency.
    start = T0 + 2 * HOUR
    fake.add_incident("POPEN", created=start, priority=None, urgency="low")
    fake.acknowledge("POPEN", start + MINUTE)
    fake.acknowledge("POPEN", start + 9 * MINUTE)
    # Resolved, triggered again, resolved again.
    start = T0 + 3 * HOUR
    fake.add_incident("PTWICE", created=start, priority="P1", service=("PSVC2", "Search"))
    fake.resolve("PTWICE", start + 10 * MINUTE)
    fake.entry("PTWICE", "trigger_log_entry", start + 20 * MINUTE, summary="Triggered again by Checkout API")
    fake.resolve("PTWICE", start + 50 * MINUTE)
    # Resolved, then acknowledged (open again in PagerDuty) and left open.
    start = T0 + 4 * HOUR
    fake.add_incident("PACKED", created=start, priority="P4")
    fake.resolve("PACKED", start + 10 * MINUTE)
    fake.acknowledge("PACKED", start + 15 * MINUTE)
    # Priority lowered after the resolution: nothing to count.
    start = T0 + 5 * HOUR
    fake.add_incident("PLATE", created=start, priority="P1")
    fake.resolve("PLATE", start + 10 * MINUTE)
    fake.change_priority("PLATE", start + 20 * MINUTE, "P4")
    # Priority raised in the very second of the resolution, listed after it: a correction.
    start = T0 + 6 * HOUR
    fake.add_incident("PCORR", created=start, priority="P3")
    fake.resolve("PCORR", start + 10 * MINUTE)
    fake.change_priority("PCORR", start + 10 * MINUTE, "P1")
    # Resolved in PagerDuty but its log stops before the resolve.
    start = T0 + 7 * HOUR
    fake.add_incident("PCUT", created=start, priority="P2")
    fake.acknowledge("PCUT", start + 2 * MINUTE)
    fake.incidents["PCUT"].update(status="resolved", resolved_at=z(start + 25 * MINUTE))
    # The log ends resolved, PagerDuty shows it triggered again.
    start = T0 + 8 * HOUR
    fake.add_incident("PAGAIN", created=start, priority="P2")
    fake.resolve("PAGAIN", start + 5 * MINUTE)
    fake.incidents["PAGAIN"].update(status="triggered", resolved_at=None, last_status_change_at=z(start + 30 * MINUTE))
    # A 10 MB title over many lines, and a note without text.
    start = T0 + 9 * HOUR
    fake.add_incident("PHUGE", created=start, title=LONG_TITLE, priority="P3")
    fake.entry("PHUGE", "annotate_log_entry", start + MINUTE, summary="", channel={"type": "web_trigger"})


def record() -> dict:
    """Every imported incident and its log, by source ref, without ids and wall-clock times."""
    found = {}
    for incident in Incident.objects.prefetch_related("services").order_by("source_ref"):
        found[incident.source_ref] = {
            **{name: getattr(incident, name) for name in INCIDENT_FIELDS},
            "ticket is its number": incident.ticket == f"INC-{incident.pk:06d}",
            "services": sorted(s.slug for s in incident.services.all()),
            "updates": [{name: getattr(u, name) for name in UPDATE_FIELDS} for u in incident.updates.order_by("id")],
        }
    return found


class OneByOne(intake_services._New):
    """Every change of a new incident through the services at once, as the import did before it
    gathered them (the way it still takes for an incident whose log holds a correction): from
    its first change on, so every story above has one."""

    def write(self, step):
        raise intake_services._Correction(step.source_ref)


def import_range() -> str:
    out = StringIO()
    call_command("import_pagerduty", *RANGE, stdout=out)
    return ImportCursor.objects.get().last_summary


def forget_the_import():
    Incident.objects.all().delete()
    ServiceLink.objects.all().delete()
    Service.objects.all().delete()
    ImportCursor.objects.all().delete()


def test_new_incidents_written_in_one_call_are_those_the_services_wrote_one_change_at_a_time(
    pagerduty, monkeypatch, mailbox
):
    build_stories(pagerduty)
    with monkeypatch.context() as patch:
        patch.setattr(intake_services, "_New", OneByOne)
        stepped_summary = import_range()
    stepped = record()
    stepped_corrections = AuditEntry.objects.filter(action="incident_correction").count()
    forget_the_import()

    with CaptureQueriesContext(connection) as queries:
        summary = import_range()
    bulk = record()
    log_inserts = [q for q in queries if q["sql"].startswith('INSERT INTO "incidents_incidentupdate"')]
    # One for the logs of the nine new incidents written together; PCORR's three (its log
    # holds a correction) go through the services one at a time.
    assert len(log_inserts) == 1 + 3

    assert summary == stepped_summary
    assert "10 new, 20 update(s) (9 resolved, 3 reopened)" in summary and "1 skipped" in summary
    assert bulk.keys() == stepped.keys() and len(bulk) == 10
    for ref in stepped:
        assert bulk[ref] == stepped[ref], ref
    assert AuditEntry.objects.filter(action="incident_correction").count() == 2 * stepped_corrections == 2
    assert mailbox.messages == []

    # The record a reader checks, spelled out for three of them.
    raised = bulk["pagerduty:PRAISE"]
    assert (raised["status"], raised["severity"], raised["version"]) == ("resolved", 1, 3)
    assert raised["resolved_at"] == T0 + HOUR + 40 * MINUTE and raised["services"] == ["search"]
    columns = ("kind", "status", "severity", "sets_severity", "version", "changes", "message")
    assert [tuple(u[c] for c in columns) for u in raised["updates"]] == [
        ("opened", "investigating", 3, 3, 1, {}, "Triggered through the API by Search"),
        ("updated", "investigating", 1, 1, 2, {"severity": [3, 1]}, 'Priority changed from "P3" to "P1"'),
        ("updated", "investigating", 1, None, 2, {}, "Rolling back the deploy"),
        ("resolved", "resolved", 1, None, 3, {"status": ["investigating", "resolved"]}, "Resolved by Ada Oncall"),
    ]
    assert [u["effective_at"] - T0 for u in raised["updates"]] == [
        HOUR,
        HOUR + 10 * MINUTE,
        HOUR + 12 * MINUTE,
        HOUR + 40 * MINUTE,
    ]
    assert all(u["created_at"] == u["effective_at"] for u in raised["updates"])
    refs = ["", "pagerduty:PRAISE:LE000005", "pagerduty:PRAISE:LE000006", "pagerduty:PRAISE:LE000007"]
    assert [u["source_ref"] for u in raised["updates"]] == refs
    twice = bulk["pagerduty:PTWICE"]
    assert [(u["kind"], u["version"]) for u in twice["updates"]] == [
        ("opened", 1),
        ("resolved", 2),
        ("reopened", 3),
        ("resolved", 4),
    ]
    assert twice["updates"][2]["changes"] == {
        "status": ["resolved", "investigating"],
        "resolved_at": [(T0 + 3 * HOUR + 10 * MINUTE).isoformat(), None],
    }
    assert twice["resolved_at"] == T0 + 3 * HOUR + 50 * MINUTE
    huge = bulk["pagerduty:PHUGE"]
    assert huge["title"] == ("Disk full on db-1 " * 12)[:200].strip() and huge["status"] == "investigating"
    assert huge["updates"][1]["message"] == "Note in PagerDuty by Ada Oncall."

    # A second run writes nothing.
    assert "0 row(s) written" in import_range()
    assert record() == bulk


def test_a_log_entry_refused_by_the_services_leaves_nothing_of_its_incident(pagerduty):
    pagerduty.add_incident("PFINE", created=T0, priority="P2")
    pagerduty.resolve("PFINE", T0 + 30 * MINUTE)
    pagerduty.add_incident("PNOTE", created=T0 + HOUR, priority="P2")
    pagerduty.acknowledge("PNOTE", T0 + HOUR + MINUTE)
    note = {"type": "web_trigger", "summary": "x" * 10_001}  # over MESSAGE_MAX_LENGTH
    pagerduty.entry("PNOTE", "annotate_log_entry", T0 + HOUR + 2 * MINUTE, channel=note)
    pagerduty.resolve("PNOTE", T0 + HOUR + 30 * MINUTE)

    out = StringIO()
    call_command("import_pagerduty", *RANGE, stdout=out)

    assert list(Incident.objects.values_list("source_ref", flat=True)) == ["pagerduty:PFINE"]
    assert IncidentUpdate.objects.count() == 2
    assert "Skipped PagerDuty incident PNOTE (#2): At most 10,000 characters (this one has 10,001)." in out.getvalue()


def test_an_incident_without_a_valid_start_is_refused_before_anything_is_written(pagerduty):
    item = pagerduty.add_incident("PBAD", created=T0, priority="P2")
    item = item | {"created_at": "yesterday"}
    with pytest.raises(ValidationError, match="has no valid created_at"):
        intake_services.pagerduty_incident_apply(incident=item, entries=pagerduty.entries["PBAD"], looked_up=True)
    assert Incident.objects.count() == IncidentUpdate.objects.count() == 0


def test_a_new_incident_and_its_log_cost_four_queries(pagerduty):
    pagerduty.add_incident("PQ", created=T0, priority="P3")
    pagerduty.change_priority("PQ", T0 + 4 * MINUTE, "P1")
    pagerduty.resolve("PQ", T0 + 20 * MINUTE)
    cache = {}
    intake_services.service_for(pagerduty.incidents["PQ"]["service"], intake_services.Counts(), cache)

    with CaptureQueriesContext(connection) as queries:
        counts = intake_services.pagerduty_incident_apply(
            incident=pagerduty.incidents["PQ"], entries=pagerduty.entries["PQ"], looked_up=True, service_cache=cache
        )

    assert (counts.incidents, counts.updates) == (1, 2)
    assert len(queries) == 4, [q["sql"][:80] for q in queries]  # incident, its services, its log, its ticket
    assert Incident.objects.get().severity == 1
