"""PagerDuty incidents, log entries and webhook events, written as Beacon incidents.

The import and the webhook meet here, so both keep the same Beacon incident for one
PagerDuty incident (``source_ref="pagerduty:<id>"``). Every write goes through
``incidents.services`` with ``notify=False``: history from another tool emails nobody.

- severity: the priority's name through ``PAGERDUTY_PRIORITY_SEVERITY``, or, without a
  (known) priority, the urgency through ``PAGERDUTY_URGENCY_SEVERITY``;
- a priority change is a severity change back-dated to when PagerDuty recorded it, so a P3
  raised to P1 counts as Sev 1 from that moment;
- the end is the time of the resolve log entry (or the incident's ``resolved_at`` /
  ``last_status_change_at``); a later trigger or reopen reopens it;
- each log entry's update carries ``pagerduty:<id>:<log entry id>`` and each webhook
  event's ``pagerduty:<id>:event:<event id>``, so nothing is written twice.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from incidents import services as incident_services
from incidents.choices import Severity, UpdateKind
from incidents.models import Incident, IncidentUpdate, Service
from incidents.services import LogStep, NewIncident
from integrations.pagerduty import parse_time

from .models import ServiceLink, WebhookEvent

logger = logging.getLogger(__name__)

SOURCE = "pagerduty"
RESOLVED = "resolved"
UPDATED_KIND, RESOLVED_KIND, REOPENED_KIND = UpdateKind.UPDATED, UpdateKind.RESOLVED, UpdateKind.REOPENED
# Entry types that say someone worked on the incident (a message in the log).
MESSAGE_TYPES = {
    "acknowledge_log_entry": "Acknowledged in PagerDuty",
    "annotate_log_entry": "Note in PagerDuty",
}
# After a resolution, these mean PagerDuty had the incident open again.
REOPEN_TYPES = {"reopen_log_entry", "trigger_log_entry", "acknowledge_log_entry", "unacknowledge_log_entry"}
PRIORITY_IN_SUMMARY = re.compile(r'to\s+"?([^"\s]+)"?\s*$', re.IGNORECASE)


def incident_ref(pd_id: str) -> str:
    return f"{SOURCE}:{pd_id}"


@dataclass
class Counts:
    """What an import or a webhook event wrote; ``rows`` is every Incident and IncidentUpdate created."""

    incidents: int = 0
    updates: int = 0
    resolved: int = 0
    reopened: int = 0
    services: int = 0
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)
    # (start, end) of every incident written, for marking stored reports out of date.
    spans: list[tuple[datetime, datetime | None]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.incidents + self.updates

    def add(self, other: Counts) -> None:
        for name in ("incidents", "updates", "resolved", "reopened", "services", "unchanged"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.skipped.extend(other.skipped)
        self.spans.extend(other.spans)


# --- mapping -------------------------------------------------------------------------


def priority_name(priority) -> str | None:
    if isinstance(priority, dict):
        name = priority.get("name") or priority.get("summary")
        return str(name).strip() or None if name else None
    if isinstance(priority, str):
        return priority.strip() or None
    return None


def severity_for(priority, urgency) -> int:
    """Severity from a priority (object or name) or, without a known priority, from the urgency."""
    name = priority_name(priority)
    if name:
        severity = settings.PAGERDUTY_PRIORITY_SEVERITY.get(name.lower())
        if severity:
            return severity
        logger.info("PagerDuty priority %r is not in PAGERDUTY_PRIORITY_SEVERITY; using the urgency", name)
    return settings.PAGERDUTY_URGENCY_SEVERITY.get(str(urgency or "").lower(), Severity.MINOR)


def new_priority(entry: dict):
    """The priority a ``priority_change_log_entry`` sets: ``channel.new_priority``, or the end of its summary."""
    channel = entry.get("channel") if isinstance(entry.get("channel"), dict) else {}
    if "new_priority" in channel:
        return channel["new_priority"]  # None: the priority was removed
    match = PRIORITY_IN_SUMMARY.search(str(entry.get("summary") or ""))
    return match.group(1) if match else None


def initial_priority(incident: dict, entries: list[dict]):
    """The priority the incident started with: before its first recorded change, else its current one."""
    changes = [e for e in entries if e.get("type") == "priority_change_log_entry"]
    if not changes:
        return incident.get("priority")
    channel = changes[0].get("channel") if isinstance(changes[0].get("channel"), dict) else {}
    return channel.get("old_priority")


def service_for(pd_service, counts: Counts, cache: dict | None = None) -> Service:
    """The Beacon service a PagerDuty service maps to, created (named after it) on first sight."""
    if not isinstance(pd_service, dict) or not pd_service.get("id"):
        pd_service = {"id": "unknown", "summary": "PagerDuty"}
    external_id = str(pd_service["id"])
    if cache is not None and external_id in cache:
        return cache[external_id]
    link = ServiceLink.objects.filter(source=SOURCE, external_id=external_id).select_related("service").first()
    if link is None:
        name = str(pd_service.get("summary") or pd_service.get("name") or external_id).strip()[:120]
        slug = slugify(name)[:80] or f"pagerduty-{slugify(external_id)}"[:80]
        service = Service.objects.filter(name__iexact=name).first() or Service.objects.filter(slug=slug).first()
        if service is None:
            service = Service.objects.create(slug=slug, name=name)
            counts.services += 1
        link = ServiceLink.objects.create(source=SOURCE, external_id=external_id, external_name=name, service=service)
    if cache is not None:
        cache[external_id] = link.service
    return link.service


def _url(value) -> str:
    if not isinstance(value, str) or not value:
        return ""
    try:
        URLValidator(schemes=["http", "https"])(value)
    except ValidationError:
        return ""
    return value[:500]


def _clamp(at: datetime | None, incident: Incident | _Target, now: datetime) -> datetime:
    """A PagerDuty time inside what Beacon accepts: not before the start, not after now."""
    at = at or now
    return min(max(at, incident.started_at), now)


def _opening(pd: dict, *, severity: int, now: datetime, counts: Counts, cache=None, message: str = "") -> dict:
    """The arguments of ``incident_open`` for a PagerDuty incident (its service made on first sight)."""
    started = parse_time(pd.get("created_at"))
    if started is None:
        raise ValidationError({"created_at": f"PagerDuty incident {pd.get('id')} has no valid created_at."})
    number = pd.get("incident_number") or pd.get("number")
    title = str(pd.get("title") or pd.get("summary") or "").strip()[:200] or f"PagerDuty incident {pd['id']}"
    return {
        "title": title,
        "severity": severity,
        "services": [service_for(pd.get("service"), counts, cache)],
        "by": None,
        "description": f"PagerDuty incident #{number}" if number else "PagerDuty incident",
        "external_url": _url(pd.get("html_url")),
        "started_at": min(started, now),
        "message": message or "Triggered in PagerDuty.",
        "now": now,
        "source_ref": incident_ref(pd["id"]),
        "source": SOURCE,
    }


def _open(pd: dict, *, severity: int, now: datetime, counts: Counts, cache=None, message: str = "") -> Incident:
    fields = _opening(pd, severity=severity, now=now, counts=counts, cache=cache, message=message)
    incident = incident_services.incident_open(**fields, notify=False)
    counts.incidents += 1
    return incident


class _Target:
    """The Beacon incident a PagerDuty incident's changes go to, as the decisions below see it.

    Each decision (resolve, reopen, a back-dated severity, a message) becomes a ``LogStep``
    given to ``write``: at once through the services for an incident Beacon has
    (``_Existing``), or gathered and written in one call for a new one (``_New``).
    """

    started_at: datetime
    is_open: bool
    resolved_at: datetime | None

    def last_effective_at(self) -> datetime:
        raise NotImplementedError

    def write(self, step: LogStep) -> bool:
        """Write (or plan) one step; False when it changed nothing."""
        raise NotImplementedError

    def resolve(self, *, at: datetime, message: str, source_ref: str, now: datetime, counts: Counts) -> None:
        """Resolve at ``at``, or at the last recorded change if that is later."""
        floor = self.last_effective_at()
        message = message or "Resolved in PagerDuty."
        self.write(LogStep(RESOLVED_KIND, message, max(at, floor), max(now, at, floor), source_ref=source_ref))
        counts.updates += 1
        counts.resolved += 1

    def reopen(self, *, at: datetime, message: str, source_ref: str, now: datetime, counts: Counts) -> None:
        at = max(at, self.resolved_at)
        message = message or "Reopened in PagerDuty."
        self.write(LogStep(REOPENED_KIND, message, at, max(now, at), source_ref=source_ref))
        counts.updates += 1
        counts.reopened += 1

    def set_severity(self, *, severity: int, at: datetime, message: str, source_ref: str, now, counts: Counts) -> None:
        """A back-dated severity change; on a resolved incident, a correction (only within its duration)."""
        if not self.is_open and at > self.resolved_at:
            counts.skipped.append(f"{source_ref}: priority changed after the incident was resolved; nothing to count")
            return
        if self.write(LogStep(UPDATED_KIND, message, at, now, severity=severity, source_ref=source_ref)):
            counts.updates += 1

    def message(self, *, at: datetime, message: str, source_ref: str, now, counts: Counts) -> None:
        if not self.is_open:
            counts.skipped.append(f"{source_ref}: a message after the incident was resolved here")
            return
        self.write(LogStep(UPDATED_KIND, message, at, now, source_ref=source_ref))
        counts.updates += 1


class _Existing(_Target):
    """An incident Beacon has: each step is written at once through ``incidents.services``."""

    def __init__(self, incident: Incident):
        self.incident = incident

    @property
    def started_at(self) -> datetime:
        return self.incident.started_at

    @property
    def is_open(self) -> bool:
        return self.incident.is_open

    @property
    def resolved_at(self) -> datetime | None:
        return self.incident.resolved_at

    def last_effective_at(self) -> datetime:
        last = self.incident.updates.order_by("-id").values_list("effective_at", flat=True).first()
        return last or self.incident.started_at

    def write(self, step: LogStep) -> bool:
        common = {"incident": self.incident, "message": step.message, "by": None, "now": step.created_at}
        common |= {"source_ref": step.source_ref, "notify": False}
        if step.kind == RESOLVED_KIND:
            update = incident_services.incident_resolve(**common, resolved_at=step.effective_at)
        elif step.kind == REOPENED_KIND:
            update = incident_services.incident_reopen(**common, effective_at=step.effective_at)
        else:
            update = incident_services.incident_update(**common, severity=step.severity, effective_at=step.effective_at)
        if update is None:  # a correction that changed nothing
            return False
        self.incident = update.incident
        return True


class _Correction(Exception):
    """A new incident's log holds a correction, which only the step-by-step services write."""


