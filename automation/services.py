"""Writes for automation ROI. The push API, the import and the demo data all come through here.

The rules of an execution live once, in ``execution_problems``: the job must exist, it must
end no earlier than it started and not in the future, and hours saved cannot be negative.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .choices import ExecutionSource, ExecutionStatus
from .models import AutomationJob, Execution, Tag

# A job's own clock may run a little ahead of ours.
CLOCK_SKEW = timedelta(minutes=5)
UPSERT_FIELDS = ["job", "status", "started_at", "ended_at", "duration_seconds", "updated_at"]


@dataclass(frozen=True)
class ExecutionRow:
    """One execution to store, as the push API or an import delivers it."""

    job: str  # the job's external id
    external_id: str
    status: str
    started_at: datetime
    ended_at: datetime
    hours_saved: Decimal | None = None


@dataclass(frozen=True)
class RecordResult:
    created: int
    updated: int


class ExecutionRowsInvalid(Exception):
    """Some rows of a batch break the rules; nothing of the batch was stored.

    ``errors`` has one entry per bad row: ``{"row": index, "external_id": …, field: [messages]}``.
    """

    def __init__(self, errors: list[dict]):
        self.errors = errors
        super().__init__(f"{len(errors)} invalid row(s)")


def execution_problems(row: ExecutionRow, *, job_exists: bool, now: datetime) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    if not job_exists:
        problems["job"] = [f"No automation job has the id {row.job!r}; add it in the admin or import it first."]
    if row.status not in ExecutionStatus.values:
        problems["status"] = [f"Unknown status {row.status!r}; use one of {', '.join(ExecutionStatus.values)}."]
    if row.ended_at < row.started_at:
        problems["ended_at"] = ["The execution cannot end before it started."]
    if row.ended_at > now + CLOCK_SKEW:
        problems.setdefault("ended_at", []).append("The execution cannot end in the future.")
    if row.hours_saved is not None and row.hours_saved < 0:
        problems["hours_saved"] = ["Hours saved cannot be negative."]
    return problems


def executions_record(*, rows: list[ExecutionRow], source: str = ExecutionSource.PUSHED, now=None) -> RecordResult:
    """Store a batch of executions all-or-nothing, idempotent on ``external_id``.

    Every row is checked before anything is written; one bad row rejects the batch with
    the bad rows named, so a client can fix them and resend the same batch safely.
    """
    now = now or timezone.now()
    jobs = {job.external_id: job for job in AutomationJob.objects.filter(external_id__in={r.job for r in rows})}
    errors = []
    seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        problems = execution_problems(row, job_exists=row.job in jobs, now=now)
        if row.external_id in seen:
            problems.setdefault("external_id", []).append(
                f"The execution id {row.external_id!r} appears twice in this batch (rows {seen[row.external_id]} "
                f"and {index})."
            )
        seen.setdefault(row.external_id, index)
        if problems:
            errors.append({"row": index, "external_id": row.external_id, **problems})
    if errors:
        raise ExecutionRowsInvalid(errors)
    with transaction.atomic():
        return executions_upsert(rows=rows, jobs=jobs, source=source)


def executions_upsert(*, rows: list[ExecutionRow], jobs: dict[str, AutomationJob], source: str) -> RecordResult:
    """Insert new executions and update known ones in two bulk statements per kind of row.

    Callers have validated the rows. A row without an ROI value never erases one stored
    earlier (a push that carried hours, then an import of a run without ROI data).
    """
    if not rows:
        return RecordResult(0, 0)
    existing = set(
        Execution.objects.filter(external_id__in=[r.external_id for r in rows]).values_list("external_id", flat=True)
    )
    with_hours, without_hours = [], []
    for row in rows:
        execution = Execution(
            job=jobs[row.job],
            external_id=row.external_id,
            status=row.status,
            started_at=row.started_at,
            ended_at=row.ended_at,
            duration_seconds=(row.ended_at - row.started_at).total_seconds(),
            hours_saved=row.hours_saved,
            source=source,
        )
        (with_hours if row.hours_saved is not None else without_hours).append(execution)
    for batch, fields in ((with_hours, [*UPSERT_FIELDS, "hours_saved"]), (without_hours, UPSERT_FIELDS)):
        if batch:
            Execution.objects.bulk_create(
                batch, update_conflicts=True, unique_fields=["external_id"], update_fields=fields, batch_size=500
            )
    created = len({r.external_id for r in rows} - existing)
    return RecordResult(created=created, updated=len(rows) - created)


def job_upsert(
    *, external_id: str, name: str, project: str = "", group: str = "", tags=(), url: str = ""
) -> tuple[AutomationJob, bool]:
    """Create a job met in an import, or refresh its name and place; add (never remove) its tags.

    ``minutes_saved`` and ``cost_per_hour`` of a known job are left alone: they are set by
    people in the admin, not by the automation server.
    """
    job, created = AutomationJob.objects.get_or_create(
        external_id=external_id,
        defaults={
            "name": name,
            "project": project,
            "group": group,
            "url": url,
            "minutes_saved": Decimal(str(settings.AUTOMATION_DEFAULT_MINUTES_SAVED)),
            "cost_per_hour": Decimal(str(settings.AUTOMATION_DEFAULT_COST_PER_HOUR)),
        },
    )
    if not created and (job.name, job.project, job.group, job.url) != (name, project, group, url or job.url):
        job.name, job.project, job.group, job.url = name, project, group, url or job.url
        job.save(update_fields=["name", "project", "group", "url", "updated_at"])
    if tags:
        job.tags.add(*tags_get_or_create(tags))
    return job, created


def tags_get_or_create(names) -> list[Tag]:
    names = sorted({n.strip() for n in names if n and n.strip()})
    known = {tag.name: tag for tag in Tag.objects.filter(name__in=names)}
    missing = [Tag(name=n) for n in names if n not in known]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        known = {tag.name: tag for tag in Tag.objects.filter(name__in=names)}
    return list(known.values())
