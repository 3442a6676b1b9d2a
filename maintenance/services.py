"""Every write to planned maintenance goes through these functions, from forms, API,
beat and imports alike, so the rules below are enforced once.

Rules:
- a title (at most 200 characters), at least one service, ``starts_at`` and ``ends_at``
  as aware datetimes with ``ends_at > starts_at`` and a window of at most ``MAX_WINDOW``;
- ``scheduled`` becomes ``in_progress`` at ``starts_at`` and ``completed`` at
  ``ends_at`` (``maintenance_advance``, run by beat every minute); a scheduled
  maintenance can be cancelled, one in progress can be ended early; completed and
  cancelled ones are history and change no more;
- a write carrying a stale ``expected_version`` is refused with ``StaleVersion``;
- subscribers of the services are emailed when it is scheduled, starts, ends or is
  cancelled: one delivery row per (maintenance, event, recipient), written in the same
  transaction as the change, so each email goes out once. Imported history emails nobody.
"""

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents.models import Service

from . import notifications
from .choices import (
    ACTIVE_STATUSES,
    DESCRIPTION_MAX_LENGTH,
    MAX_WINDOW,
    TITLE_MAX_LENGTH,
    MaintenanceEvent,
    MaintenanceStatus,
)
from .models import Maintenance

EDITABLE_FIELDS = ("title", "description", "services", "starts_at", "ends_at", "status")
# The email that tells subscribers a maintenance has reached this status.
EVENT_FOR_STATUS = {
    MaintenanceStatus.SCHEDULED: MaintenanceEvent.SCHEDULED,
    MaintenanceStatus.IN_PROGRESS: MaintenanceEvent.STARTED,
    MaintenanceStatus.COMPLETED: MaintenanceEvent.COMPLETED,
    MaintenanceStatus.CANCELLED: MaintenanceEvent.CANCELLED,
}


class StaleVersion(Exception):
    """The maintenance changed since the caller read it."""

    def __init__(self, maintenance: Maintenance, expected: int):
        self.maintenance = maintenance
        self.expected = expected
        super().__init__(
            _(
                "This maintenance was changed by someone else (you edited version %(expected)s, it is now at "
                "version %(current)s). Reload it and apply your change again."
            )
            % {"expected": expected, "current": maintenance.version}
        )


def _check(*, title: Any, description: Any, services: Any, starts_at: Any, ends_at: Any) -> dict[str, str]:
    """Every rule on a maintenance's fields, as {field: message}; empty when all hold."""
    errors: dict[str, str] = {}
    title = (title or "").strip() if isinstance(title, str) or title is None else title
    if not isinstance(title, str) or not title:
        errors["title"] = _("A title is required.")
    elif len(title) > TITLE_MAX_LENGTH:
        errors["title"] = _("Keep the title to %(n)s characters.") % {"n": TITLE_MAX_LENGTH}
    if description is not None and not isinstance(description, str):
        errors["description"] = _("The description must be text.")
    elif description and len(description) > DESCRIPTION_MAX_LENGTH:
        errors["description"] = _("Keep the description to %(n)s characters.") % {"n": DESCRIPTION_MAX_LENGTH}
    if not services:
        errors["services"] = _("Choose at least one service.")
    elif not all(isinstance(s, Service) for s in services):
        errors["services"] = _("Name existing services.")
    labels = {"starts_at": _("Give the time the maintenance starts."), "ends_at": _("Give the time it ends.")}
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if value is None:
            errors[name] = labels[name]
        elif not isinstance(value, datetime):
            errors[name] = _("Give a date and time.")
        elif timezone.is_naive(value):
            errors[name] = _("Give a time zone (ISO 8601 with offset).")
    if "starts_at" not in errors and "ends_at" not in errors:
        if ends_at <= starts_at:
            errors["ends_at"] = _("The end of the maintenance must be after its start.")
        elif ends_at - starts_at > MAX_WINDOW:
            errors["ends_at"] = _("A maintenance window may last at most %(days)s days.") % {"days": MAX_WINDOW.days}
    return errors


def status_at(*, starts_at: datetime, ends_at: datetime, now: datetime) -> str:
    """Where a window stands at ``now``: not begun, under way, or over."""
    if now < starts_at:
        return MaintenanceStatus.SCHEDULED
    if now < ends_at:
        return MaintenanceStatus.IN_PROGRESS
    return MaintenanceStatus.COMPLETED


