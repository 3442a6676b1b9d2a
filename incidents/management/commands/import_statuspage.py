"""`import_statuspage FILE.json`: load an Atlassian Statuspage ``incidents.json`` export.

The export is the public history of most status pages (``https://<page>/api/v2/incidents.json``,
``{"page": …, "incidents": [ … ]}``; the manage API's bare list of incidents is read too).
Each incident goes through the same service functions as a form would (``now=`` set to the
time the event happened, ``notify=False`` so nobody is emailed about history):

- each of its ``components`` becomes a service (slugified name, created when missing);
  an incident without components is filed under a service named after the page;
- ``impact`` critical / major / minor / none becomes severity 1 / 2 / 3 / 4;
- ``started_at`` (or ``created_at``) and ``resolved_at`` are the times;
- ``incident_updates``, oldest first, become the update log; the last "resolved" one
  closes the incident, "postmortem" updates (and ``postmortem_body``) become its postmortem.

Real exports are imperfect, so each incident is judged on its own (DESIGN.md §9): one whose
``started_at`` is after its ``resolved_at`` starts at ``created_at`` when that is not after the
resolution (*repaired*), and is otherwise *skipped*; so is one resolved (or started, or
updated) in the future, one without a name, one with a bad time or a field of the wrong type,
or one the services refuse. Every repaired or skipped incident is named on its own line with
the reason, the valid ones are imported, and the command exits 1 when any was skipped.
A file that is not a Statuspage export at all (not UTF-8, not JSON, nested too deeply, not
the export's shape) is refused whole with a one-line error, and nothing is written.

Scheduled maintenances (``scheduled_for`` / ``scheduled_until``, impact "maintenance") are
not incidents (they would count as downtime): they are parsed into their own records and
handed to ``Command._import_maintenances``.

Everything carries ``source_ref="statuspage:<id>"`` (updates ``statuspage:<id>:<update id>``),
so importing the same file again changes nothing, and importing a newer export only adds
what is new. All writes happen in one transaction, each incident in its own savepoint.
"""

import json
import re
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

from audit.services import audit_record
from config.api import http_url
from incidents import postmortems
from incidents import services as incident_services
from incidents.choices import Status, UpdateKind
from incidents.models import Incident, IncidentUpdate, Postmortem, Service
from maintenance.services import maintenance_import

IMPACT_SEVERITY = {"critical": 1, "major": 2, "minor": 3, "none": 4}
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
# Statuspage maintenance statuses -> Beacon maintenance statuses (DESIGN.md §8).
MAINTENANCE_STATUS = {
    "scheduled": "scheduled",
    "in_progress": "in_progress",
    "verifying": "in_progress",
    "completed": "completed",
}
# Statuspage ids are short [a-z0-9] strings; anything else cannot be a safe source_ref.
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,100}")
DEFAULT_PAGE = "Statuspage"


class Skip(Exception):
    """This one incident cannot be imported; the message says why."""


@dataclass
class Update:
    ref: str
    status: str
    body: str
    at: datetime


@dataclass
class Record:
    """One Statuspage incident, checked and in Beacon's terms."""

    id: str
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


@dataclass
class MaintenanceRecord:
    """One Statuspage scheduled maintenance, in the terms of ``maintenance_import``."""

    id: str
    source_ref: str
    title: str
    description: str
    components: list[tuple[str, str]]  # (slug, name): services to find or create
    starts_at: datetime
    ends_at: datetime
    status: str  # scheduled / in_progress / completed


