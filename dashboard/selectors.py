"""Reads behind `/`, the timeline API and `/status/`.

Every function here runs a fixed number of queries whatever the number of incidents:
the timeline is two queries (incidents with their engineer, then their services), and
rows are plain values, not model instances, so a 90-day range over years of history
costs little more than the SQL that fetches it.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from config.api import http_url, time_problem
from incidents.choices import OUTAGE_SEVERITIES, ServiceStatus, Status, Visibility
from incidents.models import Incident, IncidentUpdate
from incidents.selectors import IncidentFilters, incident_list, open_incidents
from maintenance import selectors as maintenance_selectors
from reports.uptime import union_seconds, uptime_percent

_TIMELINE_COLUMNS = (
    "id",
    "ticket",
    "title",
    "severity",
    "status",
    "engineer__username",
    "engineer__first_name",
    "engineer__last_name",
    "started_at",
    "resolved_at",
    "description",
    "external_url",
)


@dataclass
class Timeline:
    """Incidents overlapping a range, newest first; ``truncated`` when capped at the limit.

    ``rows`` are named tuples (``id``, ``ticket``, ``title``, ``severity``, ``status``,
    ``engineer__username``, ``engineer__first_name``, ``engineer__last_name``,
    ``started_at``, ``resolved_at``, ``description``, ``external_url``), not model
    instances: with thousands of rows, building objects would cost more than the query.
    ``services`` maps an incident id to its service slugs (ordered by name).
    """

    start: datetime
    end: datetime
    rows: list
    truncated: bool
    services: dict[int, list[str]] = field(default_factory=dict)
    service_names: dict[str, str] = field(default_factory=dict)  # slug -> name
    # Planned maintenance in the range (drawn apart from incidents; never part of ``rows``).
    maintenance: maintenance_selectors.Windows = field(default_factory=maintenance_selectors.Windows)

    @property
    def is_empty(self) -> bool:
        return not self.rows and not self.maintenance.rows

    @staticmethod
    def engineer_name(row) -> str | None:
        if not row.engineer__username:
            return None
        full = f"{row.engineer__first_name} {row.engineer__last_name}".strip()
        return full or row.engineer__username


@dataclass(frozen=True)
class TimelineRow:
    """One incident of the timeline as both the page's chart and the API show it."""

    ticket: str
    title: str
    severity: int
    status: str
    services: list[str]
    engineer: str | None  # username
    engineer_name: str | None  # full name, else username
    started_at: datetime
    resolved_at: datetime | None
    description: str
    url: str  # path of the incident page
    external_url: str  # http(s) only, else ""


@dataclass(frozen=True)
class TimelineMaintenanceRow:
    id: int
    title: str
    status: str
    services: list[str]
    starts_at: datetime
    ends_at: datetime
    description: str
    url: str  # path of the maintenance page


def timeline_range_check(*, start: datetime, end: datetime) -> None:
    """The one rule for a timeline's range, page and API: ``end`` after ``start``, both
    storable times, at most ``TIMELINE_MAX_DAYS`` apart. Raises ``ValidationError`` on ``end``."""
    for name, value in (("start", start), ("end", end)):
        problem = time_problem(value)
        if problem:
            raise ValidationError({name: [problem]})
    if end <= start:
        raise ValidationError({"end": [_("end must be after start.")]})
    if end - start > timedelta(days=settings.TIMELINE_MAX_DAYS):
        raise ValidationError(
            {"end": [_("The range may span at most %(days)s days.") % {"days": settings.TIMELINE_MAX_DAYS}]}
        )


def timeline_rows(result: "Timeline") -> tuple[list[TimelineRow], list[TimelineMaintenanceRow]]:
    """The incidents and maintenance of ``result`` as rows, built once for page and API."""
    incident_prefix, incident_suffix = reverse("incidents:detail", args=["TICKET"]).split("TICKET")
    maintenance_prefix, maintenance_suffix = reverse("maintenance:detail", args=[0]).rsplit("/0/", 1)
    services = result.services
    incidents = [
        TimelineRow(
            ticket=row.ticket,
            title=row.title,
            severity=row.severity,
            status=row.status,
            services=services.get(row.id, []),
            engineer=row.engineer__username,
            engineer_name=result.engineer_name(row),
            started_at=row.started_at,
            resolved_at=row.resolved_at,
            description=row.description or "",
            url=f"{incident_prefix}{row.ticket}{incident_suffix}",
            external_url=http_url(row.external_url),
        )
        for row in result.rows
    ]
    maintenances = [
        TimelineMaintenanceRow(
            id=row.id,
            title=row.title,
            status=row.status,
            services=result.maintenance.services.get(row.id, []),
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            description=row.description or "",
            url=f"{maintenance_prefix}/{row.id}/{maintenance_suffix}",
        )
        for row in result.maintenance.rows
    ]
    return incidents, maintenances


