"""Every write to an incident goes through these functions, from forms, API, commands and
imports alike, so the rules below are enforced once.

Rules:
- ``started_at`` is not in the future; ``resolved_at >= started_at`` and not before the
  last recorded change;
- a resolved incident takes no update until it is explicitly reopened;
- closing needs a message;
- a write carrying a stale ``expected_version`` is refused with ``StaleVersion``;
- every change appends an ``IncidentUpdate``; nothing is overwritten without a trace.
"""

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import transaction
from django.utils import timezone

from . import notifications
from .choices import TICKET_PREFIX, Severity, Status, UpdateKind
from .models import Incident, IncidentUpdate, Service

# Clocks of browsers and servers differ a little; a start this far ahead is still "now".
CLOCK_SKEW = timedelta(seconds=60)


class StaleVersion(Exception):
    """The incident changed since the caller read it."""

    def __init__(self, incident: Incident, expected: int):
        self.incident = incident
        self.expected = expected
        super().__init__(
            f"{incident.ticket} was changed by someone else (you edited version {expected}, "
            f"it is now at version {incident.version}). Reload it and apply your change again."
        )


def _check_started_at(started_at: datetime | None, *, now: datetime) -> None:
    if started_at is None:
        raise ValidationError({"started_at": "Give the time impact began."})
    if timezone.is_naive(started_at):
        raise ValidationError({"started_at": "Give a time zone (ISO 8601 with offset)."})
    if started_at > now + CLOCK_SKEW:
        raise ValidationError({"started_at": "The start of impact cannot be in the future."})


def _clean_recipients(emails: list[str] | None) -> list[str]:
    validate = EmailValidator()
    cleaned: dict[str, None] = {}  # ordered and O(1) membership: lists of 1,000+ addresses happen
    for email in emails or []:
        email = (email or "").strip().lower()
        if not email or email in cleaned:
            continue
        try:
            validate(email)
        except ValidationError:
            raise ValidationError({"extra_recipients": f"{email!r} is not a valid email address."}) from None
        cleaned[email] = None
    return list(cleaned)


def _check_severity(severity: Any) -> int:
    if severity not in Severity.values:
        raise ValidationError({"severity": "Severity must be 1 (critical) to 4 (low)."})
    return int(severity)


def _check_services(services: list[Service]) -> list[Service]:
    if not services:
        raise ValidationError({"services": "Choose at least one affected service."})
    return list(services)


def _check_url(url: str) -> str:
    if url:
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            raise ValidationError({"external_url": "Enter a valid http(s) link."}) from None
    return url


def _lock(incident: Incident, expected_version: int | None) -> Incident:
    """Reload the incident under a row lock and refuse a stale version."""
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    if expected_version is not None and int(expected_version) != locked.version:
        raise StaleVersion(locked, int(expected_version))
    return locked


def _append(
    incident: Incident,
    *,
    kind: str,
    message: str,
    by,
    effective_at: datetime,
    created_at: datetime,
    changes: dict | None = None,
    source_ref: str = "",
    notify: bool = True,
) -> IncidentUpdate:
    update = IncidentUpdate.objects.create(
        incident=incident,
        kind=kind,
        status=incident.status,
        severity=incident.severity,
        message=message,
        changes=changes or {},
        author=by,
        effective_at=effective_at,
        created_at=created_at,
        version=incident.version,
        source_ref=source_ref,
    )
    if notify:
        notifications.deliveries_create(update)
    return update


def _last_effective_at(incident: Incident) -> datetime:
    last = incident.updates.order_by("-id").values_list("effective_at", flat=True).first()
    return last or incident.started_at


