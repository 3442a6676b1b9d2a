"""Opening an incident with its whole known log in one call (imports): the same record, the
same rules and the same report marks as opening it and applying each change through its
own service, and nothing written when any step is refused."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models.signals import post_save
from django.test.utils import CaptureQueriesContext

from incidents import services as svc
from incidents.choices import MESSAGE_MAX_LENGTH
from incidents.models import Incident
from reports import services as report_services
from reports.models import MonthlyReport
from reports.uptime import Month

from .conftest import counts

T0 = datetime(2025, 3, 10, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
Step = svc.LogStep

INCIDENT_FIELDS = (
    "title", "description", "severity", "status", "engineer_id", "external_url", "started_at", "resolved_at",
    "reported_by_id", "extra_recipients", "source", "version",
)  # fmt: skip
UPDATE_FIELDS = (
    "kind", "status", "severity", "message", "changes", "author_id", "effective_at", "created_at", "sets_severity",
    "version", "source_ref", "visibility", "notify", "recipients_at",
)  # fmt: skip


@pytest.fixture(autouse=True)
def _utc(settings):
    settings.TIME_ZONE = "UTC"
    settings.REPORT_TIME_ZONE = "UTC"


def opening(services, **overrides):
    fields = {
        "title": "Checkout returns 502",
        "severity": 3,
        "services": [services["web"], services["payments"], services["web"]],
        "by": None,
        "description": "Imported from another tool",
        "external_url": "https://tool.example.com/incidents/1",
        "started_at": T0,
        "message": "Triggered",
        "now": T0 + 5 * MINUTE,  # typed a little after it began: reports of March are marked
        "source": "other-tool",
    }
    return fields | overrides


# Every kind of change, several back-dated (typed later than they took effect).
LOG = [
    Step("updated", "Acknowledged", T0 + 2 * MINUTE, T0 + 6 * MINUTE),
    Step("updated", "Checkout down for all", T0 + 10 * MINUTE, T0 + 90 * MINUTE, severity=1, source_ref="x:1"),
    Step("updated", "Cause found", T0 + 20 * MINUTE, T0 + 91 * MINUTE, status="identified"),
    Step("updated", "Still Sev 1", T0 + 25 * MINUTE, T0 + 92 * MINUTE, severity=1),  # no change
    Step("updated", "Earlier it was only Sev 2", T0 + 5 * MINUTE, T0 + 93 * MINUTE, severity=2),
    Step("resolved", "  Rolled back  ", T0 + 60 * MINUTE, T0 + 120 * MINUTE, source_ref="x:2"),
    Step("reopened", "Back again", T0 + 130 * MINUTE, T0 + 131 * MINUTE, severity=2),
    Step("updated", "Monitoring", T0 + 140 * MINUTE, T0 + 141 * MINUTE, status="monitoring"),
    Step("resolved", "Fixed for good", T0 + 150 * MINUTE, T0 + 200 * MINUTE),
]


def step_by_step(log, **fields) -> Incident:
    """What ``incident_open_with_log`` stands for: open, then each step through its own service."""
    incident = svc.incident_open(**fields, notify=False)
    for step in log:
        common = {"incident": incident, "message": step.message, "by": None, "now": step.created_at}
        common |= {"source_ref": step.source_ref, "notify": False}
        if step.kind == "resolved":
            update = svc.incident_resolve(**common, resolved_at=step.effective_at)
        elif step.kind == "reopened":
            update = svc.incident_reopen(**common, effective_at=step.effective_at, severity=step.severity)
        else:
            update = svc.incident_update(
                **common, effective_at=step.effective_at, severity=step.severity, status=step.status
            )
        incident = update.incident
    return incident


def record(incident: Incident) -> dict:
    incident = Incident.objects.get(pk=incident.pk)
    return {
        "incident": {name: getattr(incident, name) for name in INCIDENT_FIELDS},
        "ticket": incident.ticket,
        "services": sorted(incident.services.values_list("slug", flat=True)),
        "updates": [{name: getattr(u, name) for name in UPDATE_FIELDS} for u in incident.updates.order_by("id")],
    }


def test_one_call_writes_what_opening_and_each_service_call_would_and_marks_the_same_reports(services):
    march = report_services.report_generate(month=Month(2025, 3))
    stepped = record(step_by_step(LOG, **opening(services, source_ref="x:stepped")))
    march.refresh_from_db()
    stepped_mark = march.out_of_date_since
    MonthlyReport.objects.filter(pk=march.pk).update(out_of_date_since=None)

    bulk = svc.incident_open_with_log(log=LOG, **opening(services, source_ref="x:bulk"))

    assert record(bulk) == stepped | {"ticket": bulk.ticket}
    assert bulk.ticket == f"INC-{bulk.pk:06d}"
    march.refresh_from_db()
    assert march.out_of_date_since == stepped_mark == T0 + 5 * MINUTE  # the first write that changed March
    # What a reader sees, spelled out: Sev 2 from 10:05, Sev 1 from 10:10, closed 10:00–12:30.
    final = record(bulk)
    incident = final["incident"]
    assert (incident["status"], incident["severity"], incident["version"]) == ("resolved", 2, 8)
    assert incident["resolved_at"] == T0 + 150 * MINUTE
    assert final["services"] == ["payments", "web"]
    log = [
        (u["kind"], u["status"], u["severity"], u["sets_severity"], u["version"], u["changes"])
        for u in final["updates"]
    ]
    assert log == [
        ("opened", "investigating", 3, 3, 1, {}),
        ("updated", "investigating", 3, None, 1, {}),
        ("updated", "investigating", 1, 1, 2, {"severity": [3, 1]}),
        ("updated", "identified", 1, None, 3, {"status": ["investigating", "identified"]}),
        ("updated", "identified", 1, None, 3, {}),
        ("updated", "identified", 2, 2, 4, {"severity": [3, 2]}),
        ("resolved", "resolved", 1, None, 5, {"status": ["identified", "resolved"]}),
        (
            "reopened",
            "investigating",
            2,
            2,
            6,
            {
                "status": ["resolved", "investigating"],
                "resolved_at": [(T0 + 60 * MINUTE).isoformat(), None],
                "severity": [1, 2],
            },
        ),
        ("updated", "monitoring", 2, None, 7, {"status": ["investigating", "monitoring"]}),
        ("resolved", "resolved", 2, None, 8, {"status": ["monitoring", "resolved"]}),
    ]
    assert final["updates"][6]["message"] == "Rolled back"
    assert not any(u["notify"] for u in final["updates"])


@pytest.mark.parametrize(
    ("field", "overrides", "log"),
    [
        ("resolved_at", {}, [Step("updated", "Note", T0 + 30 * MINUTE, T0 + 30 * MINUTE),
                             Step("resolved", "Fixed", T0 + 20 * MINUTE, T0 + 40 * MINUTE)]),
        ("effective_at", {}, [Step("updated", "From the future", datetime(2999, 1, 1, tzinfo=UTC), T0 + MINUTE)]),
        ("effective_at", {}, [Step("updated", "Before it began", T0 - MINUTE, T0 + MINUTE, severity=1)]),
        ("message", {}, [Step("updated", "x" * (MESSAGE_MAX_LENGTH + 1), T0 + MINUTE, T0 + MINUTE)]),
        ("message", {}, [Step("resolved", "   ", T0 + MINUTE, T0 + MINUTE)]),
        ("severity", {}, [Step("updated", "Worse", T0 + MINUTE, T0 + MINUTE, severity=0)]),
        ("status", {}, [Step("resolved", "Fixed", T0 + MINUTE, T0 + MINUTE),
                        Step("updated", "A note", T0 + 2 * MINUTE, T0 + 2 * MINUTE)]),
        ("status", {}, [Step("reopened", "Again", T0 + MINUTE, T0 + MINUTE)]),
        ("external_url", {"external_url": "javascript:alert(1)"}, []),
        ("started_at", {"started_at": datetime(2999, 1, 1, tzinfo=UTC)}, []),
        ("title", {"title": " \n\t "}, []),
    ],
)  # fmt: skip
def test_a_step_refused_by_its_service_is_refused_here_and_nothing_is_written(services, field, overrides, log):
    before = counts()
    with pytest.raises(ValidationError) as refused:
        svc.incident_open_with_log(log=log, **opening(services, **overrides))
    assert field in refused.value.message_dict
    assert counts() == before
    # The step-by-step services refuse the same thing.
    with pytest.raises(ValidationError) as stepped:
        step_by_step(log, **opening(services, **overrides))
    assert set(stepped.value.message_dict) == set(refused.value.message_dict)


def test_a_title_is_one_line_and_a_severity_change_after_the_resolution_is_left_to_a_correction(services):
    incident = svc.incident_open_with_log(log=[], **opening(services, title="Checkout\nreturns\t502"))
    assert Incident.objects.get(pk=incident.pk).title == "Checkout returns 502"
    log = [
        Step("resolved", "Fixed", T0 + 30 * MINUTE, T0 + 30 * MINUTE),
        Step("updated", "It was Sev 1", T0 + 10 * MINUTE, T0 + 40 * MINUTE, severity=1),
    ]
    before = counts()
    with pytest.raises(ValueError, match="correction"):
        svc.incident_open_with_log(log=log, **opening(services, source_ref="x:corrected"))
    assert counts() == before


def test_incidents_built_with_their_logs_are_written_together_in_four_queries(services):
    heard = []

    def saved(sender, instance, created, **kwargs):
        heard.append((instance.ticket, created))

    before = counts()
    built = [
        svc.incident_build_with_log(log=LOG[:1], **opening(services, now=T0, source_ref=f"x:{n}")) for n in range(3)
    ]
    assert counts() == before  # building writes nothing

    post_save.connect(saved, sender=Incident, dispatch_uid="test-incidents-create")
    try:
        with CaptureQueriesContext(connection) as queries:
            incidents = svc.incidents_create(built)
    finally:
        post_save.disconnect(sender=Incident, dispatch_uid="test-incidents-create")

    assert len(queries) == 4  # incidents, their services, their logs, their tickets
    tickets = [f"INC-{incident.pk:06d}" for incident in incidents]
    assert [record(incident)["ticket"] for incident in incidents] == tickets
    # The cached /status/ page (a post_save receiver) hears of each, with its final ticket.
    assert heard == [(ticket, True) for ticket in tickets]
    stepped = record(step_by_step(LOG[:1], **opening(services, now=T0, source_ref="x:stepped")))
    for incident in incidents:
        assert record(incident)["updates"] == stepped["updates"]
        assert record(incident)["incident"] == stepped["incident"]
