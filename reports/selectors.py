"""The monthly availability report, computed once as a plain dataclass.

The HTML preview, the PDF, the CSV export and ``GET /api/v1/uptime/`` all render the
``Report`` returned by :func:`monthly_report`, so their numbers cannot disagree.

Cost is a constant number of queries whatever the month holds: the incidents overlapping
this month or the previous one, their update logs, their services (prefetched in bulk),
the services, the start of recorded history, the planned maintenance of the month (two),
plus the two metric reads for the 5xx part.

Planned maintenance is reported beside the uptime, never inside it: its time is not
downtime, whatever incidents happen during it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from incidents import postmortems
from incidents.choices import OUTAGE_SEVERITIES, Status
from incidents.models import Incident, IncidentUpdate, Service
from incidents.selectors import incidents_overlapping, severity_periods

from .choices import WORST_HOURS
from .models import MonthlyReport, ServiceGroup
from .uptime import (
    IntervalSet,
    Month,
    Period,
    Quarter,
    Year,
    error_budget_used,
    merge_intervals,
    union_seconds,
    uptime_percent,
)

logger = logging.getLogger(__name__)

HTTP_5XX_ROLE = "http_5xx"
_HOUR = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class FutureMonth(ValueError):
    """The period has not started yet in the reporting time zone."""


class UnknownGroup(LookupError):
    """``group=<slug>`` names no service group."""


def service_group(slug: str | None) -> ServiceGroup | None:
    """The group named by ``slug`` (None for "all services"); ``UnknownGroup`` says which slugs exist."""
    if not slug:
        return None
    group = ServiceGroup.objects.filter(slug=slug).first()
    if group is None:
        known = ", ".join(ServiceGroup.objects.values_list("slug", flat=True)) or "none defined"
        raise UnknownGroup(f"There is no service group {slug!r} (groups: {known}).")
    return group


@dataclass
class IncidentRow:
    """One incident as the report lists it under a service."""

    ticket: str
    title: str
    url: str
    severity: int  # the highest severity (lowest number) it had during the month
    status: str
    status_label: str
    started_at: datetime
    resolved_at: datetime | None
    outage_seconds: float  # time at Sev 1-2 inside the month
    postmortem: str  # "written", "missing", "pending" (still open) or "not required"
    postmortem_label: str

    @property
    def is_ongoing(self) -> bool:
        return self.resolved_at is None


@dataclass
class MaintenanceRow:
    """One planned maintenance as the report lists it under a service."""

    id: int
    title: str
    url: str
    status: str
    status_label: str
    starts_at: datetime
    ends_at: datetime
    seconds: float  # its window inside the period


@dataclass
class HourCount:
    start: datetime  # local time in the reporting zone
    value: float


@dataclass
class ServiceReport:
    """A service's numbers for the month. ``None`` always means "no data", never zero."""

    id: int
    slug: str
    name: str
    slo_target: float
    period_seconds: float
    downtime_seconds: float
    previous_downtime_seconds: float | None
    previous_period_seconds: float
    incidents: list[IncidentRow] = field(default_factory=list)
    http_5xx_outside: float | None = None
    http_5xx_total: float | None = None
    http_5xx_coverage: float | None = None  # percent of the period with 5xx data
    worst_hours: list[HourCount] = field(default_factory=list)
    # Planned maintenance: the union of its windows in the period (cancelled ones left
    # out). Shown beside the uptime; it never changes downtime or uptime.
    maintenance_seconds: float = 0.0
    maintenances: list[MaintenanceRow] = field(default_factory=list)

    @property
    def uptime_percent(self) -> float:
        """Rounded to 3 decimals: the figure every output shows and SLO checks use."""
        return round(uptime_percent(self.downtime_seconds, self.period_seconds), 3)

    @property
    def downtime_seconds_rounded(self) -> int:
        return round(self.downtime_seconds)

    @property
    def previous_uptime_percent(self) -> float | None:
        if self.previous_downtime_seconds is None:
            return None
        return round(uptime_percent(self.previous_downtime_seconds, self.previous_period_seconds), 3)

    @property
    def change_from_previous(self) -> float | None:
        """Percentage points; positive is better than last month."""
        previous = self.previous_uptime_percent
        return None if previous is None else round(self.uptime_percent - previous, 3)

    @property
    def slo_met(self) -> bool:
        return self.uptime_percent >= self.slo_target

    @property
    def error_budget_used(self) -> float | None:
        used = error_budget_used(self.downtime_seconds, self.period_seconds, self.slo_target)
        return None if used is None else round(used, 1)

    @property
    def allowed_downtime_seconds(self) -> float:
        return self.period_seconds * (100.0 - self.slo_target) / 100.0

    @property
    def incident_count(self) -> int:
        return len(self.incidents)

    @property
    def by_severity(self) -> dict[int, int]:
        counts = dict.fromkeys((1, 2, 3, 4), 0)
        for row in self.incidents:
            counts[row.severity] += 1
        return counts

    @property
    def mttr_seconds(self) -> float | None:
        """Mean time from start of impact to resolution over the month's resolved incidents."""
        durations = [(r.resolved_at - r.started_at).total_seconds() for r in self.incidents if r.resolved_at]
        return sum(durations) / len(durations) if durations else None

    @property
    def postmortems_missing(self) -> int:
        return sum(1 for r in self.incidents if r.postmortem == "missing")

    @property
    def major_incidents(self) -> list[IncidentRow]:
        """Incidents that reached Sev 1-2 in the month: they make the downtime."""
        return [r for r in self.incidents if r.severity <= 2]

    @property
    def minor_incidents(self) -> list[IncidentRow]:
        return [r for r in self.incidents if r.severity > 2]

    def api_row(self) -> dict:
        """The row of ``GET /api/v1/uptime/`` and of the CSV; the PDF shows the same values."""
        return {
            "service": self.slug,
            "service_name": self.name,
            "uptime_percent": self.uptime_percent,
            "downtime_seconds": self.downtime_seconds_rounded,
            "incident_count": self.incident_count,
            "http_5xx_outside_incidents": _number(self.http_5xx_outside),
            "http_5xx_coverage_percent": None if self.http_5xx_coverage is None else round(self.http_5xx_coverage, 1),
            "slo_target": self.slo_target,
            "slo_met": self.slo_met,
            "error_budget_used_percent": self.error_budget_used,
            "previous_uptime_percent": self.previous_uptime_percent,
            "change_from_previous_month": self.change_from_previous,
            "incidents_by_severity": {str(k): v for k, v in self.by_severity.items()},
            "mttr_seconds": None if self.mttr_seconds is None else round(self.mttr_seconds),
            "postmortems_missing": self.postmortems_missing,
            "maintenance_seconds": round(self.maintenance_seconds),
        }


