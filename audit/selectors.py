from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from .models import AuditEntry


@dataclass(frozen=True)
class AuditFilters:
    who: str = ""
    action: str = ""
    q: str = ""
    start: date | None = None
    end: date | None = None  # inclusive


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def audit_entries(filters: AuditFilters) -> QuerySet[AuditEntry]:
    """Entries matching the filters, newest first; days are whole days in TIME_ZONE."""
    rows = AuditEntry.objects.all()
    if filters.who:
        rows = rows.filter(actor_name__iexact=filters.who)
    if filters.action:
        rows = rows.filter(action=filters.action)
    if filters.q:
        rows = rows.filter(
            Q(object_repr__icontains=filters.q) | Q(summary__icontains=filters.q) | Q(object_type__icontains=filters.q)
        )
    if filters.start:
        rows = rows.filter(at__gte=_local_midnight(filters.start))
    if filters.end:
        rows = rows.filter(at__lt=_local_midnight(filters.end + timedelta(days=1)))
    return rows.order_by("-at", "-id")
