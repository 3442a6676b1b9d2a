"""Factories for the dashboard tests: incidents made through the real service functions."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import services as incident_services


@pytest.fixture
def make_incident(services, helpdesk_user):
    """Open (and optionally resolve) an incident at given past times, without emails."""
    counter = {"n": 0}

    def make(
        *,
        started_at,
        resolved_at=None,
        severity=3,
        on=("web",),
        engineer=None,
        title=None,
        description="",
        updates=(),
    ):
        counter["n"] += 1
        incident = incident_services.incident_open(
            title=title or f"Incident number {counter['n']}",
            severity=severity,
            services=[services[slug] for slug in on],
            description=description,
            engineer=engineer,
            started_at=started_at,
            by=helpdesk_user,
            now=started_at,
            notify=False,
        )
        at = started_at
        for update in updates:
            at = update.get("at", at + timedelta(minutes=5))
            incident_services.incident_update(
                incident=incident,
                message=update.get("message", "Still working on it."),
                severity=update.get("severity"),
                status=update.get("status"),
                by=helpdesk_user,
                now=at,
                notify=False,
            )
        if resolved_at is not None:
            incident_services.incident_resolve(
                incident=incident, message="Fixed.", resolved_at=resolved_at, by=helpdesk_user, now=resolved_at,
                notify=False,
            )  # fmt: skip
        incident.refresh_from_db()
        return incident

    return make


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)
