"""Pull executions from a Rundeck-compatible server (``import_automation`` and its beat task).

For each configured project (and tag) the jobs are listed, then each job's executions are
read page by page. Each page is stored in one transaction together with the job's
``ImportCursor``, so an import killed at any point (network down, worker killed, server
gone) loses at most the page in flight; the next run resumes at the cursor and the unique
execution id absorbs rows read twice. Executions still running are left for a later
import, when they have an end and an outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from integrations.rundeck import RundeckClient, RundeckError, RundeckExecution, RundeckJob

from . import services
from .choices import ExecutionSource, ExecutionStatus, ImportStatus
from .models import AutomationJob, ImportCursor, ImportRun

logger = logging.getLogger(__name__)

STATUS_MAP = {
    "succeeded": ExecutionStatus.SUCCEEDED,
    "failed": ExecutionStatus.FAILED,
    "failed-with-retry": ExecutionStatus.FAILED,
    "retried": ExecutionStatus.FAILED,
    "aborted": ExecutionStatus.ABORTED,
    "timedout": ExecutionStatus.TIMEDOUT,
}
UNFINISHED = frozenset({"running", "scheduled", "queued"})


@dataclass
class ImportOptions:
    projects: list[str]
    tags: list[str] = field(default_factory=list)
    page_size: int = 200
    fetch_roi: bool = True
    roi_key: str = "hours"
    full: bool = False

    @classmethod
    def from_settings(cls, **overrides) -> ImportOptions:
        options = {
            "projects": list(settings.RUNDECK_PROJECTS),
            "tags": list(settings.RUNDECK_TAGS),
            "page_size": settings.RUNDECK_PAGE_SIZE,
            "fetch_roi": settings.RUNDECK_ROI_METRICS,
            "roi_key": settings.RUNDECK_ROI_HOURS_KEY,
        }
        options.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**options)


def import_running(*, stale_after: timedelta = timedelta(hours=2)) -> bool:
    """Whether another import is under way (the beat task then skips its turn).

    A run killed without a trace stays "running"; after ``stale_after`` it no longer counts.
    Two imports at once would still store nothing twice, only read pages twice.
    """
    recent = timezone.now() - stale_after
    return ImportRun.objects.filter(status=ImportStatus.RUNNING, started_at__gte=recent).exists()


def rundeck_import(
    *, client: RundeckClient, options: ImportOptions, progress: Callable[[str], None] | None = None
) -> ImportRun:
    """Run one import. Returns its ``ImportRun``; raises ``RundeckError`` after recording a failure."""
    say = progress or (lambda message: logger.info("%s", message))
    if not options.projects:
        raise RundeckError("No Rundeck project configured (RUNDECK_PROJECTS or --project).")
    run = ImportRun.objects.create(started_at=timezone.now(), server=client.base_url)
    try:
        jobs = _discover_jobs(client, options)
        run.jobs = len(jobs)
        run.save(update_fields=["jobs"])
        tagged = f" tagged {', '.join(options.tags)}" if options.tags else ""
        say(f"{len(jobs)} job(s) in {', '.join(options.projects)}{tagged}")
        for number, remote in enumerate(jobs, start=1):
            job, _ = services.job_upsert(
                external_id=remote.id,
                name=remote.name,
                project=remote.project,
                group=remote.group,
                tags=remote.tags,
                url=remote.url,
            )
            _import_job(client, options, job, run, label=f"[{number}/{len(jobs)}] {job.name}", say=say)
    except BaseException as exc:  # recorded on the run, then re-raised
        run.status = ImportStatus.FAILED
        run.message = str(exc)[:2000]
        run.finished_at = timezone.now()
        run.save()
        audit_record(action="import", target=run, summary=f"Rundeck import failed: {run.message}"[:500])
        say(f"Import stopped: {exc}. Run it again to resume where it stopped.")
        raise
    run.status = ImportStatus.SUCCEEDED
    run.finished_at = timezone.now()
    run.message = f"{run.executions_created} new execution(s) from {run.pages} page(s)"
    run.save()
    audit_record(action="import", target=run, summary=f"Rundeck: {run.message}")
    say(f"Done: {run.executions_created} new, {run.executions_seen} read, {run.pages} page(s), {run.jobs} job(s).")
    return run


def _discover_jobs(client: RundeckClient, options: ImportOptions) -> list[RundeckJob]:
    """Jobs by project and tag; a job found under several tags is listed once with all of them."""
    found: dict[str, RundeckJob] = {}
    for project in options.projects:
        for tag in options.tags or [None]:
            for job in client.jobs(project, tag=tag):
                if job.id in found:
                    merged = tuple(sorted(set(found[job.id].tags) | set(job.tags)))
                    job = RundeckJob(job.id, job.name, job.project, job.group, merged, job.url)
                found[job.id] = job
    return list(found.values())


def _import_job(client, options: ImportOptions, job: AutomationJob, run: ImportRun, *, label: str, say) -> None:
    cursor, _ = ImportCursor.objects.get_or_create(job=job, defaults={"server": client.base_url})
    # Known-complete history: stop at the first page wholly below it (unless --full).
    stop_below = None if options.full else cursor.safe_execution_id
    if cursor.in_progress:
        say(f"{label}: resuming at offset {cursor.next_offset}")
    else:
        cursor.in_progress = True
        cursor.next_offset = 0
        cursor.pass_max_execution_id = None
        cursor.pass_min_unfinished_id = None
        cursor.server = client.base_url
        cursor.save()
    for page in client.execution_pages(job.external_id, page_size=options.page_size, start_offset=cursor.next_offset):
        rows, unfinished = [], []
        for remote in page.executions:
            if remote.status in UNFINISHED or remote.ended_at is None or remote.started_at is None:
                unfinished.append(remote.id)
            else:
                rows.append(remote)
        hours = _roi_hours(client, options, rows)
        ids = [e.id for e in page.executions]
        with transaction.atomic():
            result = services.executions_upsert(
                rows=[_row(job, remote, hours.get(remote.id)) for remote in rows],
                jobs={job.external_id: job},
                source=ExecutionSource.IMPORTED,
            )
            cursor.next_offset = page.next_offset
            if ids:
                cursor.pass_max_execution_id = max(ids + [cursor.pass_max_execution_id or 0])
            if unfinished:
                lowest = min(unfinished)
                if cursor.pass_min_unfinished_id is None or lowest < cursor.pass_min_unfinished_id:
                    cursor.pass_min_unfinished_id = lowest
            cursor.save()
            run.pages += 1
            run.executions_seen += len(rows)
            run.executions_created += result.created
            run.save(update_fields=["pages", "executions_seen", "executions_created"])
        say(
            f"{label}: {min(page.next_offset, page.total)}/{page.total} read, +{result.created} new"
            + (f", {len(unfinished)} still running" if unfinished else "")
        )
        if stop_below is not None and ids and max(ids) <= stop_below:
            say(f"{label}: the rest was imported before")
            break
    _finish_pass(cursor, previous_safe=cursor.safe_execution_id)


def _finish_pass(cursor: ImportCursor, *, previous_safe: int | None) -> None:
    if cursor.pass_min_unfinished_id is not None:
        # Everything below the oldest unfinished run is complete; it is read again next time.
        safe = cursor.pass_min_unfinished_id - 1
    else:
        safe = max(cursor.pass_max_execution_id or 0, previous_safe or 0) or None
    cursor.safe_execution_id = safe
    cursor.in_progress = False
    cursor.next_offset = 0
    cursor.last_completed_at = timezone.now()
    cursor.save()


def _roi_hours(client: RundeckClient, options: ImportOptions, executions: list[RundeckExecution]) -> dict:
    """ROI values of successful runs only: failed runs save nothing, so their data is not fetched."""
    if not options.fetch_roi:
        return {}
    hours = {}
    for remote in executions:
        if remote.status == "succeeded":
            value = client.roi_hours(remote.id, key=options.roi_key)
            if value is not None:
                hours[remote.id] = value
    return hours


def _row(job: AutomationJob, remote: RundeckExecution, hours) -> services.ExecutionRow:
    return services.ExecutionRow(
        job=job.external_id,
        external_id=str(remote.id),
        status=STATUS_MAP.get(remote.status, ExecutionStatus.OTHER),
        started_at=remote.started_at,
        ended_at=max(remote.ended_at, remote.started_at),
        hours_saved=hours,
    )