@dataclass
class Report:
    month: Period  # the period reported on (a Month, Quarter or Year; named for history)
    time_zone: str
    start: datetime
    end: datetime
    period_end: datetime  # end, or now for the month in progress
    computed_at: datetime
    services: list[ServiceReport]
    metrics_available: bool
    automation: dict | None = None
    group: ServiceGroup | None = None
    trends: dict[int, list] = field(default_factory=dict)  # service id -> TrendPoint per month
    currency: str = ""

    @property
    def period(self) -> Period:
        return self.month

    @property
    def executive_summary(self) -> str:
        from .trends import executive_summary

        return executive_summary(self)

    @property
    def trend_rows(self) -> list:
        from .trends import trend_rows

        return trend_rows(self)

    @property
    def group_slug(self) -> str:
        return self.group.slug if self.group else ""

    @property
    def title(self) -> str:
        return f"{self.month.label} · {self.group.name}" if self.group else self.month.label

    @property
    def complete(self) -> bool:
        return self.period_end >= self.end

    @property
    def period_seconds(self) -> float:
        return (self.period_end - self.start).total_seconds()

    @property
    def local_start(self) -> datetime:
        return self.start.astimezone(ZoneInfo(self.time_zone))

    @property
    def local_end(self) -> datetime:
        return self.period_end.astimezone(ZoneInfo(self.time_zone))

    @property
    def services_meeting_slo(self) -> int:
        return sum(1 for s in self.services if s.slo_met)

    @property
    def services_missing_slo(self) -> list[ServiceReport]:
        return [s for s in self.services if not s.slo_met]

    @property
    def incidents(self) -> list[IncidentRow]:
        """Every incident of the month once, even when it affected several services."""
        seen: dict[str, IncidentRow] = {}
        for service in self.services:
            for row in service.incidents:
                seen.setdefault(row.ticket, row)
        return sorted(seen.values(), key=lambda r: (r.started_at, r.ticket))

    @property
    def total_downtime_seconds(self) -> float:
        return sum(s.downtime_seconds for s in self.services)

    @property
    def total_maintenance_seconds(self) -> float:
        return sum(s.maintenance_seconds for s in self.services)

    @property
    def maintenances(self) -> list[MaintenanceRow]:
        """Every maintenance of the period once, even when it covered several services."""
        seen: dict[int, MaintenanceRow] = {}
        for service in self.services:
            for row in service.maintenances:
                seen.setdefault(row.id, row)
        return sorted(seen.values(), key=lambda r: (r.starts_at, r.id))

    @property
    def worst_service(self) -> ServiceReport | None:
        worst = max(self.services, key=lambda s: s.downtime_seconds, default=None)
        return worst if worst and worst.downtime_seconds > 0 else None

    @property
    def http_5xx_outside_total(self) -> float | None:
        values = [s.http_5xx_outside for s in self.services if s.http_5xx_outside is not None]
        return sum(values) if values else None

    @property
    def postmortems_missing(self) -> int:
        return sum(1 for r in self.incidents if r.postmortem == "missing")

    @property
    def major_incidents(self) -> list[IncidentRow]:
        """Incidents that reached Sev 1-2 in the month: they make the downtime."""
        return [r for r in self.incidents if r.severity <= 2]

    @property
    def minor_incidents(self) -> list[IncidentRow]:
        return [r for r in self.incidents if r.severity > 2]

    def api_rows(self) -> list[dict]:
        return [s.api_row() for s in self.services]