def maintenance_schedule(
    *,
    title: str,
    services: list[Service],
    starts_at: datetime,
    ends_at: datetime,
    by,
    description: str = "",
    now: datetime | None = None,
) -> Maintenance:
    """Plan a maintenance and queue the subscribers' email after commit.

    A window that has already begun starts ``in_progress`` (subscribers hear that it
    started); one already over is recorded as ``completed`` history and emails nobody.
    """
    now = now or timezone.now()
    services = list(services or [])
    errors = _check(title=title, description=description, services=services, starts_at=starts_at, ends_at=ends_at)
    if errors:
        raise ValidationError(errors)
    status = status_at(starts_at=starts_at, ends_at=ends_at, now=now)
    with transaction.atomic():
        maintenance = Maintenance.objects.create(
            title=title.strip(),
            description=description or "",
            starts_at=starts_at,
            ends_at=ends_at,
            status=status,
            created_by=by,
        )
        maintenance.services.set(services)
        if status != MaintenanceStatus.COMPLETED:
            notifications.deliveries_create(maintenance, EVENT_FOR_STATUS[status])
    return maintenance


def _lock(maintenance: Maintenance, expected_version: int | None) -> Maintenance:
    """Reload the maintenance under a row lock and refuse a stale version."""
    locked = Maintenance.objects.select_for_update().get(pk=maintenance.pk)
    if expected_version is not None and int(expected_version) != locked.version:
        raise StaleVersion(locked, int(expected_version))
    return locked


def _refuse_history(maintenance: Maintenance) -> None:
    if maintenance.status not in ACTIVE_STATUSES:
        raise ValidationError(
            {"status": _("This maintenance is %(status)s and can no longer change.")
             % {"status": maintenance.get_status_display().lower()}}
        )  # fmt: skip


def _earliest(value: Any, now: datetime) -> Any:
    """``min(value, now)`` for an aware time; anything else is left for ``_check`` to name."""
    if isinstance(value, datetime) and not timezone.is_naive(value):
        return min(value, now)
    return value


def maintenance_edit(
    *,
    maintenance: Maintenance,
    by,
    expected_version: int | None = None,
    now: datetime | None = None,
    **fields: Any,
) -> Maintenance:
    """Change a scheduled or ongoing maintenance: any of ``EDITABLE_FIELDS``.

    ``status`` may move forward by hand: ``in_progress`` starts it now, ``completed``
    ends an ongoing one now, ``cancelled`` cancels a scheduled one. Moving the window
    into the past moves the status along with it (and emails as beat would have).
    """
    now = now or timezone.now()
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: _("This field cannot be changed.") for name in sorted(unknown)})
    if fields.get("status") == MaintenanceStatus.CANCELLED:
        others = {k: v for k, v in fields.items() if k != "status"}
        if others:
            raise ValidationError({"status": _("Cancel a maintenance on its own, without other changes.")})
        return maintenance_cancel(maintenance=maintenance, by=by, expected_version=expected_version, now=now)
    with transaction.atomic():
        current = _lock(maintenance, expected_version)
        _refuse_history(current)
        merged = {
            "title": fields.get("title", current.title),
            "description": fields.get("description", current.description),
            "services": list(fields["services"]) if "services" in fields else list(current.services.all()),
            "starts_at": fields.get("starts_at", current.starts_at),
            "ends_at": fields.get("ends_at", current.ends_at),
        }
        errors: dict[str, str] = {}
        status = fields.get("status")
        if status is not None and status != current.status:
            if status not in MaintenanceStatus.values:
                errors["status"] = _("Status must be one of %(values)s.") % {
                    "values": ", ".join(MaintenanceStatus.values)
                }
            elif status == MaintenanceStatus.IN_PROGRESS and current.status == MaintenanceStatus.SCHEDULED:
                merged["starts_at"] = _earliest(merged["starts_at"], now)
            elif status == MaintenanceStatus.COMPLETED and current.status == MaintenanceStatus.IN_PROGRESS:
                merged["ends_at"] = _earliest(merged["ends_at"], now)
            elif status == MaintenanceStatus.COMPLETED:
                errors["status"] = _("A maintenance that has not started cannot be completed; cancel it instead.")
            else:
                errors["status"] = _("A maintenance in progress cannot go back to scheduled.")
        if (
            current.status == MaintenanceStatus.IN_PROGRESS
            and "starts_at" in fields
            and fields["starts_at"] != current.starts_at
        ):
            errors["starts_at"] = _("The maintenance has begun; its start can no longer move.")
        for name, message in _check(**merged).items():
            errors.setdefault(name, message)
        if errors:
            raise ValidationError(errors)
        changed = False
        for name in ("title", "description", "starts_at", "ends_at"):
            value = merged[name].strip() if name == "title" else merged[name]
            if getattr(current, name) != value:
                setattr(current, name, value)
                changed = True
        old_ids = set(current.services.values_list("pk", flat=True))
        new_ids = {s.pk for s in merged["services"]}
        if old_ids != new_ids:
            current.services.set(merged["services"])
            changed = True
        if changed:
            current.version += 1
            current.save()
        _advance_one(current, now=now)
    return current


