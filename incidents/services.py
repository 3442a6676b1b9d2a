"""Every write to an incident goes through these functions, from forms, API, commands and
imports alike, so the rules below are enforced once.

Rules:
- ``started_at`` is not in the future; ``resolved_at >= started_at`` and not before the
  last recorded change;
- a resolved incident takes no update until it is explicitly reopened, except a
  correction (``incident_correct``), which needs a reason and emails nobody;
- closing needs a message;
- an update's ``effective_at`` lies between the start and now (or the resolution);
- a write that changes status, severity or fields and carries a stale
  ``expected_version`` is refused with ``StaleVersion``; a message alone never conflicts,
  since updates only append;
- every change appends an ``IncidentUpdate``; nothing is overwritten without a trace;
- a change to the past (a back-dated update, a correction) marks the stored reports whose
  period it touches as out of date;
- an update is ``public`` (emailed when ``notify``, shown on ``/status/`` and its feed) or
  ``internal`` (for signed-in users only: never emailed, never on ``/status/``);
- titles, descriptions and messages stay within ``choices.*_MAX_LENGTH`` characters; a
  title is one line (new lines and control characters become spaces).

An import that knows a new incident's whole history writes it in one go
(``incident_open_with_log``, or ``incident_build_with_log`` then ``incidents_create`` for
many at once): each change is checked and recorded as ``incident_update``,
``incident_resolve`` and ``incident_reopen`` would, through the same helpers.
"""

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import transaction
from django.db.models.signals import post_save
from django.utils import timezone

from audit.services import audit_record

from . import history, notifications
from .choices import (
    DESCRIPTION_MAX_LENGTH,
    MESSAGE_MAX_LENGTH,
    TICKET_PREFIX,
    TITLE_MAX_LENGTH,
    Severity,
    Status,
    UpdateKind,
    Visibility,
)
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


_EMAIL = EmailValidator()
# The validator's own local-part pattern, compiled once (it is a lazy object in Django).
_EMAIL_USER = re.compile(_EMAIL.user_regex.pattern, _EMAIL.user_regex.flags)


def _valid_email(email: str, domains_ok: set[str]) -> bool:
    """Django's ``EmailValidator``, with each distinct domain checked once.

    A list of 10,000 affected parties has a handful of domains; the full validator costs
    ~35 µs an address, most of it on the domain. An address whose domain already passed
    gets the validator's own remaining checks (length, local part); the result is the same.
    """
    user, at, domain = email.rpartition("@")
    if at and domain in domains_ok and len(email) <= 320 and _EMAIL_USER.match(user):
        return True
    try:
        _EMAIL(email)
    except ValidationError:
        return False
    domains_ok.add(domain)
    return True


def _clean_recipients(emails: list[str] | None) -> list[str]:
    cleaned: dict[str, None] = {}  # ordered and O(1) membership: lists of 10,000 addresses happen
    domains_ok: set[str] = set()
    for email in emails or []:
        email = (email or "").strip().lower()
        if not email or email in cleaned:
            continue
        if not _valid_email(email, domains_ok):
            raise ValidationError({"extra_recipients": f"{email!r} is not a valid email address."})
        cleaned[email] = None
    return list(cleaned)


_LIMITS = {
    "title": TITLE_MAX_LENGTH,
    "description": DESCRIPTION_MAX_LENGTH,
    "message": MESSAGE_MAX_LENGTH,
    "reason": MESSAGE_MAX_LENGTH,
}


def _check_lengths(**values: str | None) -> dict[str, str]:
    """Errors for text fields longer than their documented limit (``choices.*_MAX_LENGTH``)."""
    errors = {}
    for name, value in values.items():
        limit = _LIMITS[name]
        if value and len(value) > limit:
            errors[name] = f"At most {limit:,} characters (this one has {len(value):,})."
    return errors


