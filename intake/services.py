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
from incidents.choices import Severity
from incidents.models import Incident, IncidentUpdate, Service
from integrations.pagerduty import parse_time

from .models import ServiceLink, WebhookEvent

logger = logging.getLogger(__name__)

SOURCE = "pagerduty"
RESOLVED = "resolved"
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


def _clamp(at: datetime | None, incident: Incident, now: datetime) -> datetime:
    """A PagerDuty time inside what Beacon accepts: not before the start, not after now."""
    at = at or now
    return min(max(at, incident.started_at), now)


def _open(pd: dict, *, severity: int, now: datetime, counts: Counts, cache=None, message: str = "") -> Incident:
    started = parse_time(pd.get("created_at"))
    if started is None:
        raise ValidationError({"created_at": f"PagerDuty incident {pd.get('id')} has no valid created_at."})
    number = pd.get("incident_number") or pd.get("number")
    title = str(pd.get("title") or pd.get("summary") or "").strip()[:200] or f"PagerDuty incident {pd['id']}"
    incident = incident_services.incident_open(
        title=title,
        severity=severity,
        services=[service_for(pd.get("service"), counts, cache)],
        by=None,
        description=f"PagerDuty incident #{number}" if number else "PagerDuty incident",
        external_url=_url(pd.get("html_url")),
        started_at=min(started, now),
        message=message or "Triggered in PagerDuty.",
        now=now,
        source_ref=incident_ref(pd["id"]),
        source=SOURCE,
        notify=False,
    )
    counts.incidents += 1
    return incident


def _resolve(
    incident: Incident, *, at: datetime, message: str, source_ref: str, now: datetime, counts: Counts, floor=None
) -> Incident:
    """Resolve at ``at``, or at the last recorded change if that is later (``floor`` when the caller knows it)."""
    if floor is None:
        floor = incident.updates.order_by("-id").values_list("effective_at", flat=True).first()
    update = incident_services.incident_resolve(
        incident=incident,
        message=message or "Resolved in PagerDuty.",
        resolved_at=max(at, floor or incident.started_at),
        by=None,
        now=max(now, at, floor or at),
        source_ref=source_ref,
        notify=False,
    )
    counts.updates += 1
    counts.resolved += 1
    return update.incident


def _reopen(incident: Incident, *, at: datetime, message: str, source_ref: str, now: datetime, counts: Counts):
    at = max(at, incident.resolved_at)
    update = incident_services.incident_reopen(
        incident=incident,
        message=message or "Reopened in PagerDuty.",
        by=None,
        effective_at=at,
        now=max(now, at),
        source_ref=source_ref,
        notify=False,
    )
    counts.updates += 1
    counts.reopened += 1
    return update.incident


def _set_severity(incident: Incident, *, severity: int, at: datetime, message: str, source_ref: str, now, counts):
    """A back-dated severity change; on a resolved incident, a correction (only within its duration)."""
    if not incident.is_open and at > incident.resolved_at:
        counts.skipped.append(f"{source_ref}: priority changed after the incident was resolved; nothing to count")
        return incident
    update = incident_services.incident_update(
        incident=incident,
        message=message,
        by=None,
        severity=severity,
        effective_at=at,
        now=now,
        source_ref=source_ref,
        notify=False,
    )
    if update is None:  # a correction that changed nothing
        return incident
    counts.updates += 1
    return update.incident


