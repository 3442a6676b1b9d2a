"""Factories for the report tests: incidents with a severity history, 5xx series."""

from datetime import UTC, datetime

import pytest

from incidents import services as svc

# A fixed, finished month in the past; March 2025 in Europe/London has 743 hours.
MONTH = "2025-03"


def at(day: int, hour: int, minute: int = 0, month: int = 3, year: int = 2025) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def make_incident(
    *, by, services, title="Checkout down", severity=1, start, raise_to=None, resolve=None, ticket_note=""
):
    """Open an incident at ``start``; ``raise_to=(severity, when)``; resolve at ``resolve``."""
    incident = svc.incident_open(
        title=title, severity=severity, services=services, by=by, started_at=start, now=start, notify=False
    )
    if raise_to:
        new_severity, when = raise_to
        svc.incident_update(incident=incident, message="Severity changed", severity=new_severity, by=by, now=when,
                            notify=False)  # fmt: skip
    if resolve:
        svc.incident_resolve(incident=incident, message="Fixed", resolved_at=resolve, by=by, now=resolve, notify=False)
    incident.refresh_from_db()
    return incident


def make_5xx_series(service, *, key=None):
    from metrics.models import MetricSeries, MetricSource

    source, _ = MetricSource.objects.get_or_create(name="prom", defaults={"kind": "prometheus",
                                                                          "base_url": "http://prom.test"})  # fmt: skip
    return MetricSeries.objects.create(
        key=key or f"{service.slug}-5xx", label=f"{service.name} 5xx", source=source, service=service, role="http_5xx"
    )


def add_samples(series, points):
    """Through the ingest service, which also keeps the hourly aggregates the report reads."""
    from metrics.services.ingest import samples_upsert

    samples_upsert(points=[(series.pk, ts, value) for ts, value in points])


def add_gap(series, start, end):
    from metrics.models import PollResult

    PollResult.objects.create(series=series, window_start=start, window_end=end, status="no_data", polled_at=end)


@pytest.fixture(autouse=True)
def _fresh_report_cache(settings):
    """Previews are cached by a fingerprint of the data; ids restart between tests, so each test
    gets an empty in-memory cache (never a flush of a shared Redis database)."""
    from django.core.cache import cache

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "reports-tests"}}  # fmt: skip
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def report_tz(settings):
    settings.REPORT_TIME_ZONE = "Europe/London"
    return "Europe/London"