def timeline(*, filters: IncidentFilters, limit: int) -> Timeline:
    """Incidents that started before ``filters.end`` and were not resolved before
    ``filters.start`` (ongoing ones included), at most ``limit`` of them, newest first.
    Two queries, whatever the range holds; two more for the planned maintenance of the
    range (not cancelled; filtered by service and text, and left out when a severity or
    status filter asks for incidents only).
    """
    assert filters.start is not None and filters.end is not None, "a timeline needs a range"
    timeline_range_check(start=filters.start, end=filters.end)
    qs = incident_list(filters=filters).prefetch_related(None)
    rows = list(qs.values_list(*_TIMELINE_COLUMNS, named=True)[: limit + 1])
    truncated = len(rows) > limit
    rows = rows[:limit]

    services: dict[int, list[str]] = defaultdict(list)
    names: dict[str, str] = {}
    if rows:
        # The same filter as a subquery, not a list of thousands of ids: the database
        # joins it in one pass and the driver sends a short statement.
        ids = qs.values("id")[:limit] if truncated else qs.values("id")
        links = (
            Incident.services.through.objects.filter(incident_id__in=ids)
            .values_list("incident_id", "service__slug", "service__name")
            .order_by("service__name")
        )
        for incident_id, slug, name in links:
            services[incident_id].append(slug)
            names[slug] = name
    maintenance = maintenance_selectors.Windows()
    if not filters.severity and not filters.status:
        maintenance = maintenance_selectors.windows(
            start=filters.start, end=filters.end, service=filters.service, q=filters.q, limit=limit
        )
        for slug, name in maintenance.service_names.items():
            names.setdefault(slug, name)
    return Timeline(
        start=filters.start,
        end=filters.end,
        rows=rows,
        truncated=truncated,
        services=services,
        service_names=names,
        maintenance=maintenance,
    )


def ongoing_incidents(*, public_only: bool = False) -> QuerySet:
    """Open incidents, most severe first, each with its latest update's time and message
    (the latest public one with ``public_only``: internal notes never reach ``/status/``)."""
    latest = IncidentUpdate.objects.filter(incident=OuterRef("pk")).order_by("-id")
    if public_only:
        latest = latest.filter(visibility=Visibility.PUBLIC)
    return open_incidents().annotate(
        last_update_at=Subquery(latest.values("created_at")[:1]),
        last_update_message=Subquery(latest.values("message")[:1]),
    )


# --- the public status page -------------------------------------------------------


# Which open incidents change what the public sees (documented on the page itself):
# - "outage": an open Sev 1–2 incident that is not yet in monitoring;
# - "degraded": an open Sev 1–2 in monitoring (fix deployed, being watched), or an open
#   Sev 3–4 that is not in monitoring;
# - otherwise "operational": a Sev 3–4 incident whose fix is deployed (monitoring) no
#   longer changes a service's public status.
PUBLIC_OUTAGE_SEVERITIES = (1, 2)


def public_service_status(open_incidents: list[tuple[int, str]]) -> str:
    """A service's status on ``/status/`` from its open incidents as (severity, status) pairs."""
    state = ServiceStatus.OPERATIONAL
    for severity, status in open_incidents:
        monitoring = status == Status.MONITORING
        if severity in PUBLIC_OUTAGE_SEVERITIES and not monitoring:
            return ServiceStatus.OUTAGE
        if severity in PUBLIC_OUTAGE_SEVERITIES or not monitoring:
            state = ServiceStatus.DEGRADED
    return state


@dataclass
class DayIncident:
    """What the public may read about one incident on one day of a service's strip."""

    title: str
    severity: int
    started_at: datetime
    resolved_at: datetime | None


@dataclass
class ServiceDays:
    """A service on the status page: its public status now, its worst severity per day,
    the incidents of each day and its uptime over the strip (Sev 1–2 time is downtime,
    as in the monthly report)."""

    service: object
    status: str
    days: list[tuple[date, int | None]]  # (day, worst severity that day or None)
    day_incidents: dict[date, list[DayIncident]] = field(default_factory=dict)
    uptime: float | None = None

    @property
    def incident_days(self) -> int:
        return sum(1 for _, severity in self.days if severity is not None)

    @property
    def strip(self) -> list[tuple[date, int | None, list[DayIncident]]]:
        return [(day, severity, self.day_incidents.get(day, [])) for day, severity in self.days]


@dataclass
class StatusPage:
    overall: str  # operational / degraded / outage
    services: list[ServiceDays]
    ongoing: list[Incident]
    recent: list[Incident]
    generated_at: datetime
    first_day: date
    last_day: date