class _New(_Target):
    """An incident new to Beacon: the steps are gathered, then written with the opening in one call."""

    def __init__(self, started_at: datetime):
        self.started_at = started_at
        self.is_open = True
        self.resolved_at = None
        self.last = started_at  # the latest effective time in its log
        self.steps: list[LogStep] = []

    def last_effective_at(self) -> datetime:
        return self.last

    def write(self, step: LogStep) -> bool:
        if step.kind == UPDATED_KIND and not self.is_open:
            raise _Correction(step.source_ref)
        self.steps.append(step)
        if step.kind == RESOLVED_KIND:
            self.is_open, self.resolved_at = False, step.effective_at
        elif step.kind == REOPENED_KIND:
            self.is_open, self.resolved_at = True, None
        self.last = max(self.last, step.effective_at)
        return True


def _entry_message(entry: dict, default: str) -> str:
    channel = entry.get("channel") if isinstance(entry.get("channel"), dict) else {}
    text = channel.get("summary") if entry.get("type") == "annotate_log_entry" else None
    text = str(text or entry.get("summary") or "").strip()
    agent = entry.get("agent") if isinstance(entry.get("agent"), dict) else {}
    who = str(agent.get("summary") or "").strip()
    if text:
        return text
    return f"{default} by {who}." if who else f"{default}."