def incident_open(
    *,
    title: str,
    severity: int,
    services: list[Service],
    by,
    description: str = "",
    engineer=None,
    external_url: str = "",
    started_at: datetime | None = None,
    extra_recipients: list[str] | None = None,
    message: str = "",
    status: str = Status.INVESTIGATING,
    now: datetime | None = None,
    source_ref: str | None = None,
    notify: bool = True,
) -> Incident:
    """Open an incident, record its first update and queue the emails after commit."""
    now = now or timezone.now()
    started_at = started_at or now
    errors: dict[str, str] = {}
    if not (title or "").strip():
        errors["title"] = "A title is required."
    recipients: list[str] = []
    for check in (
        lambda: _check_started_at(started_at, now=now),
        lambda: _check_severity(severity),
        lambda: _check_services(services),
        lambda: _check_url(external_url),
        lambda: recipients.extend(_clean_recipients(extra_recipients)),
    ):
        try:
            check()
        except ValidationError as exc:
            errors.update({k: v[0] for k, v in exc.message_dict.items()})
    if status == Status.RESOLVED or status not in Status.values:
        errors["status"] = "A new incident starts open; close it separately."
    if errors:
        raise ValidationError(errors)

    with transaction.atomic():
        incident = Incident(
            # Tickets follow the primary key (unique without a second counter); the
            # placeholder lives only inside this transaction.
            ticket=f"tmp-{uuid.uuid4().hex[:16]}",
            title=title.strip(),
            description=description,
            severity=int(severity),
            status=status,
            engineer=engineer,
            external_url=external_url,
            started_at=started_at,
            reported_by=by,
            extra_recipients=recipients,
            source_ref=source_ref,
        )
        incident.save()
        incident.ticket = f"{TICKET_PREFIX}{incident.pk:06d}"
        incident.save(update_fields=["ticket"])
        incident.services.set(services)
        _append(
            incident,
            kind=UpdateKind.OPENED,
            message=message or description,
            by=by,
            effective_at=started_at,
            created_at=now,
            notify=notify,
        )
    return incident


def incident_update(
    *,
    incident: Incident,
    message: str,
    by,
    status: str | None = None,
    severity: int | None = None,
    expected_version: int | None = None,
    now: datetime | None = None,
    source_ref: str = "",
    notify: bool = True,
) -> IncidentUpdate:
    """Post an update to an open incident: a message and optionally a new status or severity."""
    now = now or timezone.now()
    errors = {}
    if not (message or "").strip():
        errors["message"] = "Write what changed."
    if status is not None and status not in Status.values:
        errors["status"] = f"Status must be one of {', '.join(Status.values)}."
    if status == Status.RESOLVED:
        errors["status"] = "Use close to resolve an incident; it needs a resolution message."
    if severity is not None:
        try:
            _check_severity(severity)
        except ValidationError as exc:
            errors.update({k: v[0] for k, v in exc.message_dict.items()})
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        incident = _lock(incident, expected_version)
        if not incident.is_open:
            raise ValidationError({"status": f"{incident.ticket} is resolved. Reopen it before posting updates."})
        changes = {}
        if status and status != incident.status:
            changes["status"] = [incident.status, status]
            incident.status = status
        if severity is not None and int(severity) != incident.severity:
            changes["severity"] = [incident.severity, int(severity)]
            incident.severity = int(severity)
        incident.version += 1
        incident.save()
        return _append(
            incident,
            kind=UpdateKind.UPDATED,
            message=message.strip(),
            by=by,
            effective_at=now,
            created_at=now,
            changes=changes,
            source_ref=source_ref,
            notify=notify,
        )


def incident_resolve(
    *,
    incident: Incident,
    message: str,
    by,
    resolved_at: datetime | None = None,
    expected_version: int | None = None,
    now: datetime | None = None,
    source_ref: str = "",
    notify: bool = True,
) -> IncidentUpdate:
    """Close an incident with a resolution message. ``resolved_at`` defaults to now."""
    now = now or timezone.now()
    resolved_at = resolved_at or now
    if not (message or "").strip():
        raise ValidationError({"message": "Closing an incident needs a resolution message."})
    with transaction.atomic():
        incident = _lock(incident, expected_version)
        if not incident.is_open:
            raise ValidationError({"status": f"{incident.ticket} is already resolved."})
        if timezone.is_naive(resolved_at):
            raise ValidationError({"resolved_at": "Give a time zone (ISO 8601 with offset)."})
        if resolved_at > now + CLOCK_SKEW:
            raise ValidationError({"resolved_at": "The resolution time cannot be in the future."})
        if resolved_at < incident.started_at:
            raise ValidationError({"resolved_at": "The incident cannot be resolved before it started."})
        last = _last_effective_at(incident)
        if resolved_at < last:
            raise ValidationError(
                {
                    "resolved_at": "The incident cannot be resolved before its last update "
                    f"({timezone.localtime(last):%Y-%m-%d %H:%M %Z})."
                }
            )
        changes = {"status": [incident.status, Status.RESOLVED]}
        incident.status = Status.RESOLVED
        incident.resolved_at = resolved_at
        incident.version += 1
        incident.save()
        return _append(
            incident,
            kind=UpdateKind.RESOLVED,
            message=message.strip(),
            by=by,
            effective_at=resolved_at,
            created_at=now,
            changes=changes,
            source_ref=source_ref,
            notify=notify,
        )