def _message(incident: Incident, *, at: datetime, message: str, source_ref: str, now, counts):
    if not incident.is_open:
        counts.skipped.append(f"{source_ref}: a message after the incident was resolved here")
        return incident
    update = incident_services.incident_update(
        incident=incident, message=message, by=None, effective_at=at, now=now, source_ref=source_ref, notify=False
    )
    counts.updates += 1
    return update.incident


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
    known_refs: set[str] | None = None,
    service_cache: dict | None = None,
) -> Counts:
    """Bring one PagerDuty incident (with its log entries, oldest first) into Beacon; idempotent.

    Each change is written as of when PagerDuty recorded it (the services' ``now`` is the
    entry's time, as ``import_statuspage`` does), so the log reads like PagerDuty's own;
    the caller marks stored reports over ``Counts.spans`` out of date, once per page.
    ``existing`` and ``known_refs`` (the source refs of its updates) may be passed when the
    caller loaded them for a whole page. Raises ``ValidationError`` when the incident cannot
    be taken in; the caller runs this in a transaction, so nothing is half-written.
    """
    now = now or timezone.now()
    counts = Counts()
    ref = incident_ref(incident["id"])
    beacon = existing if existing is not None else Incident.objects.filter(source_ref=ref).first()
    floor = None  # the latest effective time in its log, where known without asking the database
    if beacon is None:
        severity = severity_for(initial_priority(incident, entries), incident.get("urgency"))
        trigger = next((e for e in entries if e.get("type") == "trigger_log_entry"), None)
        created = parse_time(incident.get("created_at"))
        beacon = _open(
            incident,
            severity=severity,
            now=min(created, now) if created else now,
            counts=counts,
            cache=service_cache,
            message=_entry_message(trigger, "Triggered in PagerDuty") if trigger else "",
        )
        floor = beacon.started_at
        known_refs = set()
    elif known_refs is None:
        known_refs = set(IncidentUpdate.objects.filter(incident=beacon).values_list("source_ref", flat=True))
    urgency = incident.get("urgency")
    triggers = 0
    for entry in entries:
        kind = entry.get("type")
        triggers += kind == "trigger_log_entry"
        entry_ref = f"{ref}:{entry.get('id')}"
        if entry_ref in known_refs:
            continue
        at = _clamp(parse_time(entry.get("created_at")), beacon, now)
        written = counts.rows
        if kind == "resolve_log_entry":
            if beacon.is_open:
                message = _entry_message(entry, "Resolved")
                beacon = _resolve(
                    beacon, at=at, message=message, source_ref=entry_ref, now=at, counts=counts, floor=floor
                )
        elif not beacon.is_open and kind in REOPEN_TYPES and (kind != "trigger_log_entry" or triggers > 1):
            if at >= beacon.resolved_at:
                message = _entry_message(entry, "Reopened")
                beacon = _reopen(beacon, at=at, message=message, source_ref=entry_ref, now=at, counts=counts)
        elif kind == "priority_change_log_entry":
            priority = new_priority(entry)
            message = _entry_message(entry, f"Priority changed to {priority_name(priority) or 'none'}")
            severity = severity_for(priority, urgency)
            beacon = _set_severity(
                beacon, severity=severity, at=at, message=message, source_ref=entry_ref, now=at, counts=counts
            )
        elif kind in MESSAGE_TYPES and beacon.is_open:
            message = _entry_message(entry, MESSAGE_TYPES[kind])
            beacon = _message(beacon, at=at, message=message, source_ref=entry_ref, now=at, counts=counts)
        if floor is not None and counts.rows != written:
            floor = max(floor, at)
    # The incident's own state has the last word (log entries can be cut short).
    status = incident.get("status")
    changed_at = parse_time(incident.get("last_status_change_at"))
    if status == RESOLVED and beacon.is_open:
        at = _clamp(parse_time(incident.get("resolved_at")) or changed_at, beacon, now)
        beacon = _resolve(
            beacon, at=at, message="Resolved in PagerDuty.", source_ref=f"{ref}:resolved", now=at, counts=counts
        )
    elif status and status != RESOLVED and not beacon.is_open:
        at = _clamp(changed_at, beacon, now)
        message = f"PagerDuty shows it {status}."
        beacon = _reopen(beacon, at=at, message=message, source_ref=f"{ref}:{status}", now=at, counts=counts)
    if counts.rows:
        counts.spans.append((beacon.started_at, beacon.resolved_at))
    else:
        counts.unchanged += 1
    return counts


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
        if event.type == "incident.acknowledged":
            if not beacon.is_open and at >= beacon.resolved_at:
                beacon = _reopen(
                    beacon,
                    at=at,
                    message=f"Acknowledged in PagerDuty{by}.",
                    source_ref=event_ref,
                    now=now,
                    counts=counts,
                )
            else:
                _message(
                    beacon,
                    at=at,
                    message=f"Acknowledged in PagerDuty{by}.",
                    source_ref=event_ref,
                    now=now,
                    counts=counts,
                )
        elif event.type == "incident.priority_updated":
            name = priority_name(pd.get("priority")) or "none"
            _set_severity(
                beacon,
                severity=severity_for(pd.get("priority"), pd.get("urgency")),
                at=at,
                message=f"Priority changed to {name} in PagerDuty{by}.",
                source_ref=event_ref,
                now=now,
                counts=counts,
            )
        elif event.type == "incident.annotated":
            _message(
                beacon,
                at=at,
                message=event.note or f"Note in PagerDuty{by}.",
                source_ref=event_ref,
                now=now,
                counts=counts,
            )
        elif event.type == "incident.resolved" and beacon.is_open:
            _resolve(beacon, at=at, message=f"Resolved in PagerDuty{by}.", source_ref=event_ref, now=now, counts=counts)
        elif event.type == "incident.reopened" and not beacon.is_open:
            _reopen(beacon, at=at, message=f"Reopened in PagerDuty{by}.", source_ref=event_ref, now=now, counts=counts)
        outcome = f"{beacon.ticket}: {counts.rows} row(s) written" + (
            f"; {counts.skipped[0]}" if counts.skipped else ""
        )
        record.outcome = outcome[:200]
        record.save(update_fields=["outcome"])
        return outcome