# --- import ----------------------------------------------------------------------------


def pagerduty_incident_apply(
    *,
    incident: dict,
    entries: list[dict],
    now: datetime | None = None,
    existing: Incident | None = None,
    looked_up: bool = False,
    known_refs: set[str] | None = None,
    service_cache: dict | None = None,
    pending: list[NewIncident] | None = None,
) -> Counts:
    """Bring one PagerDuty incident (with its log entries, oldest first) into Beacon; idempotent.

    Each change is written as of when PagerDuty recorded it (the services' ``now`` is the
    entry's time, as ``import_statuspage`` does), so the log reads like PagerDuty's own;
    the caller marks stored reports over ``Counts.spans`` out of date, once per page.
    An incident new to Beacon is built with its whole log (``incident_build_with_log``) and
    written in one call (``incidents_create``); one Beacon has gets each change through the
    services.
    ``existing`` (with ``looked_up``, None means Beacon does not have it) and ``known_refs``
    (the source refs of its updates) may be passed when the caller loaded them for a whole
    page. With ``pending``, a new incident is built and added there for the caller to write
    with others (``incidents_create``). Raises ``ValidationError`` when the incident cannot
    be taken in; the caller runs this in a transaction, so nothing is half-written.
    """
    now = now or timezone.now()
    counts = Counts()
    ref = incident_ref(incident["id"])
    beacon = existing
    if beacon is None and not looked_up:
        beacon = Incident.objects.filter(source_ref=ref).first()
    if beacon is None:
        target = _open_with_log(incident, entries, now=now, counts=counts, cache=service_cache, pending=pending)
    else:
        if known_refs is None:
            known_refs = set(IncidentUpdate.objects.filter(incident=beacon).values_list("source_ref", flat=True))
        target = _Existing(beacon)
        _apply_log(target, incident, entries, known_refs=known_refs, now=now, counts=counts)
    if counts.rows:
        counts.spans.append((target.started_at, target.resolved_at))
    else:
        counts.unchanged += 1
    return counts


