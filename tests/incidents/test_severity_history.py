"""The severity history the availability report is computed from."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from incidents import services as svc
from incidents.selectors import SeverityPeriod, severity_periods, time_at_severity

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def history(services, helpdesk_user):
    """Opened at 10:00 for an outage that began at 08:00 (Sev 2); raised to Sev 1 at 11:00,
    lowered to Sev 3 at 12:00, resolved at 13:00, reopened at Sev 2 at 15:00, resolved at 16:00."""
    incident = svc.incident_open(
        title="Payments flapping",
        severity=2,
        services=[services["payments"]],
        started_at=T0,
        now=T0 + 2 * HOUR,
        by=helpdesk_user,
        notify=False,
    )
    svc.incident_update(
        incident=incident, message="Worse", severity=1, by=helpdesk_user, now=T0 + 3 * HOUR, notify=False
    )
    svc.incident_update(
        incident=incident, message="Better", severity=3, by=helpdesk_user, now=T0 + 4 * HOUR, notify=False
    )
    svc.incident_resolve(incident=incident, message="Fixed", by=helpdesk_user, now=T0 + 5 * HOUR, notify=False)
    svc.incident_reopen(incident=incident, message="Back", severity=2, by=helpdesk_user, now=T0 + 7 * HOUR)
    svc.incident_resolve(incident=incident, message="Fixed again", by=helpdesk_user, now=T0 + 8 * HOUR, notify=False)
    incident.refresh_from_db()
    return incident


def test_severity_periods_follow_raises_lowers_closes_and_reopens(history):
    assert severity_periods(history) == [
        SeverityPeriod(2, T0, T0 + 3 * HOUR),  # from the start of impact, not from when it was filed
        SeverityPeriod(1, T0 + 3 * HOUR, T0 + 4 * HOUR),
        SeverityPeriod(3, T0 + 4 * HOUR, T0 + 5 * HOUR),
        SeverityPeriod(2, T0 + 7 * HOUR, T0 + 8 * HOUR),  # the resolved gap is not counted
    ]


def test_time_at_severity_adds_up_the_periods(history):
    assert time_at_severity(history) == {2: 4 * 3600, 1: 3600, 3: 3600}


def test_an_ongoing_incident_counts_up_to_now(services, helpdesk_user):
    incident = svc.incident_open(
        title="Still down",
        severity=1,
        services=[services["web"]],
        started_at=T0,
        now=T0,
        by=helpdesk_user,
        notify=False,
    )
    svc.incident_update(
        incident=incident, message="Less bad", severity=2, by=helpdesk_user, now=T0 + HOUR, notify=False
    )
    assert severity_periods(incident)[-1] == SeverityPeriod(2, T0 + HOUR, None)
    assert time_at_severity(incident, now=T0 + 3 * HOUR) == {1: 3600, 2: 2 * 3600}


def test_an_update_that_keeps_the_severity_does_not_split_a_period(services, helpdesk_user):
    incident = svc.incident_open(
        title="Slow", severity=3, services=[services["web"]], started_at=T0, now=T0, by=helpdesk_user, notify=False
    )
    svc.incident_update(
        incident=incident, message="Looking", status="identified", by=helpdesk_user, now=T0 + HOUR, notify=False
    )
    svc.incident_resolve(incident=incident, message="Done", by=helpdesk_user, now=T0 + 2 * HOUR, notify=False)
    assert severity_periods(incident) == [SeverityPeriod(3, T0, T0 + 2 * HOUR)]


def test_a_severity_change_through_an_edit_is_part_of_the_history(services, helpdesk_user):
    incident = svc.incident_open(
        title="Edited", severity=3, services=[services["web"]], started_at=T0, now=T0, by=helpdesk_user, notify=False
    )
    svc.incident_edit(incident=incident, severity=1, by=helpdesk_user, now=T0 + HOUR)
    assert [p.severity for p in severity_periods(incident)] == [3, 1]


def test_the_history_is_shown_on_the_incident_page(client, helpdesk_user, history):
    client.force_login(helpdesk_user)
    page = client.get(f"/incidents/{history.ticket}/").content.decode()
    assert "Severity history" in page
    assert "2025-03-03 08:00" in page and "2025-03-03 16:00" in page


def test_the_update_log_is_append_only_and_complete(history):
    rows = list(history.updates.values_list("kind", "severity", "status", "version"))
    assert rows == [
        ("opened", 2, "investigating", 1),
        ("updated", 1, "investigating", 2),
        ("updated", 3, "investigating", 3),
        ("resolved", 3, "resolved", 4),
        ("reopened", 2, "investigating", 5),
        ("resolved", 2, "resolved", 6),
    ]


def test_a_close_before_the_last_update_is_refused(services, helpdesk_user):
    incident = svc.incident_open(
        title="Order", severity=2, services=[services["web"]], started_at=T0, now=T0, by=helpdesk_user, notify=False
    )
    svc.incident_update(incident=incident, message="Later", by=helpdesk_user, now=T0 + 2 * HOUR, notify=False)
    with pytest.raises(ValidationError) as error:
        svc.incident_resolve(
            incident=incident, message="Fixed", resolved_at=T0 + HOUR, by=helpdesk_user, now=T0 + 3 * HOUR, notify=False
        )
    assert "before its last update" in error.value.message_dict["resolved_at"][0]
