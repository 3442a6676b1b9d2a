"""`import_statuspage FILE.json`: load an Atlassian Statuspage ``incidents.json`` export.

The export is the public history of most status pages (``https://<page>/api/v2/incidents.json``).
Each incident goes through the same service functions as a form would (``now=`` set to the
time the event happened, ``notify=False`` so nobody is emailed about history):

- each of its ``components`` becomes a service (slugified name, created when missing);
  an incident without components is filed under a service named after the page;
- ``impact`` critical / major / minor / none becomes severity 1 / 2 / 3 / 4;
- ``started_at`` (or ``created_at``) and ``resolved_at`` are the times;
- ``incident_updates``, oldest first, become the update log; the last "resolved" one
  closes the incident, "postmortem" updates (and ``postmortem_body``) become its postmortem.

Everything carries ``source_ref="statuspage:<id>"`` (updates ``statuspage:<id>:<update id>``),
so importing the same file again changes nothing, and importing a newer export only adds
what is new. The whole file is checked before anything is written and imported in one
transaction: a bad file leaves the database as it was.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import slugify

from incidents import postmortems
from incidents import services as incident_services
from incidents.choices import Status, UpdateKind
from incidents.models import Incident, IncidentUpdate, Postmortem, Service

IMPACT_SEVERITY = {"critical": 1, "major": 2, "minor": 3, "none": 4, "maintenance": 4}
# Statuspage update statuses -> Beacon statuses (None keeps the current one).
UPDATE_STATUS = {
    "investigating": Status.INVESTIGATING,
    "identified": Status.IDENTIFIED,
    "monitoring": Status.MONITORING,
    "in_progress": Status.IDENTIFIED,
    "verifying": Status.MONITORING,
    "scheduled": None,
    "update": None,
}
CLOSING = {"resolved", "completed"}
POSTMORTEM = "postmortem"


@dataclass
class Update:
    ref: str
    status: str
    body: str
    at: datetime


@dataclass
class Record:
    """One Statuspage incident, checked and in Beacon's terms."""

    ref: str
    title: str
    severity: int
    components: list[tuple[str, str]]  # (slug, name)
    started_at: datetime
    created_at: datetime
    resolved_at: datetime | None
    shortlink: str
    updates: list[Update] = field(default_factory=list)
    postmortem_body: str = ""


def _time(value, where: str) -> datetime:
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise CommandError(f"{where}: {value!r} is not an ISO 8601 time.")
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)  # Statuspage writes UTC
    return parsed


def _url(value) -> str:
    if not value:
        return ""
    try:
        URLValidator(schemes=["http", "https"])(value)
    except ValidationError:
        return ""
    return value[:500]


def parse_export(data, *, page_name: str) -> list[Record]:
    """Check the whole export and turn it into records; raise ``CommandError`` on the first problem."""
    if not isinstance(data, dict) or not isinstance(data.get("incidents"), list):
        raise CommandError('Not a Statuspage incidents export: expected {"page": …, "incidents": [ … ]}.')
    records = []
    for position, raw in enumerate(data["incidents"], start=1):
        if not isinstance(raw, dict) or not raw.get("id"):
            raise CommandError(f"Incident #{position}: every incident needs an id.")
        where = f"Incident {raw['id']}"
        impact = raw.get("impact") or "none"
        if impact not in IMPACT_SEVERITY:
            raise CommandError(f"{where}: unknown impact {impact!r} (expected {', '.join(IMPACT_SEVERITY)}).")
        if not raw.get("created_at") and not raw.get("started_at"):
            raise CommandError(f"{where}: it has neither started_at nor created_at.")
        created = _time(raw.get("created_at") or raw["started_at"], f"{where} created_at")
        started = _time(raw.get("started_at") or raw["created_at"], f"{where} started_at")
        resolved = _time(raw["resolved_at"], f"{where} resolved_at") if raw.get("resolved_at") else None
        if resolved and resolved < started:
            raise CommandError(f"{where}: resolved_at is before its start.")
        components = []
        for component in raw.get("components") or []:
            name = (component or {}).get("name", "").strip() if isinstance(component, dict) else ""
            if not name:
                raise CommandError(f"{where}: a component has no name.")
            slug = slugify(name)[:80] or f"component-{component.get('id', position)}"
            if slug not in [s for s, _ in components]:
                components.append((slug, name[:120]))
        if not components:
            components = [(slugify(page_name)[:80] or "statuspage", page_name[:120])]
        updates = []
        for index, update in enumerate(raw.get("incident_updates") or []):
            if not isinstance(update, dict):
                raise CommandError(f"{where}: incident_updates must be objects.")
            when = update.get("display_at") or update.get("created_at")
            if not when:
                raise CommandError(f"{where}: update {update.get('id', index)} has no time.")
            updates.append(
                Update(
                    ref=f"statuspage:{raw['id']}:{update.get('id') or index}",
                    status=update.get("status") or "update",
                    body=(update.get("body") or "").strip(),
                    at=_time(when, f"{where} update time"),
                )
            )
        updates.sort(key=lambda u: u.at)
        records.append(
            Record(
                ref=f"statuspage:{raw['id']}",
                title=(raw.get("name") or "").strip()[:200] or f"Statuspage incident {raw['id']}",
                severity=IMPACT_SEVERITY[impact],
                components=components,
                started_at=started,
                created_at=created,
                resolved_at=resolved,
                shortlink=_url(raw.get("shortlink")),
                updates=updates,
                postmortem_body=(raw.get("postmortem_body") or "").strip(),
            )
        )
    return records