def _open_with_log(pd: dict, entries: list[dict], *, now: datetime, counts: Counts, cache, pending) -> _Target:
    """A PagerDuty incident new to Beacon: its log is decided in memory, then written with it
    in one call (or added to ``pending``, for the caller to write)."""
    severity = severity_for(initial_priority(pd, entries), pd.get("urgency"))
    trigger = next((e for e in entries if e.get("type") == "trigger_log_entry"), None)
    created = parse_time(pd.get("created_at"))
    fields = _opening(
        pd,
        severity=severity,
        now=min(created, now) if created else now,
        counts=counts,
        cache=cache,
        message=_entry_message(trigger, "Triggered in PagerDuty") if trigger else "",
    )
    new = _New(fields["started_at"])
    written = Counts()
    try:
        _apply_log(new, pd, entries, known_refs=set(), now=now, counts=written)
    except _Correction:
        # A priority change at (or clamped to) the moment of a resolution seen before it:
        # rare enough to take the step-by-step way, which writes corrections.
        written = Counts()
        target = _Existing(incident_services.incident_open(**fields, notify=False))
        _apply_log(target, pd, entries, known_refs=set(), now=now, counts=written)
    else:
        built = incident_services.incident_build_with_log(log=new.steps, **fields)
        if pending is None:
            incident_services.incidents_create([built])
        else:
            pending.append(built)
        target = new
    counts.incidents += 1
    counts.add(written)
    return target


def _apply_log(target: _Target, pd: dict, entries: list[dict], *, known_refs: set[str], now: datetime, counts: Counts):
    """Decide what each log entry not written yet changes, then let the incident's own state have the last word."""
    ref = incident_ref(pd["id"])
    urgency = pd.get("urgency")
    triggers = 0
    for entry in entries:
        kind = entry.get("type")
        triggers += kind == "trigger_log_entry"
        entry_ref = f"{ref}:{entry.get('id')}"
        if entry_ref in known_refs:
            continue
        at = _clamp(parse_time(entry.get("created_at")), target, now)
        if kind == "resolve_log_entry":
            if target.is_open:
                message = _entry_message(entry, "Resolved")
                target.resolve(at=at, message=message, source_ref=entry_ref, now=at, counts=counts)
        elif not target.is_open and kind in REOPEN_TYPES and (kind != "trigger_log_entry" or triggers > 1):
            if at >= target.resolved_at:
                message = _entry_message(entry, "Reopened")
                target.reopen(at=at, message=message, source_ref=entry_ref, now=at, counts=counts)
        elif kind == "priority_change_log_entry":
            priority = new_priority(entry)
            message = _entry_message(entry, f"Priority changed to {priority_name(priority) or 'none'}")
            severity = severity_for(priority, urgency)
            target.set_severity(severity=severity, at=at, message=message, source_ref=entry_ref, now=at, counts=counts)
        elif kind in MESSAGE_TYPES and target.is_open:
            message = _entry_message(entry, MESSAGE_TYPES[kind])
            target.message(at=at, message=message, source_ref=entry_ref, now=at, counts=counts)
    # The incident's own state has the last word (log entries can be cut short).
    status = pd.get("status")
    changed_at = parse_time(pd.get("last_status_change_at"))
    if status == RESOLVED and target.is_open:
        at = _clamp(parse_time(pd.get("resolved_at")) or changed_at, target, now)
        target.resolve(at=at, message="Resolved in PagerDuty.", source_ref=f"{ref}:resolved", now=at, counts=counts)
    elif status and status != RESOLVED and not target.is_open:
        at = _clamp(changed_at, target, now)
        message = f"PagerDuty shows it {status}."
        target.reopen(at=at, message=message, source_ref=f"{ref}:{status}", now=at, counts=counts)


# --- webhooks --------------------------------------------------------------------------

INCIDENT_EVENTS = {
    "incident.triggered",
    "incident.acknowledged",
    "incident.priority_updated",
    "incident.annotated",
    "incident.resolved",
    "incident.reopened",
}