def maintenance_cancel(
    *, maintenance: Maintenance, by, expected_version: int | None = None, now: datetime | None = None
) -> Maintenance:
    """Cancel a scheduled maintenance and tell the subscribers. One in progress is ended instead."""
    with transaction.atomic():
        current = _lock(maintenance, expected_version)
        _refuse_history(current)
        if current.status != MaintenanceStatus.SCHEDULED:
            raise ValidationError(
                {"status": _("The maintenance is in progress: end it (status completed) instead of cancelling it.")}
            )
        _move(current, to=MaintenanceStatus.CANCELLED)
    return current


def _move(maintenance: Maintenance, *, to: str) -> bool:
    """Move the status on if nobody else did (a conditional UPDATE), then record the email.

    Beat and an engineer's edit may race for the same transition; exactly one of them
    wins the UPDATE and writes the delivery rows, and the rows are unique per
    (maintenance, event, recipient) besides.
    """
    moved = Maintenance.objects.filter(pk=maintenance.pk, status=maintenance.status).update(
        status=to, version=F("version") + 1, updated_at=timezone.now()
    )
    if not moved:
        return False
    maintenance.status = to
    maintenance.version += 1
    if maintenance.notify:
        notifications.deliveries_create(maintenance, EVENT_FOR_STATUS[to])
    return True


def _advance_one(maintenance: Maintenance, *, now: datetime) -> list[str]:
    """Start and/or end a maintenance whose time has come; returns the statuses it passed through."""
    passed = []
    if maintenance.status == MaintenanceStatus.SCHEDULED and maintenance.starts_at <= now:
        if not _move(maintenance, to=MaintenanceStatus.IN_PROGRESS):
            return passed
        passed.append(MaintenanceStatus.IN_PROGRESS)
    if (
        maintenance.status == MaintenanceStatus.IN_PROGRESS
        and maintenance.ends_at <= now
        and _move(maintenance, to=MaintenanceStatus.COMPLETED)
    ):
        passed.append(MaintenanceStatus.COMPLETED)
    return passed


def maintenance_advance(*, now: datetime | None = None) -> int:
    """Start every scheduled maintenance whose start has come and end every ongoing one
    whose end has passed; returns how many transitions were made. Run by beat every
    minute; running it twice, or on two workers at once, moves (and emails) nothing twice.

    A maintenance whose whole window passed while beat was down goes through both
    transitions at once, so subscribers still get both emails, in order.
    """
    now = now or timezone.now()
    due = list(
        Maintenance.objects.filter(
            Q(status=MaintenanceStatus.SCHEDULED, starts_at__lte=now)
            | Q(status=MaintenanceStatus.IN_PROGRESS, ends_at__lte=now)
        )
        .order_by("starts_at", "pk")
        .values_list("pk", flat=True)
    )
    moved = 0
    for pk in due:
        with transaction.atomic():
            maintenance = Maintenance.objects.filter(pk=pk).first()
            if maintenance is not None:
                moved += len(_advance_one(maintenance, now=now))
    return moved


def maintenance_import(
    *,
    source_ref: str,
    title: str,
    description: str,
    services: list[Service],
    starts_at: datetime,
    ends_at: datetime,
    status: str,
    now: datetime | None = None,
) -> tuple[Maintenance, bool]:
    """Create or update the maintenance imported as ``source_ref``; returns (maintenance, created).

    Idempotent: importing the same values again changes nothing (not even ``version``).
    Imported maintenance emails nobody, now or at later transitions (``notify=False``).
    A status the export left behind the clock (``scheduled`` for a window already over)
    is moved along to where the window stands at ``now``.
    """
    now = now or timezone.now()
    services = list(services or [])
    errors = _check(title=title, description=description, services=services, starts_at=starts_at, ends_at=ends_at)
    if not (source_ref or "").strip():
        errors["source_ref"] = _("An imported maintenance needs its source reference.")
    if status not in MaintenanceStatus.values:
        errors["status"] = _("Status must be one of %(values)s.") % {"values": ", ".join(MaintenanceStatus.values)}
    if errors:
        raise ValidationError(errors)
    if status in ACTIVE_STATUSES:
        status = status_at(starts_at=starts_at, ends_at=ends_at, now=now)
    values = {
        "title": title.strip(),
        "description": description or "",
        "starts_at": starts_at,
        "ends_at": ends_at,
        "status": status,
    }
    with transaction.atomic():
        existing = Maintenance.objects.select_for_update().filter(source_ref=source_ref).first()
        if existing is None:
            try:
                with transaction.atomic():
                    maintenance = Maintenance.objects.create(source_ref=source_ref, notify=False, **values)
                    maintenance.services.set(services)
                return maintenance, True
            except IntegrityError:
                # A concurrent import created it first: update that one instead.
                existing = Maintenance.objects.select_for_update().get(source_ref=source_ref)
        changed = False
        for name, value in values.items():
            if getattr(existing, name) != value:
                setattr(existing, name, value)
                changed = True
        if set(existing.services.values_list("pk", flat=True)) != {s.pk for s in services}:
            existing.services.set(services)
            changed = True
        if changed:
            existing.version += 1
            existing.save()
        return existing, False
