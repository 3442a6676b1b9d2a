"""Reads that join or aggregate incidents: what pages, the API and the report need."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from . import history
from .choices import OPEN_STATUSES
from .history import SeverityPeriod
from .models import Incident, IncidentUpdate, Service, service_status_for


@dataclass(frozen=True)
class IncidentFilters:
    """Filters shared by the incident list, the timeline and the API."""

    start: datetime | None = None
    end: datetime | None = None
    service: str = ""  # slug
    severity: int | None = None
    status: str = ""  # a status, or "open"
    q: str = ""


def incidents_overlapping(qs: QuerySet, *, start: datetime | None, end: datetime | None) -> QuerySet:
    """Incidents that started before ``end`` and were not resolved before ``start``."""
    if end is not None:
        qs = qs.filter(started_at__lt=end)
    if start is not None:
        qs = qs.filter(Q(resolved_at__isnull=True) | Q(resolved_at__gte=start))
    return qs


def incident_list(*, filters: IncidentFilters) -> QuerySet:
    """Incidents matching the filters, newest first, with what a list row shows prefetched."""
    qs = Incident.objects.select_related("engineer").prefetch_related(
        Prefetch("services", queryset=Service.objects.only("id", "slug", "name"))
    )
    qs = incidents_overlapping(qs, start=filters.start, end=filters.end)
    if filters.service:
        qs = qs.filter(services__slug=filters.service)
    if filters.severity:
        qs = qs.filter(severity=filters.severity)
    if filters.status == "open":
        qs = qs.filter(status__in=OPEN_STATUSES)
    elif filters.status:
        qs = qs.filter(status=filters.status)
    if filters.q:
        term = filters.q.strip()
        qs = qs.filter(Q(title__icontains=term) | Q(description__icontains=term) | Q(ticket__iexact=term))
    return qs.order_by("-started_at", "-id")


def incident_detail(*, ticket: str) -> Incident:
    return (
        Incident.objects.select_related("engineer", "reported_by")
        .prefetch_related("services", Prefetch("updates", queryset=IncidentUpdate.objects.select_related("author")))
        .get(ticket__iexact=ticket.strip())
    )


def open_incidents() -> QuerySet:
    return (
        Incident.objects.filter(status__in=OPEN_STATUSES)
        .select_related("engineer")
        .prefetch_related("services")
        .order_by("severity", "started_at")
    )


def services_with_status() -> list[tuple[Service, str]]:
    """Every active service and its status from open incidents (two queries in all)."""
    services = list(Service.objects.filter(is_active=True))
    open_sev: dict[int, list[int]] = defaultdict(list)
    rows = Incident.services.through.objects.filter(incident__status__in=OPEN_STATUSES).values_list(
        "service_id", "incident__severity"
    )
    for service_id, severity in rows:
        open_sev[service_id].append(severity)
    return [(service, service_status_for(open_sev.get(service.pk, []))) for service in services]


def severity_periods(incident: Incident, updates: list | None = None) -> list[SeverityPeriod]:
    """The incident's history as periods at one severity while it was open, in effective
    time (see ``incidents.history``). ``updates`` may be model instances or any rows with
    ``id``, ``kind``, ``sets_severity`` and ``effective_at``."""
    if updates is None:
        updates = list(incident.updates.all())
    return history.severity_periods(updates, started_at=incident.started_at, resolved_at=incident.resolved_at)


def time_at_severity(incident: Incident, *, now: datetime | None = None) -> dict[int, float]:
    """Seconds spent at each severity (ongoing periods count up to ``now``)."""
    now = now or timezone.now()
    totals: dict[int, float] = defaultdict(float)
    for period in severity_periods(incident):
        totals[period.severity] += ((period.end or now) - period.start).total_seconds()
    return dict(totals)