class PayloadError(Exception):
    """The webhook body is not a PagerDuty v3 event Beacon can read; ``field`` names what is wrong."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass
class WebhookEventData:
    id: str
    type: str
    occurred_at: datetime
    incident: dict  # the incident (or, for a note, its reference)
    agent: str = ""
    note: str = ""


def webhook_event_parse(body) -> WebhookEventData | None:
    """Check a decoded v3 webhook body. None for event types Beacon does not take."""
    if not isinstance(body, dict) or not isinstance(body.get("event"), dict):
        raise PayloadError("event", 'Expected a PagerDuty v3 webhook: {"event": {…}}.')
    event = body["event"]
    event_type = event.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise PayloadError("event.event_type", "Missing the event type.")
    if event_type not in INCIDENT_EVENTS:
        return None
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id.strip():
        raise PayloadError("event.id", "Missing the event id.")
    occurred_at = parse_time(event.get("occurred_at"))
    if occurred_at is None:
        raise PayloadError("event.occurred_at", "Missing or not an ISO 8601 time.")
    data = event.get("data")
    if not isinstance(data, dict):
        raise PayloadError("event.data", "Missing the event data.")
    note = ""
    if event_type == "incident.annotated":
        incident = data.get("incident")
        note = str(data.get("content") or "").strip()
        if not isinstance(incident, dict):
            raise PayloadError("event.data.incident", "A note event needs the incident it belongs to.")
    else:
        incident = data
        if parse_time(incident.get("created_at")) is None:
            raise PayloadError("event.data.created_at", "Missing or not an ISO 8601 time.")
    if not isinstance(incident.get("id"), str) or not incident["id"].strip():
        raise PayloadError("event.data.id", "Missing the incident id.")
    agent = event.get("agent") if isinstance(event.get("agent"), dict) else {}
    return WebhookEventData(
        id=event_id.strip()[:200],
        type=event_type,
        occurred_at=occurred_at,
        incident=incident,
        agent=str(agent.get("summary") or "").strip(),
        note=note,
    )


def pagerduty_webhook_apply(*, event: WebhookEventData, now: datetime | None = None) -> str:
    """Apply one webhook event in one transaction; the same event id again is a no-op. Returns the outcome."""
    now = now or timezone.now()
    ref = incident_ref(event.incident["id"])
    event_ref = f"{ref}:event:{event.id}"
    by = f" by {event.agent}" if event.agent else ""
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = WebhookEvent.objects.create(
                    source=SOURCE, event_id=event.id, event_type=event.type, incident_ref=ref
                )
        except IntegrityError:
            return "duplicate: already applied"
        counts = Counts()
        beacon = Incident.objects.filter(source_ref=ref).first()
        if beacon is None:
            if event.type == "incident.annotated":
                outcome = "note for an incident Beacon does not have; ignored"
                record.outcome = outcome
                record.save(update_fields=["outcome"])
                return outcome
            pd = event.incident
            beacon = _open(pd, severity=severity_for(pd.get("priority"), pd.get("urgency")), now=now, counts=counts)
        at = _clamp(event.occurred_at, beacon, now)
        pd = event.incident
        target = _Existing(beacon)
        change = {"at": at, "source_ref": event_ref, "now": now, "counts": counts}
        if event.type == "incident.acknowledged":
            if not target.is_open and at >= target.resolved_at:
                target.reopen(message=f"Acknowledged in PagerDuty{by}.", **change)
            else:
                target.message(message=f"Acknowledged in PagerDuty{by}.", **change)
        elif event.type == "incident.priority_updated":
            name = priority_name(pd.get("priority")) or "none"
            severity = severity_for(pd.get("priority"), pd.get("urgency"))
            target.set_severity(severity=severity, message=f"Priority changed to {name} in PagerDuty{by}.", **change)
        elif event.type == "incident.annotated":
            target.message(message=event.note or f"Note in PagerDuty{by}.", **change)
        elif event.type == "incident.resolved" and target.is_open:
            target.resolve(message=f"Resolved in PagerDuty{by}.", **change)
        elif event.type == "incident.reopened" and not target.is_open:
            target.reopen(message=f"Reopened in PagerDuty{by}.", **change)
        outcome = f"{beacon.ticket}: {counts.rows} row(s) written" + (
            f"; {counts.skipped[0]}" if counts.skipped else ""
        )
        record.outcome = outcome[:200]
        record.save(update_fields=["outcome"])
        return outcome
