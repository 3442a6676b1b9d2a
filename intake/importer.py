"""`import_pagerduty` and its beat task: every PagerDuty incident of a range, with its log.

One run reads the incidents created in ``[since, until)`` page by page (the client splits
the range where PagerDuty caps paging), fetches the log entries of each incident that may
have changed, and writes each page in one transaction per worker, the new incidents of it
together (when an incident is refused, again one at a time, each in a savepoint, so it is
named and skipped without spoiling the rest). On PostgreSQL, PAGERDUTY_IMPORT_WORKERS
threads share each page out. Then it follows the Beacon incidents from PagerDuty that are
still open but were created before the range, so an incident resolved since is closed.
Only a run that reached its end moves the cursor; an interrupted run is simply run again
(every write is idempotent on its source ref).

An incident already resolved in Beacon and still resolved in PagerDuty is not read again
(its log is final) unless ``full`` is set.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record
from incidents import services as incident_services
from incidents.models import Incident, IncidentUpdate
from integrations.pagerduty import PagerDutyClient, iso

from . import services
from .models import ImportCursor

logger = logging.getLogger(__name__)

# Each scheduled run re-reads a little before the previous end: PagerDuty may list an
# incident a moment after its creation time.
OVERLAP = timedelta(minutes=10)
STALE_RUN = timedelta(hours=2)


@dataclass
class ImportResult:
    since: datetime
    until: datetime
    pages: int
    read: int
    counts: services.Counts

    @property
    def summary(self) -> str:
        c = self.counts
        return (
            f"{self.read} incident(s) read from {iso(self.since)} to {iso(self.until)} in {self.pages} page(s): "
            f"{c.incidents} new, {c.updates} update(s) ({c.resolved} resolved, {c.reopened} reopened), "
            f"{c.services} new service(s), {c.unchanged} unchanged, {len(c.skipped)} skipped; {c.rows} row(s) written"
        )


def cursor() -> ImportCursor:
    return ImportCursor.objects.get_or_create(source=services.SOURCE)[0]


def import_running(*, now: datetime | None = None) -> bool:
    """Another run under way (beat then skips its turn); a run killed without a trace stops counting after 2 h."""
    now = now or timezone.now()
    return ImportCursor.objects.filter(source=services.SOURCE, running_since__gte=now - STALE_RUN).exists()


def default_since(*, now: datetime, full: bool) -> datetime:
    """Resume at the last successful run's end (less an overlap); the first run reaches PAGERDUTY_IMPORT_DAYS back."""
    last = None if full else cursor().last_until
    if last is not None:
        return last - OVERLAP
    return now - timedelta(days=settings.PAGERDUTY_IMPORT_DAYS)


