"""Reads for the batch pages: each returns exactly what one page needs, in a fixed number
of queries whatever the number of clients or runs.

``/batches/`` reads only the ``Client`` rows with their denormalised latest run and
baseline (one query), the recent failed runs (one query) and the open alerts (one query);
it never scans run history.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.utils import timezone

from . import rules
from .choices import RunStatus
from .models import BatchAlert, BatchRun, Client
from .services import ClientState, client_state


@dataclass(frozen=True)
class Problem:
    kind: str  # stale / failed / long / short
    magnitude: float

    @property
    def sort_key(self):
        return rules.urgency_key(problem=self.kind, magnitude=self.magnitude)


@dataclass
class AttentionRow:
    state: ClientState
    problems: list[Problem]
    alerts: list[BatchAlert] = field(default_factory=list)

    @property
    def client(self) -> Client:
        return self.state.client

    @property
    def sort_key(self):
        return min(p.sort_key for p in self.problems)

    @property
    def kinds(self) -> set[str]:
        return {p.kind for p in self.problems}


@dataclass
class Overview:
    rows: list[AttentionRow]
    never_ran: list[Client]
    failed_runs: list[BatchRun]
    client_count: int
    clients: list[tuple[str, str]]  # (slug, name) for the picker
    counts: dict[str, int]


def problems_for(state: ClientState) -> list[Problem]:
    problems = []
    if state.staleness.stale:
        interval = state.client.expected_interval.total_seconds() or 1
        problems.append(Problem("stale", state.staleness.overdue.total_seconds() / interval))
    run = state.client.latest_run
    if run is not None and run.status == RunStatus.FAILED:
        problems.append(Problem("failed", -(state.staleness.age or timedelta()).total_seconds()))
    if state.duration.flag == "long":
        problems.append(Problem("long", state.duration.ratio))
    elif state.duration.flag == "short":
        problems.append(Problem("short", 1 / max(state.duration.ratio, 1e-9)))
    return problems


def monitoring_overview(*, now: datetime) -> Overview:
    clients = list(
        Client.objects.filter(is_active=True)
        .select_related("latest_run")
        .only(
            "slug",
            "name",
            "expected_interval",
            "grace",
            "baseline_mean_seconds",
            "baseline_runs",
            "latest_run__status",
            "latest_run__started_at",
            "latest_run__finished_at",
            "latest_run__duration",
            "latest_run__run_id",
            "latest_run__run_date",
        )
        .order_by("name")
    )
    open_alerts: dict[int, list[BatchAlert]] = {}
    for alert in BatchAlert.objects.filter(active=True).order_by("raised_at"):
        open_alerts.setdefault(alert.client_id, []).append(alert)
    rows, never_ran = [], []
    counts = {"stale": 0, "failed": 0, "long": 0, "short": 0}
    for client in clients:
        if client.latest_run_id is None:
            never_ran.append(client)
            continue
        state = client_state(client, now=now)
        problems = problems_for(state)
        if problems:
            rows.append(AttentionRow(state=state, problems=problems, alerts=open_alerts.get(client.pk, [])))
            for problem in problems:
                counts[problem.kind] += 1
    rows.sort(key=lambda row: (row.sort_key, row.client.name))
    since = now - timedelta(days=settings.BATCH_FAILED_LOOKBACK_DAYS)
    failed_runs = list(
        BatchRun.objects.filter(status=RunStatus.FAILED, started_at__gte=since, client__is_active=True)
        .select_related("client")
        .only("run_id", "run_date", "started_at", "finished_at", "duration", "client__slug", "client__name")
        .order_by("-started_at")[:100]
    )
    return Overview(
        rows=rows,
        never_ran=never_ran,
        failed_runs=failed_runs,
        client_count=len(clients),
        clients=[(c.slug, c.name) for c in clients],
        counts=counts,
    )


# --- client investigation ---------------------------------------------------------------------


@dataclass
class Investigation:
    client: Client
    state: ClientState
    start: date
    end: date
    points: list[dict]
    outliers: list[dict]
    months: list[rules.MonthChange]
    success_rate: float | None
    succeeded: int
    failed: int
    running: int
    latest_change: rules.MonthChange | None
    alerts: list[BatchAlert]


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def client_investigation(*, client: Client, start: date, end: date, now: datetime) -> Investigation:
    """Runs of one client between two dates (inclusive, in TIME_ZONE), each succeeded run
    judged for outliers against its trailing window, and mean duration per month with
    its change from the month before (the month before ``start`` is read too, so the first
    month shown has a change)."""
    month_before = (start.replace(day=1) - timedelta(days=1)).replace(day=1)
    read_from = min(month_before, start)
    runs = list(
        BatchRun.objects.filter(
            client=client,
            started_at__gte=_local_midnight(read_from),
            started_at__lt=_local_midnight(end + timedelta(1)),
        )
        .only("run_id", "run_date", "started_at", "finished_at", "duration", "status", "records_processed")
        .order_by("started_at", "id")
    )
    range_start = _local_midnight(start)
    in_range = [r for r in runs if r.started_at >= range_start]
    before_range = [r for r in runs if r.started_at < range_start and r.status == RunStatus.SUCCEEDED and r.duration]
    window = settings.BATCH_OUTLIER_WINDOW
    history = before_range[-window:]
    if len(history) < window:
        # The month read above may not hold a full window (a sparse client); fetch the rest.
        earliest = history[0].started_at if history else range_start
        more = list(
            BatchRun.objects.filter(
                client=client, status=RunStatus.SUCCEEDED, duration__isnull=False, started_at__lt=earliest
            )
            .order_by("-started_at")
            .values_list("duration", flat=True)[: window - len(history)]
        )
        history_seconds = [d.total_seconds() for d in reversed(more)] + [r.duration_seconds for r in history]
    else:
        history_seconds = [r.duration_seconds for r in history]
    succeeded_runs = [r for r in in_range if r.status == RunStatus.SUCCEEDED and r.duration is not None]
    verdicts = rules.outlier_verdicts(
        [r.duration_seconds for r in succeeded_runs],
        window=window,
        k=settings.BATCH_OUTLIER_MADS,
        min_points=settings.BATCH_OUTLIER_MIN_POINTS,
        history=history_seconds,
    )
    verdict_of = {r.pk: v for r, v in zip(succeeded_runs, verdicts, strict=True)}
    points, outliers = [], []
    for run in in_range:
        verdict = verdict_of.get(run.pk)
        seconds = run.duration_seconds
        if run.status == RunStatus.RUNNING:
            seconds = max((now - run.started_at).total_seconds(), 0.0)
        point = {
            "x": run.started_at.isoformat(),
            "run_id": run.run_id,
            "run_date": run.run_date.isoformat(),
            "started": timezone.localtime(run.started_at).strftime("%Y-%m-%d %H:%M"),
            "seconds": seconds,
            "status": run.status,
            "records": run.records_processed,
            "outlier": bool(verdict and verdict.outlier),
            "upper": verdict.upper if verdict else None,
            "median": verdict.median if verdict else None,
        }
        points.append(point)
        if point["outlier"]:
            outliers.append({**point, "run": run, "verdict": verdict})
    months = rules.month_over_month(
        [(r.run_date, r.duration_seconds) for r in runs if r.status == RunStatus.SUCCEEDED and r.duration is not None]
    )
    months = [m for m in months if m.month >= start.replace(day=1)]
    succeeded = sum(1 for r in in_range if r.status == RunStatus.SUCCEEDED)
    failed = sum(1 for r in in_range if r.status == RunStatus.FAILED)
    running = sum(1 for r in in_range if r.status == RunStatus.RUNNING)
    with_change = [m for m in months if m.change_percent is not None]
    return Investigation(
        client=client,
        state=client_state(client, now=now),
        start=start,
        end=end,
        points=points,
        outliers=outliers,
        months=months,
        success_rate=rules.success_rate(succeeded=succeeded, failed=failed),
        succeeded=succeeded,
        failed=failed,
        running=running,
        latest_change=with_change[-1] if with_change else None,
        alerts=list(client.alerts.filter(active=True)),
    )
