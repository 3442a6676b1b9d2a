"""Every write to batch data goes through here: the API, the CSV import, the demo seed
and the periodic check all call these functions, so the rules are enforced once.

Ingest rules (per row):
- ``client``, ``run_id``, ``started_at`` and ``status`` are required; ``status`` is one of
  succeeded / failed / running;
- times carry a time zone (ISO 8601 with offset); ``finished_at >= started_at``;
- a finished run (succeeded / failed) needs ``finished_at`` (or ``duration_seconds``);
  a running one has none;
- ``(client, run_id)`` identifies a run: sending it again updates the same row;
- an unknown client slug registers the client (a job step can report its own instance
  size and volume), so producers need no admin step before their first run.

``batch_runs_ingest(atomic=True)`` (the API) writes nothing when any row is bad, like the
metrics samples API: a producer retries the whole corrected batch and never has to work
out which half landed. ``atomic=False`` (the CSV import) keeps the good rows.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from config.api import INT_MAX, time_problem

from . import rules
from .choices import AlertKind, RunStatus, Transition
from .models import BatchAlert, BatchAlertEvent, BatchRun, Client

REQUIRED = ("client", "run_id", "started_at", "status")
RUN_FIELDS = ("run_date", "started_at", "finished_at", "duration", "status", "records_processed")


# --- parsing and validating one row ----------------------------------------------------


@dataclass
class CleanRun:
    client: str
    run_id: str
    run_date: date
    started_at: datetime
    finished_at: datetime | None
    status: str
    records_processed: int | None
    client_name: str = ""
    instance_size: str = ""
    average_daily_volume: int | None = None

    @property
    def duration(self) -> timedelta | None:
        return self.finished_at - self.started_at if self.finished_at else None


@dataclass
class RowError:
    index: int  # 0-based position in the batch
    run_id: str
    errors: dict[str, list[str]]


@dataclass
class IngestResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    client_ids: set[int] = field(default_factory=set)


MAX_RUN_SECONDS = 10 * 366 * 24 * 3600


def _text(raw: dict, key: str) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    # NUL and lone surrogates cannot be stored (PostgreSQL refuses them): drop them here,
    # the one place both the API and the CSV import read text through.
    return str(value).replace("\x00", "").encode("utf-8", "replace").decode("utf-8").strip()


def _when(raw: dict, key: str, errors: dict) -> datetime | None:
    value = raw.get(key)
    if isinstance(value, datetime):
        parsed = value
    else:
        text = _text(raw, key)
        if not text:
            return None
        try:
            parsed = parse_datetime(text)
        except ValueError:
            parsed = None
        if parsed is None:
            errors[key] = [f"{text!r} is not a date and time (use ISO 8601, e.g. 2024-03-01T02:00:00+00:00)."]
            return None
    if timezone.is_naive(parsed):
        errors[key] = ["Give a time zone (ISO 8601 with offset, e.g. +00:00)."]
        return None
    problem = time_problem(parsed)
    if problem:
        errors[key] = [problem]
        return None
    return parsed


def _count(raw: dict, key: str, errors: dict) -> int | None:
    text = _text(raw, key)
    if not text:
        return None
    try:
        number = int(text.replace("_", ""))
    except ValueError:
        errors[key] = [f"{text!r} is not a whole number."]
        return None
    if number < 0:
        errors[key] = ["Must not be negative."]
        return None
    if number > INT_MAX:
        errors[key] = ["The number is too large."]
        return None
    return number


def run_clean(raw: Any) -> CleanRun:
    """Parse one run from JSON or a CSV row; raise ValidationError with a message per field."""
    if not isinstance(raw, dict):
        raise ValidationError({"non_field_errors": ["Each run must be an object."]})
    errors: dict[str, list[str]] = {}
    for key in REQUIRED:
        if not _text(raw, key):
            errors[key] = ["This field is required."]
    slug = _text(raw, "client").lower()
    if slug:
        try:
            validate_slug(slug)
        except ValidationError:
            errors["client"] = [f"{slug!r} is not a client slug (letters, numbers, hyphens, underscores)."]
        if len(slug) > 100:
            errors["client"] = ["At most 100 characters."]
    run_id = _text(raw, "run_id")
    if len(run_id) > 100:
        errors["run_id"] = ["At most 100 characters."]
    status = _text(raw, "status").lower()
    if status and status not in RunStatus.values:
        errors["status"] = [f"Unknown status {status!r}; use one of {', '.join(RunStatus.values)}."]
    started_at = _when(raw, "started_at", errors)
    finished_at = _when(raw, "finished_at", errors)
    duration_text = _text(raw, "duration_seconds")
    if duration_text and finished_at is None and "finished_at" not in errors:
        try:
            seconds = float(duration_text)
            # NaN, infinity and more than ten years are typos, not durations.
            if not (0 <= seconds <= MAX_RUN_SECONDS):
                raise ValueError
        except ValueError:
            errors["duration_seconds"] = [
                f"{duration_text[:40]!r} is not a number of seconds between 0 and {MAX_RUN_SECONDS}."
            ]
        else:
            if started_at:
                finished_at = started_at + timedelta(seconds=seconds)
                if time_problem(finished_at):
                    errors["duration_seconds"] = [time_problem(finished_at)]
                    finished_at = None
    if started_at and finished_at and finished_at < started_at:
        errors["finished_at"] = ["The run cannot finish before it started."]
    if status in (RunStatus.SUCCEEDED, RunStatus.FAILED) and started_at and finished_at is None:
        errors.setdefault("finished_at", [f"A {status} run needs finished_at (or duration_seconds)."])
    if status == RunStatus.RUNNING and finished_at is not None:
        errors.setdefault("finished_at", ["A running run has no finished_at yet."])
    run_date = None
    run_date_text = _text(raw, "run_date")
    if run_date_text:
        try:
            run_date = parse_date(run_date_text)
        except ValueError:
            run_date = None
        if run_date is None:
            errors["run_date"] = [f"{run_date_text!r} is not a date (YYYY-MM-DD)."]
    records = _count(raw, "records_processed", errors)
    volume = _count(raw, "average_daily_volume", errors)
    if errors:
        raise ValidationError(errors)
    if run_date is None:
        run_date = timezone.localtime(started_at).date()
    return CleanRun(
        client=slug,
        run_id=run_id,
        run_date=run_date,
        started_at=started_at,
        finished_at=finished_at,
        status=status,
        records_processed=records,
        client_name=_text(raw, "client_name")[:200],
        instance_size=_text(raw, "instance_size")[:50],
        average_daily_volume=volume,
    )


# --- ingest ------------------------------------------------------------------------------


def batch_runs_ingest(*, rows: list[Any], atomic: bool = True, refresh: bool = True) -> IngestResult:
    """Validate and upsert runs on ``(client, run_id)``; refresh the touched clients' stats.

    With ``atomic`` any bad row means nothing is written and ``result.errors`` lists every
    bad row. Without it the good rows are saved and the bad ones reported. Within one
    batch the last row for a ``(client, run_id)`` wins.
    """
    result = IngestResult()
    cleaned: dict[tuple[str, str], CleanRun] = {}
    for index, raw in enumerate(rows):
        try:
            run = run_clean(raw)
        except ValidationError as exc:
            run_id = _text(raw, "run_id") if isinstance(raw, dict) else ""
            result.errors.append(RowError(index=index, run_id=run_id, errors=exc.message_dict))
            continue
        cleaned[(run.client, run.run_id)] = run
    if (result.errors and atomic) or not cleaned:
        return result
    with transaction.atomic():
        clients = _clients_upsert(list(cleaned.values()))
        by_client: dict[int, list[CleanRun]] = {}
        for run in cleaned.values():
            by_client.setdefault(clients[run.client].pk, []).append(run)
        # One query for all clients; rows matching another client's run id are never looked up.
        existing = {
            (r.client_id, r.run_id): r
            for r in BatchRun.objects.filter(
                client_id__in=by_client, run_id__in={run.run_id for run in cleaned.values()}
            )
        }
        to_write = []
        for client_id, runs in by_client.items():
            for run in runs:
                values = {name: getattr(run, name) for name in RUN_FIELDS}
                old = existing.get((client_id, run.run_id))
                if old is not None and all(getattr(old, k) == v for k, v in values.items()):
                    result.unchanged += 1
                    continue
                if old is None:
                    result.created += 1
                else:
                    result.updated += 1
                to_write.append(BatchRun(client_id=client_id, run_id=run.run_id, **values))
        if to_write:
            # An upsert, so two producers sending the same run at once cannot collide.
            BatchRun.objects.bulk_create(
                to_write,
                batch_size=1000,
                update_conflicts=True,
                unique_fields=["client", "run_id"],
                update_fields=[*RUN_FIELDS, "received_at"],
            )
        result.client_ids = set(by_client)
        if refresh and to_write:
            client_stats_refresh(client_ids=result.client_ids)
    return result


def _clients_upsert(runs: list[CleanRun]) -> dict[str, Client]:
    """Fetch the clients named by ``runs``, registering unknown ones and taking new
    instance size / volume values that a producer reports."""
    wanted: dict[str, CleanRun] = {}
    for run in runs:
        # Per attribute, the last row that reports it wins; empty cells change nothing.
        merged = wanted.setdefault(run.client, CleanRun(**{**run.__dict__}))
        merged.client_name = run.client_name or merged.client_name
        merged.instance_size = run.instance_size or merged.instance_size
        if run.average_daily_volume is not None:
            merged.average_daily_volume = run.average_daily_volume
    found = {c.slug: c for c in Client.objects.filter(slug__in=list(wanted))}
    missing = [
        Client(
            slug=slug,
            name=run.client_name or slug.replace("-", " ").replace("_", " ").title(),
            instance_size=run.instance_size,
            average_daily_volume=run.average_daily_volume,
        )
        for slug, run in wanted.items()
        if slug not in found
    ]
    if missing:
        Client.objects.bulk_create(missing, ignore_conflicts=True)
        found = {c.slug: c for c in Client.objects.filter(slug__in=list(wanted))}
    for slug, run in wanted.items():
        client = found[slug]
        changes = {}
        if run.instance_size and run.instance_size != client.instance_size:
            changes["instance_size"] = run.instance_size
        if run.average_daily_volume is not None and run.average_daily_volume != client.average_daily_volume:
            changes["average_daily_volume"] = run.average_daily_volume
        if run.client_name and run.client_name != client.name:
            changes["name"] = run.client_name
        if changes:
            Client.objects.filter(pk=client.pk).update(**changes)
            for key, value in changes.items():
                setattr(client, key, value)
    return found


def client_stats_refresh(*, client_ids) -> None:
    """Recompute each client's latest run and the baseline (mean of up to
    ``BATCH_BASELINE_RUNS`` succeeded runs started before the latest one).

    Runs may arrive late and out of order, so this always looks at the stored runs rather
    than adjusting counters incrementally.
    """
    now = timezone.now()
    window = settings.BATCH_BASELINE_RUNS
    for client_id in client_ids:
        latest = (
            BatchRun.objects.filter(client_id=client_id).order_by("-started_at", "-id").only("id", "started_at").first()
        )
        mean, count = None, 0
        if latest is not None:
            durations = list(
                BatchRun.objects.filter(
                    client_id=client_id,
                    status=RunStatus.SUCCEEDED,
                    started_at__lt=latest.started_at,
                    duration__isnull=False,
                )
                .order_by("-started_at")
                .values_list("duration", flat=True)[:window]
            )
            count = len(durations)
            if count:
                mean = sum(d.total_seconds() for d in durations) / count
        Client.objects.filter(pk=client_id).update(
            latest_run=latest, baseline_mean_seconds=mean, baseline_runs=count, stats_updated_at=now
        )


# --- alerts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientState:
    """What the rules say about a client right now (used by the page and the check)."""

    client: Client
    staleness: rules.Staleness
    duration: rules.DurationCheck

    @property
    def conditions(self) -> dict[str, bool]:
        return {
            AlertKind.STALE: self.staleness.stale,
            AlertKind.LONG: self.duration.flag == "long",
            AlertKind.SHORT: self.duration.flag == "short",
        }


def client_state(client: Client, *, now: datetime) -> ClientState:
    """Apply the rules to a client loaded with ``select_related("latest_run")``."""
    run = client.latest_run
    stale = rules.staleness(
        last_started_at=run.started_at if run else None,
        expected_interval=client.expected_interval,
        grace=client.grace,
        now=now,
    )
    duration = rules.duration_check(
        status=run.status if run else "",
        started_at=run.started_at if run else None,
        duration_seconds=run.duration_seconds if run else None,
        baseline_mean_seconds=client.baseline_mean_seconds,
        baseline_runs=client.baseline_runs,
        now=now,
        long_factor=settings.BATCH_LONG_FACTOR,
        short_factor=settings.BATCH_SHORT_FACTOR,
        min_baseline_runs=settings.BATCH_MIN_BASELINE_RUNS,
    )
    return ClientState(client=client, staleness=stale, duration=duration)


def _describe(kind: str, state: ClientState) -> str:
    from .formatting import human_duration

    name = state.client.name
    if kind == AlertKind.STALE:
        return (
            f"{name}: no batch run for {human_duration(state.staleness.age)} "
            f"(expected every {human_duration(state.client.expected_interval)}); the last run likely failed to start."
        )
    if kind in (AlertKind.LONG, AlertKind.SHORT):
        check = state.duration
        verb = "has been running for" if check.running else "took"
        return (
            f"{name}: latest run {verb} {human_duration(timedelta(seconds=check.duration_seconds))}, "
            f"{check.ratio:.1f}× its recent average of "
            f"{human_duration(timedelta(seconds=state.client.baseline_mean_seconds))}."
        )
    return name


def _cleared_text(kind: str, state: ClientState) -> str:
    name = state.client.name
    if kind == AlertKind.STALE:
        return f"{name}: batch runs are arriving again."
    return f"{name}: the latest run's duration is back within its usual range."


def batch_alerts_check(*, now: datetime | None = None, notify: bool = True) -> list[int]:
    """Compare every active client's conditions with the stored alert state and record a
    ``BatchAlertEvent`` for each change (raised or cleared) only; return their ids.

    Each flip is a conditional UPDATE (``active`` must still hold the old value), so two
    checks running at once record, and notify, each transition once. Notifications are
    queued after commit; ``notify=False`` records the state silently (demo data).
    """
    now = now or timezone.now()
    clients = Client.objects.filter(is_active=True).select_related("latest_run")
    alerts = {(a.client_id, a.kind): a for a in BatchAlert.objects.all()}
    recipients = list(settings.BATCH_ALERT_EMAILS)
    event_ids: list[int] = []
    with transaction.atomic():
        for client in clients:
            state = client_state(client, now=now)
            for kind, holds in state.conditions.items():
                alert = alerts.get((client.pk, kind))
                was = bool(alert and alert.active)
                if holds == was:
                    continue
                if holds:
                    detail = _describe(kind, state)
                    alert = _raise(alert, client=client, kind=kind, now=now, detail=detail)
                    if alert is None:
                        continue
                    transition, message = Transition.RAISED, detail
                else:
                    flipped = BatchAlert.objects.filter(pk=alert.pk, active=True).update(active=False, cleared_at=now)
                    if not flipped:
                        continue
                    transition, message = Transition.CLEARED, _cleared_text(kind, state)
                event = BatchAlertEvent.objects.create(
                    alert=alert,
                    transition=transition,
                    at=now,
                    message=message,
                    recipients=recipients if notify else [],
                    emailed_at=None if notify else now,
                    chatted_at=None if notify else now,
                )
                event_ids.append(event.pk)
        if notify and event_ids:
            from .tasks import send_alert_event

            for event_id in event_ids:
                transaction.on_commit(lambda event_id=event_id: send_alert_event.delay(event_id))
    return event_ids


def _raise(alert: BatchAlert | None, *, client: Client, kind: str, now: datetime, detail: str) -> BatchAlert | None:
    """Mark the alert active; None when another check got there first."""
    if alert is None:
        try:
            with transaction.atomic():
                return BatchAlert.objects.create(client=client, kind=kind, active=True, raised_at=now, detail=detail)
        except IntegrityError:
            alert = BatchAlert.objects.get(client=client, kind=kind)
    flipped = BatchAlert.objects.filter(pk=alert.pk, active=False).update(
        active=True, raised_at=now, cleared_at=None, detail=detail
    )
    if not flipped:
        return None
    alert.active, alert.raised_at, alert.detail = True, now, detail
    return alert