def pagerduty_import(
    *,
    client: PagerDutyClient,
    since: datetime | None = None,
    until: datetime | None = None,
    full: bool = False,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> ImportResult:
    """Run one import; raises ``PagerDutyError`` (recorded on the cursor) when PagerDuty cannot be read."""
    say = progress or (lambda message: logger.info("%s", message))
    now = now or timezone.now()
    until = min(until or now, now)
    since = since or default_since(now=now, full=full)
    if since >= until:
        raise ValueError(f"Nothing to import: the range starts ({iso(since)}) at or after its end ({iso(until)}).")
    ImportCursor.objects.filter(pk=cursor().pk).update(running_since=now)
    result = ImportResult(since=since, until=until, pages=0, read=0, counts=services.Counts())
    seen: set[str] = set()
    cache: dict = {}
    pool = make_pool()
    try:
        for page in client.incident_pages(since=since, until=until):
            fresh = [item for item in page.incidents if item["id"] not in seen]
            seen.update(item["id"] for item in fresh)
            result.pages += 1
            result.read += len(fresh)
            page_counts = _import_page(client, fresh, full=full, now=now, cache=cache, pool=pool)
            _mark_reports(page_counts.spans, now=now)
            result.counts.add(page_counts)
            total = f"/{page.total}" if page.total is not None else ""
            say(
                f"Page {result.pages} ({iso(page.since)} – {iso(page.until)}, offset {page.offset}): "
                f"{page.offset + len(page.incidents)}{total} read, +{page_counts.incidents} new, "
                f"+{page_counts.updates} update(s), {page_counts.unchanged} unchanged"
                + (f", {len(page_counts.skipped)} skipped" if page_counts.skipped else "")
            )
        _follow_open(client, seen, result, now=now, cache=cache, say=say)
    except BaseException as exc:  # recorded, then re-raised
        ImportCursor.objects.filter(source=services.SOURCE).update(running_since=None, last_error=str(exc)[:2000])
        raise
    finally:
        if pool:
            pool.close()
    for reason in result.counts.skipped:
        say(f"Skipped {reason}")
    ImportCursor.objects.filter(source=services.SOURCE).update(
        running_since=None,
        last_error="",
        last_summary=result.summary,
        last_success_at=timezone.now(),
    )
    # The cursor only moves forward: re-importing an old range does not rewind the schedule.
    ImportCursor.objects.filter(source=services.SOURCE).exclude(last_until__gte=until).update(last_until=until)
    audit_record(
        action="import", object_type="pagerduty", object_repr=f"{iso(since)} – {iso(until)}", summary=result.summary
    )
    return result


def _import_page(client: PagerDutyClient, items: list[dict], *, full: bool, now: datetime, cache: dict, pool):
    counts = services.Counts()
    refs = [services.incident_ref(item["id"]) for item in items]
    existing = {i.source_ref: i for i in Incident.objects.filter(source_ref__in=refs)}
    todo = []
    for item, ref in zip(items, refs, strict=True):
        beacon = existing.get(ref)
        if beacon is not None and not full and not beacon.is_open and item.get("status") == services.RESOLVED:
            counts.unchanged += 1  # resolved on both sides: its log is final
            continue
        if beacon is None:
            # Services are made here, once, so that workers only read them.
            services.service_for(item.get("service"), counts, cache)
        todo.append((item, ref, beacon))
    if not todo:
        return counts
    known = defaultdict(set)
    rows = IncidentUpdate.objects.filter(incident__source_ref__in=[ref for _, ref, beacon in todo if beacon])
    for source_ref, update_ref in rows.values_list("incident__source_ref", "source_ref"):
        known[source_ref].add(update_ref)
    shares = [todo[n :: pool.workers] for n in range(pool.workers)] if pool else [todo]
    work = [(client, share, known, now, cache) for share in shares if share]
    for result in pool.map(_import_share, work) if pool else map(_import_share, work):
        counts.add(result)
    return counts


def _import_share(args) -> services.Counts:
    """Read the logs of some incidents of a page and write them in one transaction.

    First as one batch: no savepoint per incident, and the new incidents written together
    (``incidents_create``: four queries for them all); when one is refused, the share is
    rolled back and written again one incident at a time, each in a savepoint, so that
    incident alone is named and skipped.
    """
    client, share, known, now, cache = args
    logs = [client.log_entries(item["id"]) for item, _, _ in share]
    work = [
        (item, entries, beacon, known[ref] if beacon else None)
        for (item, ref, beacon), entries in zip(share, logs, strict=True)
    ]
    try:
        with transaction.atomic():
            counts = services.Counts()
            pending = []
            for item, entries, beacon, known_refs in work:
                counts.add(
                    services.pagerduty_incident_apply(
                        incident=item,
                        entries=entries,
                        existing=beacon,
                        looked_up=True,
                        known_refs=known_refs,
                        now=now,
                        service_cache=cache,
                        pending=pending,
                    )
                )
            incident_services.incidents_create(pending)
        return counts
    except (ValidationError, IntegrityError):
        pass
    counts = services.Counts()
    with transaction.atomic():
        for item, entries, beacon, known_refs in work:
            _apply_one(
                item, entries, counts, existing=beacon, looked_up=True, known_refs=known_refs, now=now, cache=cache
            )
    return counts


class WorkerPool:
    """Threads that write shares of a page at once (PostgreSQL); each has its own connection, closed at the end.

    Most of an incident's cost is round trips to the database through the incident
    services, so a few connections working side by side cut the wall time.
    """

    def __init__(self, workers: int):
        from concurrent.futures import ThreadPoolExecutor

        self.workers = workers
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pagerduty-import")

    def map(self, function, items):
        return list(self.executor.map(function, items))

    def close(self):
        import threading

        from django.db import connections

        # One closing task per thread: the barrier keeps a thread from taking two.
        barrier = threading.Barrier(self.workers, timeout=60)

        def close(_):
            try:
                barrier.wait()
            finally:
                connections.close_all()

        try:
            list(self.executor.map(close, range(self.workers)))
        except threading.BrokenBarrierError:
            logger.warning("Some import worker connections were not closed; the database will drop them.")
        self.executor.shutdown(wait=True)


def make_pool() -> WorkerPool | None:
    """Workers on PostgreSQL only: SQLite has one writer at a time, and tests' data lives in one connection."""
    from django.db import connection

    workers = settings.PAGERDUTY_IMPORT_WORKERS
    if workers <= 1 or connection.vendor == "sqlite":
        return None
    return WorkerPool(workers)


def _apply_one(item, entries, counts, *, existing, known_refs, now, cache, looked_up=False):
    try:
        with transaction.atomic():
            counts.add(
                services.pagerduty_incident_apply(
                    incident=item,
                    entries=entries,
                    existing=existing,
                    looked_up=looked_up,
                    known_refs=known_refs,
                    now=now,
                    service_cache=cache,
                )
            )
    except (ValidationError, IntegrityError) as exc:
        # IntegrityError: a webhook delivery wrote the same incident meanwhile; the next run takes it up.
        number = item.get("incident_number")
        label = f"PagerDuty incident {item['id']}" + (f" (#{number})" if number else "")
        reason = "; ".join(exc.messages) if isinstance(exc, ValidationError) else "changed meanwhile, try again"
        counts.skipped.append(f"{label}: {reason}")


def _mark_reports(spans, *, now: datetime) -> None:
    """Stored reports whose period the written incidents touch are out of date: one call per merged span."""
    from reports.services import reports_mark_out_of_date

    merged: list[list[datetime]] = []
    for start, end in sorted((start, end or now) for start, end in spans):
        if merged and start <= merged[-1][1] + timedelta(days=1):
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    for start, end in merged:
        reports_mark_out_of_date(start=start, end=end, now=now)


def _follow_open(client: PagerDutyClient, seen: set[str], result: ImportResult, *, now, cache, say) -> None:
    """Beacon incidents from PagerDuty still open here but not in the range: read them again."""
    open_refs = (
        Incident.objects.filter(source=services.SOURCE, resolved_at__isnull=True)
        .exclude(source_ref__in=[services.incident_ref(pd_id) for pd_id in seen])
        .values_list("source_ref", flat=True)
    )
    counts = services.Counts()
    followed = 0
    for ref in list(open_refs):
        pd_id = ref.removeprefix(f"{services.SOURCE}:")
        item = client.incident(pd_id)
        if item is None:
            counts.skipped.append(f"PagerDuty incident {pd_id}: no longer in PagerDuty; left open here")
            continue
        followed += 1
        entries = client.log_entries(pd_id)
        with transaction.atomic():
            _apply_one(item, entries, counts, existing=None, known_refs=None, now=now, cache=cache)
    _mark_reports(counts.spans, now=now)
    if followed:
        say(f"Followed {followed} open incident(s) created before the range: {counts.updates} update(s)")
    result.counts.add(counts)