def _number(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else round(value, 3)


def report_time_zone() -> str:
    return settings.REPORT_TIME_ZONE


def last_complete_month(*, now: datetime | None = None, tz: str | None = None) -> Month:
    return Month.containing(now or timezone.now(), tz or report_time_zone()).previous()


def check_month(month: Period, *, now: datetime | None = None, tz: str | None = None) -> None:
    """Refuse a period that has not begun; the message is shown to the user as is."""
    now = now or timezone.now()
    start, _ = month.bounds(tz or report_time_zone())
    if start > now:
        raise FutureMonth(f"{month.label} has not started yet, so there is nothing to report.")


_POSTMORTEM_LABELS = {
    "written": "Written",
    "not required": "Not required",
    "pending": "After resolution",
    "missing": "Missing",
}


def _postmortem_status(data: IncidentData, worst_severity: int) -> tuple[str, str]:
    code = postmortems.postmortem_state(
        has_postmortem=data.postmortem_id is not None, worst_severity=worst_severity, status=data.status
    )
    return code, _POSTMORTEM_LABELS[code]


class IncidentData(NamedTuple):
    """The columns of an incident the report reads (plain tuples: thousands load in milliseconds)."""

    id: int
    ticket: str
    title: str
    severity: int
    status: str
    started_at: datetime
    resolved_at: datetime | None
    postmortem_id: int | None


class UpdateData(NamedTuple):
    """What ``severity_periods`` reads from an update."""

    id: int
    kind: str
    sets_severity: int | None
    effective_at: datetime


def _incidents(start: datetime, end: datetime) -> tuple[list[IncidentData], dict[int, list], dict[int, list[int]]]:
    """Incidents overlapping ``[start, end)``, their update logs and service ids: three queries."""
    fields = ["id", "ticket", "title", "severity", "status", "started_at", "resolved_at", "postmortem__id"]
    overlapping = incidents_overlapping(Incident.objects.all(), start=start, end=end)
    incidents = [IncidentData(*row) for row in overlapping.order_by("started_at", "id").values_list(*fields)]
    ids = overlapping.values("id")
    updates: dict[int, list[UpdateData]] = defaultdict(list)
    for incident_id, *rest in (
        IncidentUpdate.objects.filter(incident__in=ids)
        .order_by("incident_id", "id")
        .values_list("incident_id", "id", "kind", "sets_severity", "effective_at")
    ):
        updates[incident_id].append(UpdateData(*rest))
    services: dict[int, list[int]] = defaultdict(list)
    for incident_id, service_id in Incident.services.through.objects.filter(incident__in=ids).values_list(
        "incident_id", "service_id"
    ):
        services[incident_id].append(service_id)
    return incidents, updates, services


def monthly_report(
    *,
    month: Period,
    now: datetime | None = None,
    tz: str | None = None,
    include_http_5xx: bool = True,
    group: ServiceGroup | None = None,
    with_trends: bool = False,
) -> Report:
    """Compute the whole report for ``month`` — a month, quarter or year — (see the module docstring).

    Quarters and years follow exactly the rule of months: the union of Sev 1-2 time clipped to
    the period's bounds in the reporting time zone. ``group`` limits the report to the group's
    services. ``include_http_5xx=False`` skips the metric reads for callers that need
    availability only; ``with_trends`` adds the 12-month trend per service (the page, the PDF
    and the API ask for it; availability-only callers do not pay for it).
    """
    now = now or timezone.now()
    tz = tz or report_time_zone()
    check_month(month, now=now, tz=tz)
    start, end = month.bounds(tz)
    period_end = min(end, now)
    prev_start, _ = month.previous().bounds(tz)
    url_template = reverse("incidents:detail", args=["TICKET"])

    outage: dict[int, list] = defaultdict(list)  # service id -> Sev 1-2 intervals
    windows: dict[int, list] = defaultdict(list)  # service id -> intervals at any severity
    rows: dict[int, list[IncidentRow]] = defaultdict(list)
    incidents, updates, incident_services = _incidents(prev_start, period_end)
    group_ids = set(group.services.values_list("pk", flat=True)) if group is not None else None
    for incident in incidents:
        if group_ids is not None and not group_ids.intersection(incident_services.get(incident.id, [])):
            continue
        periods = severity_periods(incident, updates.get(incident.id, []))
        sev12 = [(p.start, p.end) for p in periods if p.severity in OUTAGE_SEVERITIES]
        spans = [(p.start, p.end) for p in periods]
        in_month = incident.started_at < period_end and (incident.resolved_at is None or incident.resolved_at > start)
        row = None
        if in_month:
            month_sevs = [p.severity for p in periods if p.start < period_end and (p.end or now) > start]
            severity = min(month_sevs or [incident.severity])
            worst_ever = min([p.severity for p in periods] or [incident.severity])
            code, label = _postmortem_status(incident, worst_ever)
            row = IncidentRow(
                ticket=incident.ticket,
                title=incident.title,
                url=url_template.replace("TICKET", incident.ticket),
                severity=severity,
                status=incident.status,
                status_label=str(Status(incident.status).label),
                started_at=incident.started_at,
                resolved_at=incident.resolved_at,
                outage_seconds=union_seconds(sev12, start=start, end=period_end, now=now),
                postmortem=code,
                postmortem_label=label,
            )
        for service_id in incident_services.get(incident.id, []):
            outage[service_id].extend(sev12)
            windows[service_id].extend(spans)
            if row is not None:
                rows[service_id].append(row)

    has_history = Incident.objects.filter(started_at__lt=start).exists()
    service_qs = Service.objects.filter(Q(is_active=True) | Q(pk__in=list(rows))).order_by("name", "pk")
    if group_ids is not None:
        service_qs = service_qs.filter(pk__in=group_ids)
    period = (period_end - start).total_seconds()
    prev_period = (start - prev_start).total_seconds()
    services = [
        ServiceReport(
            id=service.pk,
            slug=service.slug,
            name=service.name,
            slo_target=float(service.slo_target),
            period_seconds=period,
            downtime_seconds=union_seconds(outage[service.pk], start=start, end=period_end, now=now),
            previous_downtime_seconds=(
                union_seconds(outage[service.pk], start=prev_start, end=start, now=now) if has_history else None
            ),
            previous_period_seconds=prev_period,
            incidents=rows[service.pk],
        )
        for service in service_qs
    ]
    _add_maintenance(services, start=start, end=period_end, now=now)
    metrics_available = include_http_5xx and _add_http_5xx(
        services, windows, start=start, end=period_end, now=now, tz=tz
    )
    report = Report(
        month=month,
        time_zone=tz,
        start=start,
        end=end,
        period_end=period_end,
        computed_at=now,
        services=services,
        metrics_available=metrics_available,
        automation=_automation(start, period_end),
        group=group,
        currency=settings.AUTOMATION_CURRENCY,
    )
    if with_trends:
        from .trends import add_trends

        add_trends(report, now=now)
    return report


def _add_http_5xx(
    services: list[ServiceReport], windows: dict[int, list], *, start: datetime, end: datetime, now: datetime, tz: str
) -> bool:
    """Fill in 5xx responses outside every incident window of each service.

    Exact, and cheap at scale: an hour (UTC) that lies wholly in the period and that no
    incident window of the service touches is entirely "outside", so its total comes from
    the hourly aggregates; raw samples are read only for the hours an incident touches
    (and the period's partial edge hours). Where the reporting zone's hours do not align
    with UTC hours (a :30 offset), every hour is read raw so the worst local hours stay exact.

    A service with neither samples nor recorded gaps has no 5xx series: it stays ``None``
    ("no data"). Recorded "no data" windows reduce the coverage; they are never counted
    as zero errors.
    """
    # Imported here: metrics imports reports. No ImportError fallback: a broken metrics app
    # must fail the report, not show "no data".
    from metrics.selectors import no_data_windows, role_hourly_clean, role_rollup_points, role_samples_in

    by_id = {s.id: s for s in services}
    merged = {sid: merge_intervals(spans, start=start, end=end, now=now) for sid, spans in windows.items()}
    zone = ZoneInfo(tz)
    aligned = _hours_align(start, end, zone)
    outside: dict[int, float] = defaultdict(float)
    total: dict[int, float] = defaultdict(float)
    hours: dict[int, dict[datetime, float]] = defaultdict(lambda: defaultdict(float))
    seen: set[int] = set()

    # UTC hours as epoch seconds: hours an incident window partly covers (read raw) and hours
    # wholly inside one (nothing in them is outside).
    dirty: dict[int, set[int]] = defaultdict(set)
    covered: dict[int, set[int]] = defaultdict(set)
    for sid, spans in merged.items():
        for a, b in spans:
            hour = _floor_hour(a)
            while hour < b:
                (covered if a <= hour and hour + _HOUR <= b else dirty)[sid].add(int(hour.timestamp()))
                hour += _HOUR
    clean_hours: dict[int, dict[int, float]] = defaultdict(dict)
    raw_ranges: dict[int, list] = {}
    if aligned:
        clean = role_hourly_clean(
            role=HTTP_5XX_ROLE, start=start, end=end, dirty=dirty, covered=covered, top=WORST_HOURS
        )
        seen.update(sid for sid in clean.services if sid in by_id)
        for service_id, value in clean.sums.items():
            if service_id in by_id:
                total[service_id] += value
                outside[service_id] += value
                clean_hours[service_id] = dict(clean.top.get(service_id, []))
        for service_id, value in clean.covered.items():
            if service_id in by_id:
                total[service_id] += value
    for service_id in by_id:
        if not aligned:
            raw_ranges[service_id] = [(start, end)]
            continue
        spans = [
            (max(h, start), min(h + _HOUR, end))
            for h in (_EPOCH + timedelta(seconds=e) for e in sorted(dirty.get(service_id, ())))
        ]
        edge_a = _floor_hour(start)
        if edge_a < start:
            spans.append((start, min(edge_a + _HOUR, end)))
        edge_b = _floor_hour(end)
        if edge_b < end and edge_b >= start:
            spans.append((edge_b, end))
        raw_ranges[service_id] = merge_intervals(spans, start=start, end=end, now=now)
    # Raw samples as microseconds since the epoch: hundreds of thousands of them are tested
    # against the windows without building a datetime each.
    one = timedelta(microseconds=1)
    raw = role_samples_in(role=HTTP_5XX_ROLE, ranges=raw_ranges, micros=True)
    raw.extend(
        (sid, (ts - _EPOCH) // one, v) for sid, ts, v in role_rollup_points(role=HTTP_5XX_ROLE, start=start, end=end)
    )
    inside_us = {
        sid: IntervalSet([((a - _EPOCH) // one, (b - _EPOCH) // one) for a, b in spans])
        for sid, spans in merged.items()
    }
    for service_id, us, value in raw:
        if service_id not in by_id or value is None:
            continue
        seen.add(service_id)
        total[service_id] += value
        window = inside_us.get(service_id)
        if window and us in window:
            continue
        outside[service_id] += value
        if not value:
            continue
        if aligned:  # the local hour starts on this UTC hour
            epoch = us // 3_600_000_000 * 3600
            clean_hours[service_id][epoch] = clean_hours[service_id].get(epoch, 0.0) + value
        else:
            hour = (_EPOCH + us * one).astimezone(zone).replace(minute=0, second=0, microsecond=0)
            hours[service_id][hour] += value
    gaps: dict[int, list] = defaultdict(list)
    for service_id, gap_start, gap_end in no_data_windows(role=HTTP_5XX_ROLE, start=start, end=end):
        if service_id in by_id:
            gaps[service_id].append((gap_start, gap_end))
    for service_id, service in by_id.items():
        if service_id not in seen:
            # No samples at all: the month is unobserved, whether or not gaps were recorded.
            if gaps.get(service_id):
                service.http_5xx_coverage = 0.0
            continue
        service.http_5xx_total = total[service_id]
        service.http_5xx_outside = outside[service_id]
        missing = union_seconds(gaps.get(service_id, []), start=start, end=end, now=now)
        service.http_5xx_coverage = 100.0 * (1 - missing / service.period_seconds) if service.period_seconds else None
        best = sorted(clean_hours[service_id].items(), key=lambda item: (-item[1], item[0]))[:WORST_HOURS]
        candidates = dict(hours[service_id])
        for epoch, value in best:
            local = (_EPOCH + timedelta(seconds=epoch)).astimezone(zone)
            candidates[local] = candidates.get(local, 0.0) + value
        worst = sorted(candidates.items(), key=lambda item: (-item[1], item[0]))[:WORST_HOURS]
        service.worst_hours = [HourCount(start=hour, value=value) for hour, value in worst]
    return True


def _floor_hour(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _hours_align(start: datetime, end: datetime, zone: ZoneInfo) -> bool:
    """Whether every local hour of the period starts on a UTC hour (true for whole-hour offsets)."""
    offsets = {start.astimezone(zone).utcoffset(), end.astimezone(zone).utcoffset()}
    hour = _floor_hour(start)
    step = timedelta(hours=6)  # DST moves at most twice a year; 6-hourly sampling finds every offset in use
    while hour < end:
        offsets.add(hour.astimezone(zone).utcoffset())
        hour += step
    return all(offset is not None and offset.total_seconds() % 3600 == 0 for offset in offsets)


def _add_maintenance(services: list[ServiceReport], *, start: datetime, end: datetime, now: datetime) -> None:
    """Per service: its planned maintenance windows in ``[start, end)`` and the length of their union."""
    from maintenance.choices import MaintenanceStatus
    from maintenance.selectors import windows

    found = windows(start=start, end=end)
    by_id = {s.id: s for s in services}
    url_template = reverse("maintenance:detail", args=[0])
    spans: dict[int, list] = defaultdict(list)
    for row in found.rows:
        item = MaintenanceRow(
            id=row.id,
            title=row.title,
            url=url_template.replace("/0/", f"/{row.id}/"),
            status=row.status,
            status_label=str(MaintenanceStatus(row.status).label),
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            seconds=union_seconds([(row.starts_at, row.ends_at)], start=start, end=end, now=now),
        )
        for service_id in found.service_ids.get(row.id, []):
            if service_id in by_id:
                spans[service_id].append((row.starts_at, row.ends_at))
                by_id[service_id].maintenances.append(item)
    for service_id, service in by_id.items():
        service.maintenances.sort(key=lambda r: (r.starts_at, r.id))
        service.maintenance_seconds = union_seconds(spans.get(service_id, []), start=start, end=end, now=now)


def _automation(start: datetime, end: datetime) -> dict | None:
    """Automation savings for the same period."""
    from automation.selectors import roi_summary

    return roi_summary(start=start, end=end)


def report_versions(month: Period, group: str = "") -> list[MonthlyReport]:
    return list(
        MonthlyReport.objects.filter(period=str(month), group=group)
        .select_related("generated_by", "approved_by")
        .prefetch_related("emails")
        .order_by("-version")
    )


def latest_version(month: Period, group: str = "") -> MonthlyReport | None:
    return MonthlyReport.objects.filter(period=str(month), group=group).order_by("-version").first()


def drafts_waiting() -> list[MonthlyReport]:
    """Scheduled versions waiting for a reader's approval (shown on /reports/ and the report page)."""
    from .choices import ReviewState

    return list(MonthlyReport.objects.filter(review_state=ReviewState.DRAFT).order_by("month", "group", "version"))


def active_job(month: Period, group: str = ""):
    from .choices import JobStatus
    from .models import ReportJob

    # A job the worker never finished (a lost worker) stops counting after a while, so the
    # page offers to render again instead of waiting forever.
    since = timezone.now() - timedelta(seconds=JOB_STALE_SECONDS)
    return (
        ReportJob.objects.filter(
            period=str(month),
            group=group,
            status__in=(JobStatus.QUEUED, JobStatus.RUNNING),
            requested_at__gte=since,
        )
        .order_by("-requested_at")
        .first()
    )


@dataclass
class MonthEntry:
    month: Month
    complete: bool
    versions: list[MonthlyReport]

    @property
    def latest(self) -> MonthlyReport | None:
        return self.versions[0] if self.versions else None

    @property
    def last_email(self):
        for version in self.versions:
            emails = list(version.emails.all())
            if emails:
                return emails[0]
        return None


def report_months(*, now: datetime | None = None, tz: str | None = None, limit: int = 60) -> list[MonthEntry]:
    """One entry per month, newest first: from the first incident (or report) to this month.

    Three queries in all, whatever the number of months or versions.
    """
    now = now or timezone.now()
    tz = tz or report_time_zone()
    current = Month.containing(now, tz)
    first_incident = Incident.objects.order_by("started_at").values_list("started_at", flat=True).first()
    reports = list(
        MonthlyReport.objects.filter(group="", period__regex=r"^[0-9]{4}-[0-9]{2}$")
        .select_related("generated_by")
        .prefetch_related("emails")
    )
    earliest = current
    if first_incident:
        earliest = min(earliest, Month.containing(first_incident, tz))
    for report in reports:
        earliest = min(earliest, Month(report.month.year, report.month.month))
    by_month: dict[Month, list[MonthlyReport]] = defaultdict(list)
    for report in sorted(reports, key=lambda r: -r.version):
        by_month[Month(report.month.year, report.month.month)].append(report)
    entries = []
    month = current
    while month >= earliest and len(entries) < limit:
        entries.append(MonthEntry(month=month, complete=month != current, versions=by_month.get(month, [])))
        month = month.previous()
    return entries


@dataclass
class PeriodEntry:
    period: Period
    complete: bool
    latest: MonthlyReport | None


def report_periods(*, kind: str, now: datetime | None = None, tz: str | None = None, count: int = 8) -> list:
    """Recent quarters or years, newest first, each with its latest stored version (two queries)."""
    now = now or timezone.now()
    tz = tz or report_time_zone()
    cls = Quarter if kind == "quarter" else Year
    current = cls.containing(now, tz)
    first_incident = Incident.objects.order_by("started_at").values_list("started_at", flat=True).first()
    earliest = cls.containing(first_incident, tz) if first_incident else current
    latest: dict[str, MonthlyReport] = {}
    periods = []
    period = current
    while period >= earliest and len(periods) < count:
        periods.append(period)
        period = period.previous()
    for row in MonthlyReport.objects.filter(group="", period__in=[str(p) for p in periods]).order_by("-version"):
        latest.setdefault(row.period, row)
    return [PeriodEntry(period=p, complete=p != current, latest=latest.get(str(p))) for p in periods]


def last_complete_period(kind: str, *, now: datetime | None = None, tz: str | None = None) -> Period:
    now = now or timezone.now()
    tz = tz or report_time_zone()
    cls = {"month": Month, "quarter": Quarter, "year": Year}[kind]
    return cls.containing(now, tz).previous()


# --- the preview, computed once per change of the data behind it ---------------------

PREVIEW_LIVE_SECONDS = 60  # a period still in progress changes with the clock itself
JOB_STALE_SECONDS = 15 * 60  # a PDF takes seconds; a job this old was lost


def data_fingerprint(*, start: datetime, end: datetime) -> str:
    """A short hash of everything the report of ``[start, end)`` reads, in a handful of cheap queries.

    Incidents and their update log (every change, correction and back-dated update appends an
    update or touches ``updated_at``), services and groups, maintenance, stored-report
    out-of-date marks, 5xx hourly aggregates of the period and automation executions.
    """
    import hashlib

    from django.db.models import Count, Max

    parts: list = [
        Incident.objects.aggregate(n=Count("id"), u=Max("updated_at")),
        IncidentUpdate.objects.aggregate(m=Max("id")),
        list(Service.objects.order_by("pk").values_list("pk", "name", "slug", "slo_target", "is_active")),
        list(ServiceGroup.services.through.objects.order_by("pk").values_list("servicegroup_id", "service_id")),
        MonthlyReport.objects.aggregate(o=Max("out_of_date_since")),
    ]
    # Imported here (these apps import reports); no ImportError fallback: a broken app must
    # fail loudly, not quietly drop out of the fingerprint.
    from automation.models import Execution
    from maintenance.models import Maintenance
    from metrics.models import MetricHourly, PollResult

    parts.append(Maintenance.objects.aggregate(n=Count("id"), u=Max("updated_at")))
    parts.append(
        MetricHourly.objects.filter(hour__gte=start - _HOUR, hour__lt=end).aggregate(n=Count("id"), u=Max("updated_at"))
    )
    parts.append(PollResult.objects.filter(window_start__lt=end, window_end__gt=start).aggregate(m=Max("id")))
    parts.append(Execution.objects.aggregate(m=Max("id"), u=Max("updated_at")))
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def report_preview(
    *, month: Period, group: ServiceGroup | None = None, now: datetime | None = None, tz: str | None = None
) -> Report:
    """``monthly_report`` through the cache: recomputed only when ``data_fingerprint`` changes.

    A finished period is cached until its data changes; the period in progress for at most
    ``PREVIEW_LIVE_SECONDS`` (its ongoing incidents grow with the clock).
    """
    from django.core.cache import cache

    now = now or timezone.now()
    tz = tz or report_time_zone()
    check_month(month, now=now, tz=tz)
    start, end = month.bounds(tz)
    group_key = group.slug if group else ""
    key = f"beacon:report-preview:{month}:{group_key}:{tz}:{data_fingerprint(start=start, end=end)}"
    live = end > now
    found = cache.get(key)
    if found is not None and (not live or (now - found.computed_at).total_seconds() < PREVIEW_LIVE_SECONDS):
        return found
    report = monthly_report(month=month, now=now, tz=tz, group=group, with_trends=True)
    cache.set(key, report, timeout=PREVIEW_LIVE_SECONDS if live else 7 * 24 * 3600)
    return report