class Command(BaseCommand):
    help = "Import an Atlassian Statuspage incidents.json export (idempotent: importing twice changes nothing)."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="incidents.json exported from a Statuspage page")

    def handle(self, *args, file: Path, **options):
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CommandError(f"{file}: no such file.") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CommandError(f"{file} is not valid JSON: {exc}") from None
        page = data.get("page") if isinstance(data, dict) else None
        page_name = ((page or {}).get("name") if isinstance(page, dict) else "") or "Statuspage"
        records = parse_export(data, page_name=page_name)
        now = timezone.now()
        counts = {"incidents": 0, "updates": 0, "services": 0, "skipped": 0, "postmortems": 0}
        with transaction.atomic():
            for record in records:
                if record.started_at > now + incident_services.CLOCK_SKEW:
                    counts["skipped"] += 1  # a scheduled maintenance that has not begun
                    continue
                try:
                    self._import(record, now=now, counts=counts)
                except ValidationError as exc:
                    raise CommandError(f"{record.ref}: {'; '.join(exc.messages)}") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported from {page_name}: {counts['incidents']} new incidents, {counts['updates']} new updates, "
                f"{counts['services']} new services, {counts['postmortems']} postmortems"
                + (f"; skipped {counts['skipped']} not yet started." if counts["skipped"] else ".")
            )
        )

    def _services(self, record: Record, counts: dict) -> list[Service]:
        result = []
        for slug, name in record.components:
            service, created = Service.objects.get_or_create(slug=slug, defaults={"name": name})
            counts["services"] += created
            result.append(service)
        return result

    def _import(self, record: Record, *, now: datetime, counts: dict) -> None:
        closing = [u for u in record.updates if u.status in CLOSING]
        final = closing[-1] if (closing and record.resolved_at) else None
        postmortem_notes = [u for u in record.updates if u.status == POSTMORTEM]
        log = [u for u in record.updates if u is not final and u.status != POSTMORTEM]

        incident = Incident.objects.filter(source_ref=record.ref).first()
        if incident is None:
            opening = log.pop(0) if log else None
            opened_at = max(record.created_at, record.started_at)
            incident = incident_services.incident_open(
                title=record.title,
                severity=record.severity,
                services=self._services(record, counts),
                by=None,
                description=opening.body if opening else "",
                external_url=record.shortlink,
                started_at=record.started_at,
                message=opening.body if opening else "",
                status=(UPDATE_STATUS.get(opening.status) if opening else None) or Status.INVESTIGATING,
                now=min(max(opening.at if opening else opened_at, record.started_at), now),
                source_ref=record.ref,
                notify=False,
            )
            if opening:
                # The opening entry stands for the first Statuspage update: remember which.
                incident.updates.filter(kind=UpdateKind.OPENED).update(source_ref=opening.ref)
            counts["incidents"] += 1
        known = set(IncidentUpdate.objects.filter(incident=incident).values_list("source_ref", flat=True))
        for update in log:
            if update.ref in known:
                continue
            if not incident.is_open:
                break  # history after resolution other than a postmortem has no place in the log
            status = UPDATE_STATUS.get(update.status)
            incident_services.incident_update(
                incident=incident,
                message=update.body or f"Status: {update.status}",
                status=status,
                by=None,
                now=max(update.at, record.started_at),
                source_ref=update.ref,
                notify=False,
            )
            incident.refresh_from_db()
            counts["updates"] += 1
        if record.resolved_at and incident.is_open:
            last = incident.updates.order_by("-id").values_list("effective_at", flat=True).first()
            resolved_at = max(record.resolved_at, last or record.started_at)
            incident_services.incident_resolve(
                incident=incident,
                message=(final.body if final else "") or "Resolved.",
                resolved_at=resolved_at,
                by=None,
                now=max(final.at if final else resolved_at, resolved_at),
                source_ref=final.ref if final else f"{record.ref}:resolved",
                notify=False,
            )
            counts["updates"] += 1
        body = record.postmortem_body or "\n\n".join(u.body for u in postmortem_notes if u.body)
        if body and not Postmortem.objects.filter(incident=incident).exists():
            postmortems.postmortem_save(
                incident=incident,
                by=None,
                summary=body,
                source_ref=record.ref,
                now=now,
            )
            counts["postmortems"] += 1