def incident_reopen(
    *,
    incident: Incident,
    message: str,
    by,
    severity: int | None = None,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> IncidentUpdate:
    """Reopen a resolved incident. The time it was resolved stays out of its downtime."""
    now = now or timezone.now()
    if not (message or "").strip():
        raise ValidationError({"message": "Say why the incident is reopened."})
    with transaction.atomic():
        incident = _lock(incident, expected_version)
        if incident.is_open:
            raise ValidationError({"status": f"{incident.ticket} is not resolved."})
        changes = {"status": [incident.status, Status.INVESTIGATING], "resolved_at": [_iso(incident.resolved_at), None]}
        if severity is not None and int(_check_severity(severity)) != incident.severity:
            changes["severity"] = [incident.severity, int(severity)]
            incident.severity = int(severity)
        incident.status = Status.INVESTIGATING
        incident.resolved_at = None
        incident.version += 1
        incident.save()
        return _append(
            incident,
            kind=UpdateKind.REOPENED,
            message=message.strip(),
            by=by,
            effective_at=now,
            created_at=now,
            changes=changes,
        )


EDITABLE_FIELDS = ("title", "description", "engineer", "external_url", "extra_recipients", "services", "started_at")


def incident_edit(
    *,
    incident: Incident,
    by,
    expected_version: int | None = None,
    message: str = "",
    now: datetime | None = None,
    **fields: Any,
) -> Incident:
    """Change an incident's details (not its status: use update, close or reopen).

    Severity may change here too; it is recorded like any other severity change.
    """
    now = now or timezone.now()
    unknown = set(fields) - set(EDITABLE_FIELDS) - {"severity", "status"}
    if unknown:
        raise ValidationError({name: "This field cannot be changed." for name in unknown})
    with transaction.atomic():
        incident = _lock(incident, expected_version)
        if not incident.is_open:
            raise ValidationError({"status": f"{incident.ticket} is resolved. Reopen it before changing it."})
        changes: dict[str, list] = {}
        status = fields.pop("status", None)
        if status is not None and status != incident.status:
            if status == Status.RESOLVED:
                raise ValidationError({"status": "Use close to resolve an incident; it needs a resolution message."})
            if status not in Status.values:
                raise ValidationError({"status": f"Status must be one of {', '.join(Status.values)}."})
            changes["status"] = [incident.status, status]
            incident.status = status
        if "severity" in fields:
            severity = _check_severity(fields.pop("severity"))
            if severity != incident.severity:
                changes["severity"] = [incident.severity, severity]
                incident.severity = severity
        if "title" in fields and not (fields["title"] or "").strip():
            raise ValidationError({"title": "A title is required."})
        if "external_url" in fields:
            _check_url(fields["external_url"] or "")
        if "extra_recipients" in fields:
            fields["extra_recipients"] = _clean_recipients(fields["extra_recipients"])
        if "started_at" in fields:
            _check_started_at(fields["started_at"], now=now)
            if fields["started_at"] != incident.started_at and incident.updates.count() > 1:
                first = incident.updates.order_by("id")[1]
                if fields["started_at"] > first.effective_at:
                    raise ValidationError({"started_at": "The start cannot move past the first update."})
        new_services = fields.pop("services", None)
        for name, value in fields.items():
            old = getattr(incident, name)
            if old != value:
                changes[name] = [_plain(old), _plain(value)]
                setattr(incident, name, value)
        if new_services is not None:
            _check_services(new_services)
            old_slugs = sorted(incident.services.values_list("slug", flat=True))
            new_slugs = sorted(s.slug for s in new_services)
            if old_slugs != new_slugs:
                changes["services"] = [old_slugs, new_slugs]
                incident.services.set(new_services)
        if not changes:
            return incident
        incident.version += 1
        incident.save()
        notify = bool({"status", "severity"} & set(changes))
        _append(
            incident,
            kind=UpdateKind.EDITED,
            message=message or "Details changed: " + ", ".join(sorted(changes)),
            by=by,
            effective_at=now,
            created_at=now,
            changes=changes,
            notify=notify,
        )
    return incident


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "get_username"):
        return value.get_username()
    return value