def status_page(*, services: list | None = None, now: datetime | None = None, days: int = 90) -> StatusPage:
    """What `/status/` shows: overall state, each active service's public state (see
    ``public_service_status``) with a ``days``-long history strip, its incidents per day and
    its uptime over those days, ongoing incidents with their latest update and the last
    week's resolved ones. Five queries in all, whatever the history holds.
    """
    from incidents.models import Service

    now = now or timezone.now()
    zone = timezone.get_current_timezone()  # once: thousands of incident-days are converted below
    today = timezone.localdate(now)
    first_day = today - timedelta(days=days - 1)
    window_start = timezone.make_aware(datetime.combine(first_day, datetime.min.time()))
    if services is None:
        services = list(Service.objects.filter(is_active=True).order_by("name"))

    worst: dict[tuple[int, date], int] = {}
    per_day: dict[tuple[int, date], list[DayIncident]] = defaultdict(list)
    downtime: dict[int, list] = defaultdict(list)
    open_by_service: dict[int, list[tuple[int, str]]] = defaultdict(list)
    links = Incident.services.through.objects.filter(incident__started_at__lt=now).filter(
        Q(incident__resolved_at__isnull=True) | Q(incident__resolved_at__gte=window_start)
    )
    for service_id, severity, status, title, started, resolved in links.values_list(
        "service_id",
        "incident__severity",
        "incident__status",
        "incident__title",
        "incident__started_at",
        "incident__resolved_at",
    ).order_by("incident__started_at"):
        if status != Status.RESOLVED:
            open_by_service[service_id].append((severity, status))
        if severity in OUTAGE_SEVERITIES:
            downtime[service_id].append((started, resolved))
        item = DayIncident(title=title, severity=severity, started_at=started, resolved_at=resolved)
        day = max(started.astimezone(zone).date(), first_day)
        last = resolved.astimezone(zone).date() if resolved else today
        while day <= last:
            key = (service_id, day)
            if severity < worst.get(key, 99):
                worst[key] = severity
            per_day[key].append(item)
            day += timedelta(days=1)

    all_days = [first_day + timedelta(days=i) for i in range(days)]
    period = (now - window_start).total_seconds()
    rows = []
    for service in services:
        down = union_seconds(downtime.get(service.pk, []), start=window_start, end=now, now=now)
        rows.append(
            ServiceDays(
                service=service,
                status=public_service_status(open_by_service.get(service.pk, [])),
                days=[(d, worst.get((service.pk, d))) for d in all_days],
                day_incidents={d: per_day[(service.pk, d)] for d in all_days if (service.pk, d) in per_day},
                uptime=uptime_percent(down, period),
            )
        )
    states = {row.status for row in rows}
    overall = next(
        (s for s in (ServiceStatus.OUTAGE, ServiceStatus.DEGRADED) if s in states), ServiceStatus.OPERATIONAL
    )
    ongoing = list(ongoing_incidents(public_only=True))
    recent = list(
        Incident.objects.filter(status=Status.RESOLVED, resolved_at__gte=now - timedelta(days=7))
        .prefetch_related("services")
        .annotate(
            last_update_message=Subquery(
                IncidentUpdate.objects.filter(incident=OuterRef("pk"), visibility=Visibility.PUBLIC)
                .order_by("-id")
                .values("message")[:1]
            )
        )
        .order_by("-resolved_at")[:10]
    )
    return StatusPage(
        overall=overall,
        services=rows,
        ongoing=ongoing,
        recent=recent,
        generated_at=now,
        first_day=first_day,
        last_day=today,
    )


# --- the status feed ----------------------------------------------------------------


def status_feed(*, now: datetime, days: int = 90, limit: int = 50) -> list[dict]:
    """What ``/status/feed.atom`` lists: incidents and maintenance of the last ``days`` (or
    still open or upcoming), newest change first, each with its public updates only.

    Three queries whatever the number of items (incidents with their public updates and
    services; maintenance with services).
    """
    from maintenance.models import Maintenance

    since = now - timedelta(days=days)
    public = IncidentUpdate.objects.filter(visibility=Visibility.PUBLIC).order_by("effective_at", "id")
    incidents = (
        Incident.objects.filter(Q(resolved_at__isnull=True) | Q(resolved_at__gte=since))
        .prefetch_related("services", Prefetch("updates", queryset=public, to_attr="public_updates"))
        .order_by("-updated_at")[:limit]
    )
    items = [
        {
            "kind": "incident",
            "object": incident,
            "updated": max([incident.started_at, *[u.created_at for u in incident.public_updates]]),
            "published": incident.started_at,
            "updates": incident.public_updates,
        }
        for incident in incidents
    ]
    maintenances = (
        Maintenance.objects.filter(ends_at__gte=since).prefetch_related("services").order_by("-updated_at")[:limit]
    )
    items += [
        {
            "kind": "maintenance",
            "object": maintenance,
            "updated": maintenance.updated_at,
            "published": maintenance.created_at,
            "updates": [],
        }
        for maintenance in maintenances
    ]
    items.sort(key=lambda item: item["updated"], reverse=True)
    return items[:limit]