@dataclass
class Export:
    """A checked export: what to import, and one line per incident repaired or skipped."""

    page_name: str
    incidents: list[Record] = field(default_factory=list)
    maintenances: list[MaintenanceRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    repaired: int = 0
    skipped: int = 0

    def skip(self, label: str, reason: str) -> None:
        self.notes.append(f"{label}: skipped: {reason}")
        self.skipped += 1


def _kind(value) -> str:
    """What a JSON value is, for a message (never its content: it may be huge or deep)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "a list" if isinstance(value, list) else "an object"


def _show(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(value, key: str) -> datetime:
    if not isinstance(value, str):
        raise Skip(f"{key} is {_kind(value)}, not a time")
    try:
        parsed = parse_datetime(value)
        if parsed is not None:
            if timezone.is_naive(parsed):
                parsed = parsed.replace(tzinfo=UTC)  # Statuspage writes UTC
            parsed = parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # well-formed but impossible, e.g. February 30th
        parsed = None
    if parsed is None:
        raise Skip(f"{key} {_show(value)} is not an ISO 8601 time")
    return parsed


def _text(raw: dict, key: str) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Skip(f"{key} is {_kind(value)}, not text")
    return value.strip()


def _list(raw: dict, key: str) -> list:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise Skip(f"{key} is {_kind(value)}, not a list")
    return value


def _id(value) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value if isinstance(value, str) and ID_PATTERN.fullmatch(value) else None


def _url(value: str) -> str:
    if not value:
        return ""
    try:
        URLValidator(schemes=["http", "https"])(value)
    except ValidationError:
        return ""
    return value[:500]


def _components(raw: dict, page_name: str) -> list[tuple[str, str]]:
    components: list[tuple[str, str]] = []
    for component in _list(raw, "components"):
        name = component.get("name") if isinstance(component, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise Skip("a component has no name")
        name = name.strip()
        slug = slugify(name)[:80] or f"component-{_id(component.get('id')) or len(components) + 1}"
        if slug not in [s for s, _ in components]:
            components.append((slug, name[:120]))
    return components or [(slugify(page_name)[:80] or "statuspage", page_name[:120])]


def _updates(raw: dict, incident_id: str, *, now: datetime | None) -> list[Update]:
    """The incident's updates, oldest first; with ``now``, one dated after it is refused."""
    updates = []
    for index, update in enumerate(_list(raw, "incident_updates")):
        if not isinstance(update, dict):
            raise Skip(f"incident_updates holds {_kind(update)}, not an update")
        update_id = _id(update.get("id")) if update.get("id") is not None else str(index)
        if update_id is None:
            raise Skip(f"update #{index + 1} has an id that is not a Statuspage id")
        when = update.get("display_at") or update.get("created_at")
        if not when:
            raise Skip(f"update {update_id} has no time")
        at = _time(when, f"update {update_id} time")
        if now and at > now + incident_services.CLOCK_SKEW:
            raise Skip(f"update {update_id} is dated {_iso(at)}, in the future")
        updates.append(
            Update(
                ref=f"statuspage:{incident_id}:{update_id}",
                status=_text(update, "status") or "update",
                body=_text(update, "body"),
                at=at,
            )
        )
    updates.sort(key=lambda u: u.at)
    return updates


def _is_maintenance(raw: dict) -> bool:
    return raw.get("scheduled_for") is not None or raw.get("impact") == "maintenance"


def _maintenance(raw: dict, incident_id: str, *, page_name: str) -> MaintenanceRecord:
    title = _text(raw, "name")
    if not title:
        raise Skip("the maintenance has no name")
    if raw.get("scheduled_for") is None or raw.get("scheduled_until") is None:
        raise Skip("a maintenance needs both scheduled_for and scheduled_until")
    starts = _time(raw["scheduled_for"], "scheduled_for")
    ends = _time(raw["scheduled_until"], "scheduled_until")
    if ends < starts:
        raise Skip(f"scheduled_until {_iso(ends)} is before scheduled_for {_iso(starts)}")
    status = raw.get("status")
    if status not in MAINTENANCE_STATUS:
        shown = _show(status) if isinstance(status, str) else _kind(status)
        raise Skip(f"unknown maintenance status {shown} (expected {', '.join(MAINTENANCE_STATUS)})")
    # A maintenance may be announced, and updated, ahead of its time.
    updates = _updates(raw, incident_id, now=None)
    return MaintenanceRecord(
        id=incident_id,
        source_ref=f"statuspage:{incident_id}",
        title=title[:200],
        description=next((u.body for u in updates if u.body), ""),
        components=_components(raw, page_name),
        starts_at=starts,
        ends_at=ends,
        status=MAINTENANCE_STATUS[status],
    )


def _incident(raw: dict, incident_id: str, *, page_name: str, now: datetime) -> tuple[Record, str]:
    """The incident as a record, and the repair made to it ("" when none); ``Skip`` if it cannot be."""
    title = _text(raw, "name")
    if not title:
        raise Skip("the incident has no name")
    impact = raw.get("impact")
    impact = "none" if impact is None or impact == "" else impact
    if impact not in IMPACT_SEVERITY:
        shown = _show(impact) if isinstance(impact, str) else _kind(impact)
        raise Skip(f"unknown impact {shown} (expected {', '.join(IMPACT_SEVERITY)})")
    if not raw.get("created_at") and not raw.get("started_at"):
        raise Skip("it has neither started_at nor created_at")
    created = _time(raw.get("created_at") or raw["started_at"], "created_at")
    started = _time(raw.get("started_at") or raw["created_at"], "started_at")
    resolved = _time(raw["resolved_at"], "resolved_at") if raw.get("resolved_at") is not None else None
    late = now + incident_services.CLOCK_SKEW
    repair = ""
    if resolved and resolved > late:
        raise Skip(f"resolved_at {_iso(resolved)} is in the future")
    if resolved and started > resolved:
        if created > resolved:
            raise Skip(
                f"started_at {_iso(started)} and created_at {_iso(created)} are both after resolved_at {_iso(resolved)}"
            )
        repair = f"started_at {_iso(started)} after resolved_at {_iso(resolved)}; started at created_at"
        started = created
    if started > late:
        raise Skip(f"started_at {_iso(started)} is in the future")
    record = Record(
        id=incident_id,
        ref=f"statuspage:{incident_id}",
        title=title[:200],
        severity=IMPACT_SEVERITY[impact],
        components=_components(raw, page_name),
        started_at=started,
        created_at=created,
        resolved_at=resolved,
        shortlink=_url(_text(raw, "shortlink")),
        updates=_updates(raw, incident_id, now=now),
        postmortem_body=_text(raw, "postmortem_body"),
    )
    return record, repair


def parse_export(data, *, now: datetime) -> Export:
    """Check an export and sort its entries into incidents, maintenances and notes.

    A file that is not an export raises ``CommandError``; a bad incident is skipped and noted.
    """
    page = None
    if isinstance(data, list):
        entries = data
    elif isinstance(data, dict) and isinstance(data.get("incidents"), list):
        entries, page = data["incidents"], data.get("page")
    else:
        raise CommandError('Not a Statuspage incidents export: expected {"page": …, "incidents": [ … ]}.')
    if page is not None and not (isinstance(page, dict) and isinstance(page.get("name"), str | None)):
        raise CommandError(f"Not a Statuspage incidents export: page is {_kind(page)} without a text name.")
    page_name = " ".join(((page or {}).get("name") or "").split()) or DEFAULT_PAGE  # one line in messages
    export = Export(page_name=page_name)
    seen: set[str] = set()
    for position, raw in enumerate(entries, start=1):
        if not isinstance(raw, dict):
            raise CommandError(
                f"Not a Statuspage incidents export: incident #{position} is {_kind(raw)}, not an object."
            )
        incident_id = _id(raw.get("id"))
        if incident_id is None:
            export.skip(f"Incident #{position}", "it has no Statuspage id")
            continue
        if incident_id in seen:
            export.skip(incident_id, "the same id appears earlier in the file")
            continue
        seen.add(incident_id)
        try:
            if _is_maintenance(raw):
                export.maintenances.append(_maintenance(raw, incident_id, page_name=page_name))
                continue
            record, repair = _incident(raw, incident_id, page_name=page_name, now=now)
        except Skip as exc:
            export.skip(incident_id, str(exc))
            continue
        if repair:
            export.notes.append(f"{incident_id}: repaired: {repair}")
            export.repaired += 1
        export.incidents.append(record)
    return export


def read_export(file: Path):
    """The file's JSON; ``CommandError`` with one line naming the problem when it has none."""
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise CommandError(f"{file}: no such file.") from None
    except OSError as exc:
        raise CommandError(f"{file}: cannot be read ({exc.strerror or exc}).") from None
    if not raw.strip():
        raise CommandError(f"{file} is empty: not a Statuspage export.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CommandError(
            f"{file} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}): "
            "Statuspage exports are UTF-8 JSON."
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{file} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
    except RecursionError:
        raise CommandError(f"{file} is nested too deeply to be a Statuspage export.") from None
    except ValueError as exc:  # e.g. a number with thousands of digits
        raise CommandError(f"{file} is not valid JSON: {exc}.") from None


class Command(BaseCommand):
    help = (
        "Import an Atlassian Statuspage incidents.json export (idempotent: importing twice changes nothing). "
        "Bad incidents are skipped and named; exits 1 when any was skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="incidents.json exported from a Statuspage page")

    def handle(self, *args, file: Path, **options):
        data = read_export(file)
        now = timezone.now()
        export = parse_export(data, now=now)
        counts = {"incidents": 0, "updates": 0, "services": 0, "postmortems": 0, "maintenances": 0}
        for note in export.notes:
            self.stdout.write(note)
        with transaction.atomic():
            for record in export.incidents:
                mine = dict.fromkeys(counts, 0)
                try:
                    with transaction.atomic():  # a refused incident leaves nothing behind
                        self._import(record, now=now, counts=mine)
                except ValidationError as exc:
                    export.skip(record.id, "; ".join(exc.messages))
                    self.stdout.write(export.notes[-1])
                    continue
                for key, value in mine.items():
                    counts[key] += value
            self._import_maintenances(export.maintenances, now=now, counts=counts)
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported from {export.page_name}: {counts['incidents']} new incidents, "
                f"{counts['updates']} new updates, {counts['services']} new services, "
                f"{counts['postmortems']} postmortems; {export.repaired} repaired, {export.skipped} skipped, "
                f"{counts['maintenances']} new planned maintenance of {len(export.maintenances)} in the file."
            )
        )
        audit_record(
            action="import",
            object_type="statuspage",
            object_repr=str(file),
            summary=f"Statuspage {export.page_name}: {counts['incidents']} new incidents, {export.skipped} skipped",
            changes={key: [None, value] for key, value in counts.items()},
        )
        if export.skipped:
            raise CommandError(
                f"{export.skipped} skipped (named above); the other incidents were imported.", returncode=1
            )

    def _import_maintenances(self, records: list[MaintenanceRecord], *, now: datetime, counts: dict) -> None:
        """Scheduled maintenances, kept apart from incidents: maintenance time is not downtime.

        Each goes through ``maintenance_import`` (idempotent on its source reference, emails
        nobody); one refused by its rules is named and skipped like an incident.
        """
        for record in records:
            try:
                with transaction.atomic():
                    _, created = maintenance_import(
                        source_ref=record.source_ref,
                        title=record.title,
                        description=record.description,
                        services=self._services(record, counts),
                        starts_at=record.starts_at,
                        ends_at=record.ends_at,
                        status=record.status,
                        now=now,
                    )
            except ValidationError as exc:
                self.stdout.write(f"{record.id}: skipped maintenance: {'; '.join(exc.messages)}")
                continue
            counts["maintenances"] += created
            self.stdout.write(f"{record.id}: planned maintenance, not an incident")

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
                external_url=http_url(record.shortlink),
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