def one_line(value: str) -> str:
    """A title is one line: new lines, tabs and other control characters become single spaces."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in value or "").split())


def _check_visibility(visibility: Any) -> str:
    if visibility not in Visibility.values:
        raise ValidationError({"visibility": f"Visibility must be one of {', '.join(Visibility.values)}."})
    return str(visibility)


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


def _lock(incident: Incident, expected_version: int | None, *, check: bool = True) -> Incident:
    """Reload the incident under a row lock and refuse a stale version (when ``check``)."""
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    if check:
        _check_version(locked, expected_version)
    return locked


def _check_version(incident: Incident, expected_version: int | None) -> None:
    if expected_version is not None and int(expected_version) != incident.version:
        raise StaleVersion(incident, int(expected_version))


def _check_effective_at(incident: Incident, effective_at: datetime, *, now: datetime, until: datetime | None = None):
    """An update takes effect between the start of impact and now (or ``until``, the resolution)."""
    if timezone.is_naive(effective_at):
        raise ValidationError({"effective_at": "Give a time zone (ISO 8601 with offset)."})
    if effective_at > now + CLOCK_SKEW:
        raise ValidationError({"effective_at": "A change cannot take effect in the future."})
    if effective_at < incident.started_at:
        started = _local(incident.started_at)
        raise ValidationError({"effective_at": f"A change cannot take effect before the incident started ({started})."})
    if until is not None and effective_at > until:
        raise ValidationError(
            {"effective_at": f"A change cannot take effect after the incident was resolved ({_local(until)})."}
        )


def _local(value: datetime) -> str:
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M %Z}"


def _entries(incident: Incident) -> list[IncidentUpdate]:
    return list(incident.updates.only("id", "kind", "sets_severity", "effective_at"))


def _severity_at(incident: Incident, at: datetime, entries: list[IncidentUpdate]) -> int:
    found = history.severity_at(entries, at, started_at=incident.started_at, resolved_at=incident.resolved_at)
    return found if found is not None else incident.severity


def _refresh_severity(incident: Incident, entries: list[IncidentUpdate] | None = None) -> None:
    """After a back-dated entry, the severity in force now is whatever the replay ends on.

    ``entries`` (the log including the new entry) saves reading it again."""
    found = _severity_now(incident, entries if entries is not None else _entries(incident))
    if found is not None and found != incident.severity:
        incident.severity = found
        incident.save(update_fields=["severity", "updated_at"])


def _severity_now(incident: Incident, entries) -> int | None:
    """The severity in force after every entry of the log (None for an empty log)."""
    return history.current_severity(entries, started_at=incident.started_at, resolved_at=incident.resolved_at)


def _past_changed(start: datetime, end: datetime | None, *, now: datetime) -> None:
    """Stored reports covering ``[start, end]`` no longer match the record."""
    from reports.services import reports_mark_out_of_date

    reports_mark_out_of_date(start=start, end=end or now, now=now)


def _append(incident: Incident, **fields: Any) -> IncidentUpdate:
    """Save the log entry ``_new_update`` builds for ``incident`` and queue its emails (when it notifies)."""
    return _save_update(_new_update(incident, **fields))


def _save_update(update: IncidentUpdate) -> IncidentUpdate:
    update.save(force_insert=True)
    if update.notify:
        notifications.deliveries_create(update)
    return update


def _new_update(
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
    sets_severity: int | None = None,
    severity: int | None = None,
    visibility: str = Visibility.PUBLIC,
) -> IncidentUpdate:
    """The log entry for the incident as it now is (not saved): its status, severity and version."""
    # An internal note is for signed-in users only: never emailed, whatever ``notify`` says.
    notify = bool(notify) and visibility == Visibility.PUBLIC
    return IncidentUpdate(
        incident=incident,
        kind=kind,
        status=incident.status,
        severity=severity or sets_severity or incident.severity,
        message=message,
        changes=changes or {},
        author=by,
        effective_at=effective_at,
        created_at=created_at,
        sets_severity=sets_severity,
        version=incident.version,
        source_ref=source_ref,
        visibility=visibility,
        notify=notify,
    )


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
    source: str = "",
    notify: bool = True,
) -> Incident:
    """Open an incident, record its first update and queue the emails after commit."""
    now = now or timezone.now()
    incident, opening = _new_incident(
        title=title,
        severity=severity,
        services=services,
        by=by,
        description=description,
        engineer=engineer,
        external_url=external_url,
        started_at=started_at or now,
        extra_recipients=extra_recipients,
        message=message,
        status=status,
        now=now,
        source_ref=source_ref,
        source=source,
        notify=notify,
    )
    with transaction.atomic():
        incident.save()
        incident.ticket = f"{TICKET_PREFIX}{incident.pk:06d}"
        incident.save(update_fields=["ticket"])
        incident.services.set(services)
        _save_update(opening)
        if incident.started_at < now - CLOCK_SKEW:
            _past_changed(incident.started_at, now, now=now)
    return incident


def _new_incident(
    *,
    title: str,
    severity: int,
    services: list[Service],
    by,
    description: str,
    engineer,
    external_url: str,
    started_at: datetime,
    extra_recipients: list[str] | None,
    message: str,
    status: str,
    now: datetime,
    source_ref: str | None,
    source: str,
    notify: bool,
) -> tuple[Incident, IncidentUpdate]:
    """Check the fields of a new incident; the incident and its opening entry, not saved yet."""
    errors: dict[str, str] = {}
    title = one_line(title)
    if not title:
        errors["title"] = "A title is required."
    errors.update(_check_lengths(title=title, description=description, message=message))
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
    incident = Incident(
        # Tickets follow the primary key (unique without a second counter); the
        # placeholder lives only inside the transaction that saves the incident.
        ticket=f"tmp-{uuid.uuid4().hex[:16]}",
        title=title,
        description=description,
        severity=int(severity),
        status=status,
        engineer=engineer,
        external_url=external_url,
        started_at=started_at,
        reported_by=by,
        extra_recipients=recipients,
        source_ref=source_ref,
        source=source,
    )
    opening = _new_update(
        incident,
        kind=UpdateKind.OPENED,
        message=message or description,
        by=by,
        effective_at=started_at,
        created_at=now,
        notify=notify,
        sets_severity=int(severity),
    )
    return incident, opening


def incident_update(
    *,
    incident: Incident,
    message: str,
    by,
    status: str | None = None,
    severity: int | None = None,
    effective_at: datetime | None = None,
    expected_version: int | None = None,
    now: datetime | None = None,
    source_ref: str = "",
    notify: bool = True,
    visibility: str = Visibility.PUBLIC,
) -> IncidentUpdate:
    """Post an update to an open incident: a message and optionally a new status or severity.

    ``notify`` emails the affected parties; ``visibility="internal"`` makes it a note for
    signed-in users only (never emailed, never on ``/status/``).

    ``effective_at`` (default now) is when the change really happened; a severity raised at
    10:05 but typed at 11:30 counts from 10:05. A ``severity`` equal to the current one is
    no change. On a resolved incident only a back-dated severity change is accepted, as a
    correction (the message is its reason; nobody is emailed).
    """
    now = now or timezone.now()
    effective_at = effective_at or now
    visibility = _check_update_args(message=message, status=status, severity=severity, visibility=visibility)
    with transaction.atomic():
        incident = _lock(incident, expected_version, check=False)
        if not incident.is_open:
            if severity is not None and (status is None or status == incident.status):
                return incident_correct(
                    incident=incident,
                    by=by,
                    reason=message,
                    severity=severity,
                    effective_at=effective_at,
                    expected_version=expected_version,
                    now=now,
                    source_ref=source_ref,
                )
            raise _resolved_error(incident)
        _check_effective_at(incident, effective_at, now=now)
        if expected_version is not None and int(expected_version) != incident.version:
            # The form re-sends the status and severity the author saw; those are not changes
            # of theirs, so a colleague's change in between is kept, not a conflict.
            seen = (
                incident.updates.filter(version__lte=int(expected_version))
                .order_by("-id")
                .values("status", "severity")
                .first()
            )
            if seen and status == seen["status"]:
                status = None
            if seen and severity is not None and int(severity) == seen["severity"]:
                severity = None
        changes, sets_severity, entries = _update_changes(
            incident, status=status, severity=severity, effective_at=effective_at, log=lambda: _entries(incident)
        )
        if changes:
            # Only a change can overwrite a colleague's; a message is appended whatever the version.
            _check_version(incident, expected_version)
            incident.status = status or incident.status
            incident.version += 1
            incident.save()
        backdated = effective_at < now - CLOCK_SKEW
        update = _append(
            incident,
            kind=UpdateKind.UPDATED,
            message=message.strip(),
            by=by,
            effective_at=effective_at,
            created_at=now,
            changes=changes,
            source_ref=source_ref,
            notify=notify,
            sets_severity=sets_severity,
            visibility=visibility,
        )
        if sets_severity is not None:
            _refresh_severity(incident, [*entries, update])
            if backdated:
                _past_changed(effective_at, now, now=now)
        return update


def _resolved_error(incident: Incident) -> ValidationError:
    return ValidationError({"status": f"{incident.ticket} is resolved. Reopen it before posting updates."})


def _check_update_args(*, message: str, status: str | None, severity: int | None, visibility: str) -> str:
    """What an update asks for, checked before looking at the incident; returns the visibility."""
    errors = _check_lengths(message=message)
    if not (message or "").strip():
        errors["message"] = "Write what changed."
    try:
        visibility = _check_visibility(visibility)
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
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
    return visibility


def _update_changes(
    incident: Incident, *, status: str | None, severity: int | None, effective_at: datetime, log
) -> tuple[dict, int | None, list]:
    """What an update to an open incident changes, the severity it sets, and the log it read.

    ``log()`` gives the incident's entries; it is called only for a severity change.
    """
    changes = {}
    sets_severity = None
    entries = []
    if status and status != incident.status:
        changes["status"] = [incident.status, status]
    if severity is not None and int(severity) != incident.severity:
        # Recorded even when it repeats the severity in force at that moment: it states
        # "Sev N from then on", which still holds if an earlier change is back-dated later.
        entries = log()
        before = _severity_at(incident, effective_at, entries)
        changes["severity"] = [before, int(severity)]
        sets_severity = int(severity)
    return changes, sets_severity, entries


CLOSING_NEEDS_MESSAGE = "Closing an incident needs a resolution message."
REOPENING_NEEDS_MESSAGE = "Say why the incident is reopened."


def _check_message(message: str, *, missing: str) -> None:
    if not (message or "").strip():
        raise ValidationError({"message": missing})
    if errors := _check_lengths(message=message):
        raise ValidationError(errors)


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
    _check_message(message, missing=CLOSING_NEEDS_MESSAGE)
    with transaction.atomic():
        incident = _lock(incident, expected_version)
        changes = _close(incident, resolved_at=resolved_at, now=now, last=lambda: _last_effective_at(incident))
        incident.save()
        update = _append(
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
        if resolved_at < now - CLOCK_SKEW:
            _past_changed(resolved_at, now, now=now)
        return update


def _close(incident: Incident, *, resolved_at: datetime, now: datetime, last) -> dict:
    """Resolve the open ``incident`` at ``resolved_at`` in memory (the caller saves); its changes.

    ``last()`` is the effective time of its latest log entry (or its start)."""
    if not incident.is_open:
        raise ValidationError({"status": f"{incident.ticket} is already resolved."})
    if timezone.is_naive(resolved_at):
        raise ValidationError({"resolved_at": "Give a time zone (ISO 8601 with offset)."})
    if resolved_at > now + CLOCK_SKEW:
        raise ValidationError({"resolved_at": "The resolution time cannot be in the future."})
    if resolved_at < incident.started_at:
        raise ValidationError({"resolved_at": "The incident cannot be resolved before it started."})
    last = last()
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
    return changes


def incident_reopen(
    *,
    incident: Incident,
    message: str,
    by,
    severity: int | None = None,
    expected_version: int | None = None,
    now: datetime | None = None,
    effective_at: datetime | None = None,
    source_ref: str = "",
    notify: bool = True,
) -> IncidentUpdate:
    """Reopen a resolved incident. The time it was resolved stays out of its downtime.

    ``effective_at`` (default now) is when impact came back; it cannot be before the resolution.
    """
    now = now or timezone.now()
    effective_at = effective_at or now
    _check_message(message, missing=REOPENING_NEEDS_MESSAGE)
    with transaction.atomic():
        incident = _lock(incident, expected_version)
        changes, sets_severity = _reopen(incident, severity=severity, effective_at=effective_at, now=now)
        incident.save()
        return _append(
            incident,
            kind=UpdateKind.REOPENED,
            message=message.strip(),
            by=by,
            effective_at=effective_at,
            created_at=now,
            changes=changes,
            sets_severity=sets_severity,
            source_ref=source_ref,
            notify=notify,
        )


def _reopen(incident: Incident, *, severity: int | None, effective_at: datetime, now: datetime):
    """Reopen the resolved ``incident`` at ``effective_at`` in memory (the caller saves); its
    changes and the severity it sets."""
    if incident.is_open:
        raise ValidationError({"status": f"{incident.ticket} is not resolved."})
    _check_effective_at(incident, effective_at, now=now)
    if effective_at < incident.resolved_at:
        raise ValidationError({"effective_at": "An incident cannot be reopened before it was resolved."})
    changes = {"status": [incident.status, Status.INVESTIGATING], "resolved_at": [_iso(incident.resolved_at), None]}
    sets_severity = None
    if severity is not None and int(_check_severity(severity)) != incident.severity:
        changes["severity"] = [incident.severity, int(severity)]
        incident.severity = sets_severity = int(severity)
    incident.status = Status.INVESTIGATING
    incident.resolved_at = None
    incident.version += 1
    return changes, sets_severity


@dataclass(frozen=True)
class LogStep:
    """One change to a new incident after its opening, as it would be passed to its service.

    ``kind`` names the service: ``updated`` is ``incident_update`` (a message, optionally a
    new ``status`` or ``severity``, taking effect at ``effective_at``), ``resolved`` is
    ``incident_resolve`` (``effective_at`` is the resolution time) and ``reopened`` is
    ``incident_reopen`` (optionally a ``severity``). ``created_at`` is that call's ``now``:
    when the change was recorded.
    """

    kind: str
    message: str
    effective_at: datetime
    created_at: datetime
    severity: int | None = None
    status: str | None = None
    source_ref: str = ""


class _Replayed(NamedTuple):
    """What ``history`` reads of a log entry not saved yet; its place in the log stands in for its id."""

    id: int
    kind: str
    sets_severity: int | None
    effective_at: datetime


def incident_open_with_log(*, log: Sequence[LogStep], **fields: Any) -> Incident:
    """Open an incident with its whole known log in one call; for history from another tool.

    Writes what ``incident_open`` (``fields``, its arguments but ``notify``) followed by each
    step of ``log`` through its service would write, with the same rules, in four queries.
    Nobody is emailed. See ``incident_build_with_log`` for what is refused.
    """
    return incidents_create([incident_build_with_log(log=log, **fields)])[0]


@dataclass
class NewIncident:
    """An incident and its whole log, checked and built in memory; ``incidents_create`` writes it."""

    incident: Incident
    services: list[Service]
    updates: list[IncidentUpdate]
    # (start, end, now) of each mark of stored reports out of date the services would make, in order.
    marks: list[tuple[datetime, datetime, datetime]]


def incident_build_with_log(
    *,
    log: Sequence[LogStep],
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
    source: str = "",
) -> NewIncident:
    """Check and build (without writing) what ``incident_open`` followed by each step of
    ``log`` through its service would write: the incident in its final state and its log.

    Each step is checked as its service checks it, against the incident as the steps before
    it left it; the first refused raises ``ValidationError``. A severity change to an
    incident resolved by an earlier step would be a correction (``incident_correct``, which
    this does not build): ``ValueError``.
    """
    now = now or timezone.now()
    incident, opening = _new_incident(
        title=title,
        severity=severity,
        services=services,
        by=by,
        description=description,
        engineer=engineer,
        external_url=external_url,
        started_at=started_at or now,
        extra_recipients=extra_recipients,
        message=message,
        status=status,
        now=now,
        source_ref=source_ref,
        source=source,
        notify=False,
    )
    rows = [opening]
    replay = [_Replayed(0, opening.kind, opening.sets_severity, opening.effective_at)]
    past = [(incident.started_at, now, now)] if incident.started_at < now - CLOCK_SKEW else []
    for step in log:
        row, marks = _log_step(incident, step, by=by, rows=rows, replay=replay)
        rows.append(row)
        replay.append(_Replayed(len(replay), row.kind, row.sets_severity, row.effective_at))
        if row.sets_severity is not None and row.kind == UpdateKind.UPDATED:
            # As _refresh_severity after a severity change: what the replay ends on.
            incident.severity = _severity_now(incident, replay) or incident.severity
        past.extend(marks)
    incident.severity = _severity_now(incident, replay) or incident.severity
    return NewIncident(incident=incident, services=list(services), updates=rows, marks=past)


def incidents_create(new: Sequence[NewIncident]) -> list[Incident]:
    """Write incidents built by ``incident_build_with_log``: four queries however many they are.

    No savepoint of its own: everything that can be refused was checked when they were
    built, and a database error (a ``source_ref`` taken meanwhile) fails the caller's
    transaction or savepoint.
    """
    if not new:
        return []
    with transaction.atomic(savepoint=False):
        incidents = Incident.objects.bulk_create([item.incident for item in new])
        through = Incident.services.through
        through.objects.bulk_create(
            [
                through(incident_id=item.incident.pk, service_id=pk)
                for item in new
                for pk in dict.fromkeys(service.pk for service in item.services)
            ]
        )
        IncidentUpdate.objects.bulk_create([update for item in new for update in item.updates])
        for incident in incidents:
            incident.ticket = f"{TICKET_PREFIX}{incident.pk:06d}"
        Incident.objects.bulk_update(incidents, ["ticket"])
        for item in new:
            for start, end, at in item.marks:
                _past_changed(start, end, now=at)
        # Bulk writes send no model signals; receivers (the cached /status/ page) hear of
        # each incident as if it had been saved, once it is written in full.
        for incident in incidents:
            db = incident._state.db
            post_save.send(sender=Incident, instance=incident, created=True, update_fields=None, raw=False, using=db)
    return incidents


def _log_step(incident: Incident, step: LogStep, *, by, rows: list[IncidentUpdate], replay: list[_Replayed]):
    """Apply one step to the unsaved ``incident`` as its service would; its log entry (unsaved)
    and the (start, end, now) spans of reports it makes out of date."""
    now, at = step.created_at, step.effective_at
    message = step.message
    if step.kind == UpdateKind.UPDATED:
        _check_update_args(message=message, status=step.status, severity=step.severity, visibility=Visibility.PUBLIC)
        if not incident.is_open:
            if step.severity is not None and step.status in (None, incident.status):
                raise ValueError("A severity change to a resolved incident is a correction: open it, then correct it.")
            raise _resolved_error(incident)
        _check_effective_at(incident, at, now=now)
        changes, sets_severity, _ = _update_changes(
            incident, status=step.status, severity=step.severity, effective_at=at, log=lambda: replay
        )
        if changes:
            incident.status = step.status or incident.status
            incident.version += 1
        marks = [(at, now, now)] if sets_severity is not None and at < now - CLOCK_SKEW else []
    elif step.kind == UpdateKind.RESOLVED:
        _check_message(message, missing=CLOSING_NEEDS_MESSAGE)
        changes = _close(incident, resolved_at=at, now=now, last=lambda: rows[-1].effective_at)
        sets_severity = None
        marks = [(at, now, now)] if at < now - CLOCK_SKEW else []
    elif step.kind == UpdateKind.REOPENED:
        _check_message(message, missing=REOPENING_NEEDS_MESSAGE)
        changes, sets_severity = _reopen(incident, severity=step.severity, effective_at=at, now=now)
        marks = []
    else:
        raise ValueError(f"A log step is updated, resolved or reopened, not {step.kind!r}.")
    row = _new_update(
        incident,
        kind=step.kind,
        message=message.strip(),
        by=by,
        effective_at=at,
        created_at=now,
        changes=changes,
        source_ref=step.source_ref,
        notify=False,
        sets_severity=sets_severity,
    )
    return row, marks


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
    if "title" in fields:
        fields["title"] = one_line(fields["title"])
    lengths = {name: fields.get(name) for name in ("title", "description") if name in fields}
    if errors := _check_lengths(message=message, **lengths):
        raise ValidationError(errors)
    with transaction.atomic():
        incident = _lock(incident, expected_version, check=False)
        original_start = incident.started_at
        if not incident.is_open:
            raise ValidationError(
                {"reason": f"{incident.ticket} is resolved: give a reason to correct its record, or reopen it."}
            )
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
        if fields.get("services") is not None:
            _check_services(fields["services"])
        _apply_fields(incident, fields, changes)
        if not changes:
            return incident
        _check_version(incident, expected_version)
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
            sets_severity=changes["severity"][1] if "severity" in changes else None,
        )
        if {"started_at", "services"} & set(changes):
            _past_changed(min(incident.started_at, original_start), now, now=now)
    return incident


CORRECTABLE_FIELDS = ("title", "description", "engineer", "external_url", "extra_recipients", "services")


def incident_correct(
    *,
    incident: Incident,
    by,
    reason: str,
    expected_version: int | None = None,
    now: datetime | None = None,
    severity: int | None = None,
    effective_at: datetime | None = None,
    started_at: datetime | None = None,
    resolved_at: datetime | None = None,
    source_ref: str = "",
    **fields: Any,
) -> IncidentUpdate | None:
    """Correct a resolved incident's record without reopening it; emails nobody.

    Any of its details, its start and resolution times, and (with ``severity`` and
    ``effective_at``) one back-dated severity change. The correction is one log entry with
    the reason and every change from what to what; stored reports whose period it touches
    are marked out of date. Returns None when nothing would change.
    """
    now = now or timezone.now()
    if "title" in fields:
        fields["title"] = one_line(fields["title"])
    errors: dict[str, str] = _check_lengths(
        reason=reason, **{name: fields.get(name) for name in ("title", "description") if name in fields}
    )
    if not (reason or "").strip():
        errors["reason"] = "Say why the record is corrected."
    unknown = set(fields) - set(CORRECTABLE_FIELDS)
    errors.update({name: "This field cannot be corrected." for name in unknown})
    if severity is not None:
        try:
            _check_severity(severity)
        except ValidationError as exc:
            errors.update({k: v[0] for k, v in exc.message_dict.items()})
        if effective_at is None:
            errors["effective_at"] = "Say from when the corrected severity applies."
    elif effective_at is not None:
        errors["severity"] = "Give the severity that applies from this time."
    if "title" in fields and not (fields["title"] or "").strip():
        errors["title"] = "A title is required."
    for name, check in (("external_url", _check_url), ("services", _check_services)):
        if name in fields:
            try:
                fields[name] = check(fields[name] or ([] if name == "services" else ""))
            except ValidationError as exc:
                errors.update({k: v[0] for k, v in exc.message_dict.items()})
    if "extra_recipients" in fields:
        try:
            fields["extra_recipients"] = _clean_recipients(fields["extra_recipients"])
        except ValidationError as exc:
            errors.update({k: v[0] for k, v in exc.message_dict.items()})
    if errors:
        raise ValidationError(errors)

    with transaction.atomic():
        incident = _lock(incident, expected_version, check=False)
        if incident.is_open:
            raise ValidationError({"status": f"{incident.ticket} is open: change it with an update or an edit."})
        old_start, old_end = incident.started_at, incident.resolved_at
        new_start = started_at or old_start
        new_end = resolved_at or old_end
        if started_at is not None:
            _check_started_at(started_at, now=now)
        if resolved_at is not None:
            if timezone.is_naive(resolved_at):
                raise ValidationError({"resolved_at": "Give a time zone (ISO 8601 with offset)."})
            if resolved_at > now + CLOCK_SKEW:
                raise ValidationError({"resolved_at": "The resolution time cannot be in the future."})
        if new_end < new_start:
            field = "resolved_at" if resolved_at is not None else "started_at"
            raise ValidationError({field: "The incident cannot be resolved before it started."})
        last_reopen = (
            incident.updates.filter(kind=UpdateKind.REOPENED).order_by("-id").values_list("effective_at", flat=True)
        ).first()
        if last_reopen is not None and new_end < last_reopen:
            raise ValidationError(
                {"resolved_at": f"The incident was reopened at {_local(last_reopen)}; it was resolved after that."}
            )

        changes: dict[str, list] = {}
        if new_start != old_start:
            changes["started_at"] = [_iso(old_start), _iso(new_start)]
            incident.started_at = new_start
        if new_end != old_end:
            changes["resolved_at"] = [_iso(old_end), _iso(new_end)]
            incident.resolved_at = new_end
        sets_severity = None
        if severity is not None:
            _check_effective_at(incident, effective_at, now=now, until=new_end)
            # An explicit "Sev N from then" is kept even when it repeats the severity in force
            # then: a later back-dated change before it must not silently extend over it.
            before = _severity_at(incident, effective_at, _entries(incident))
            changes["severity"] = [before, int(severity)]
            sets_severity = int(severity)
        _apply_fields(incident, fields, changes)
        if not changes:
            return None
        _check_version(incident, expected_version)
        incident.version += 1
        incident.save()
        update = _append(
            incident,
            kind=UpdateKind.CORRECTED,
            message=reason.strip(),
            by=by,
            effective_at=effective_at if sets_severity is not None else now,
            created_at=now,
            changes=changes,
            source_ref=source_ref,
            notify=False,
            sets_severity=sets_severity,
        )
        _refresh_severity(incident)
        _past_changed(min(old_start, new_start), max(old_end, new_end), now=now)
        audit_record(action="incident_correction", actor=by, target=incident, summary=reason.strip(), changes=changes)
        return update


def _apply_fields(incident: Incident, fields: dict[str, Any], changes: dict[str, list]) -> None:
    """Set the given details (and services) on ``incident``, noting each change from → to.

    Shared by edits of open incidents and corrections of resolved ones; the caller saves."""
    new_services = fields.pop("services", None)
    for name, value in fields.items():
        old = getattr(incident, name)
        if old != value:
            changes[name] = [_plain(old), _plain(value)]
            setattr(incident, name, value)
    if new_services is not None:
        old_slugs = sorted(incident.services.values_list("slug", flat=True))
        new_slugs = sorted(s.slug for s in new_services)
        if old_slugs != new_slugs:
            changes["services"] = [old_slugs, new_slugs]
            incident.services.set(new_services)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "get_username"):
        return value.get_username()
    return value
