"""Reads of planned maintenance for its pages, `/`, `/status/`, the timeline and the report.

Each function runs a fixed number of queries (the maintenance rows, then their services),
whatever the history holds.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Prefetch, Q, QuerySet

from incidents.models import Service

from .choices import UPCOMING_DAYS, MaintenanceStatus
from .models import Maintenance

_SERVICES = Prefetch("services", queryset=Service.objects.only("id", "slug", "name").order_by("name"))


def maintenance_list(*, status: str = "", service: str = "") -> QuerySet:
    """Every maintenance, newest start first, with its services prefetched."""
    qs = Maintenance.objects.prefetch_related(_SERVICES).select_related("created_by")
    if status:
        qs = qs.filter(status=status)
    if service:
        qs = qs.filter(services__slug=service)
    return qs.order_by("-starts_at", "-id")


def maintenance_detail(*, pk: int) -> Maintenance:
    return Maintenance.objects.prefetch_related(_SERVICES).select_related("created_by").get(pk=pk)


@dataclass
class Planned:
    """Maintenance under way and coming up (soonest first), as `/` and `/status/` show it."""

    ongoing: list[Maintenance] = field(default_factory=list)
    upcoming: list[Maintenance] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.ongoing or self.upcoming)

    def service_ids(self) -> set[int]:
        """Services under maintenance right now."""
        return {s.pk for m in self.ongoing for s in m.services.all()}


def planned(*, now: datetime, days: int = UPCOMING_DAYS) -> Planned:
    """Ongoing maintenance, and scheduled maintenance starting within ``days``. Two queries.

    Status is what beat last recorded, but time decides: a maintenance whose start has
    passed a moment before beat's next run already shows as ongoing, one whose end has
    passed shows no more.
    """
    rows = (
        Maintenance.objects.filter(status__in=(MaintenanceStatus.SCHEDULED, MaintenanceStatus.IN_PROGRESS))
        .filter(ends_at__gt=now, starts_at__lt=now + timedelta(days=days))
        .prefetch_related(_SERVICES)
        .order_by("starts_at", "id")
    )
    result = Planned()
    for maintenance in rows:
        (result.ongoing if maintenance.starts_at <= now else result.upcoming).append(maintenance)
    return result


@dataclass
class Windows:
    """Maintenance overlapping a range as plain rows, with service slugs and names per row."""

    rows: list = field(default_factory=list)  # named tuples: id, title, status, starts_at, ends_at, description
    services: dict[int, list[str]] = field(default_factory=dict)  # maintenance id -> slugs (by name)
    service_names: dict[str, str] = field(default_factory=dict)  # slug -> name
    service_ids: dict[int, list[int]] = field(default_factory=dict)  # maintenance id -> service ids


def windows(*, start: datetime, end: datetime, service: str = "", q: str = "", limit: int | None = None) -> Windows:
    """Maintenance (not cancelled) whose window overlaps ``[start, end)``. Two queries."""
    qs = Maintenance.objects.exclude(status=MaintenanceStatus.CANCELLED).filter(starts_at__lt=end, ends_at__gt=start)
    if service:
        qs = qs.filter(services__slug=service)
    if q:
        qs = qs.filter(Q(title__icontains=q.strip()) | Q(description__icontains=q.strip()))
    qs = qs.order_by("-starts_at", "-id")
    rows = qs.values_list("id", "title", "status", "starts_at", "ends_at", "description", named=True)
    rows = list(rows[:limit] if limit else rows)
    result = Windows(rows=rows)
    if not rows:
        return result
    slugs: dict[int, list[str]] = defaultdict(list)
    ids: dict[int, list[int]] = defaultdict(list)
    links = (
        Maintenance.services.through.objects.filter(maintenance_id__in=[r.id for r in rows])
        .values_list("maintenance_id", "service_id", "service__slug", "service__name")
        .order_by("service__name")
    )
    for maintenance_id, service_id, slug, name in links:
        slugs[maintenance_id].append(slug)
        ids[maintenance_id].append(service_id)
        result.service_names[slug] = name
    result.services = dict(slugs)
    result.service_ids = dict(ids)
    return result
