"""Reads for automation ROI: what the dashboard, the CSV export and the monthly report show.

Definitions, kept in one place:

- a *run* is a finished execution whose ``started_at`` falls in ``[start, end)``;
- *hours saved* count successful runs only: the run's own ROI value when it has one,
  else its job's ``minutes_saved`` / 60. A failed run saves nothing;
- *money saved* = hours saved × the job's ``cost_per_hour``;
- *success rate* = successful runs / runs, in percent; None without runs (never 0);
- *average run time* = mean of ``ended_at - started_at`` over all runs, in seconds.

A job with several tags counts fully under each of them, so tag rows may add up to more
than the total. Arithmetic is done in floating point in the database (SQLite divides
integer-valued decimals as integers) and rounded for display.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Avg, Case, Count, FloatField, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Cast, Coalesce, TruncWeek
from django.utils import timezone

from .choices import ExecutionStatus, Period
from .models import AutomationJob, Execution, ImportRun

PERIOD_LENGTHS = {
    Period.HOUR: timedelta(hours=1),
    Period.DAY: timedelta(hours=24),
    Period.TWO_WEEKS: timedelta(days=14),
    Period.MONTH: timedelta(days=30),
}
UNTAGGED = "(untagged)"
TREND_MIN_WEEKS = 12


@dataclass(frozen=True)
class Stats:
    runs: int
    succeeded: int
    hours_saved: float
    money_saved: float
    avg_seconds: float | None

    @property
    def success_rate(self) -> float | None:
        return 100.0 * self.succeeded / self.runs if self.runs else None

    @property
    def failed(self) -> int:
        return self.runs - self.succeeded


@dataclass(frozen=True)
class JobStats(Stats):
    job: AutomationJob | None = None


@dataclass(frozen=True)
class TagStats(Stats):
    tag: str = ""
    jobs: int = 0


@dataclass(frozen=True)
class WeekPoint:
    week: datetime  # Monday 00:00 in TIME_ZONE
    hours_saved: float | None  # None: no runs that week
    runs: int


def _hours_expr():
    succeeded = Q(status=ExecutionStatus.SUCCEEDED)
    return Case(
        When(succeeded & Q(hours_saved__isnull=False), then=Cast("hours_saved", FloatField())),
        When(succeeded, then=Cast("job__minutes_saved", FloatField()) / Value(60.0)),
        default=Value(0.0),
        output_field=FloatField(),
    )


def _aggregates() -> dict:
    return {
        "runs": Count("id"),
        "succeeded": Count("id", filter=Q(status=ExecutionStatus.SUCCEEDED)),
        # Not named like the model's ``hours_saved`` field, which the expressions read.
        "saved_hours": Coalesce(Sum(_hours_expr()), Value(0.0)),
        "saved_money": Coalesce(Sum(_hours_expr() * Cast("job__cost_per_hour", FloatField())), Value(0.0)),
        "avg_seconds": Avg("duration_seconds"),
    }


def _stats_kwargs(row: dict) -> dict:
    return {
        "runs": row["runs"],
        "succeeded": row["succeeded"],
        "hours_saved": float(row["saved_hours"] or 0),
        "money_saved": float(row["saved_money"] or 0),
        "avg_seconds": row["avg_seconds"],
    }


def runs_in(*, start: datetime, end: datetime) -> QuerySet[Execution]:
    return Execution.objects.filter(started_at__gte=start, started_at__lt=end)


def totals(*, start: datetime, end: datetime) -> Stats:
    return Stats(**_stats_kwargs(runs_in(start=start, end=end).aggregate(**_aggregates())))


def stats_per_job(*, start: datetime, end: datetime) -> list[JobStats]:
    """One row per job with runs in the period, most hours saved first."""
    rows = list(runs_in(start=start, end=end).values("job_id").annotate(**_aggregates()).order_by())
    jobs = AutomationJob.objects.prefetch_related("tags").in_bulk([row["job_id"] for row in rows])
    stats = [JobStats(job=jobs[row["job_id"]], **_stats_kwargs(row)) for row in rows]
    return sorted(stats, key=lambda s: (-s.hours_saved, -s.runs, s.job.name))


def stats_per_tag(*, start: datetime, end: datetime) -> list[TagStats]:
    """One row per tag with runs in the period (jobs without a tag under ``(untagged)``)."""
    rows = (
        runs_in(start=start, end=end)
        .values("job__tags__name")
        .annotate(jobs=Count("job", distinct=True), **_aggregates())
        .order_by()
    )
    stats = [TagStats(tag=row["job__tags__name"] or UNTAGGED, jobs=row["jobs"], **_stats_kwargs(row)) for row in rows]
    return sorted(stats, key=lambda s: (-s.hours_saved, -s.runs, s.tag))


def top_jobs(job_stats: list[JobStats], *, limit: int = 5) -> list[JobStats]:
    """The jobs worth most over the period: money saved, then hours saved (no extra query)."""
    valuable = [s for s in job_stats if s.hours_saved > 0 or s.money_saved > 0]
    return sorted(valuable, key=lambda s: (-s.money_saved, -s.hours_saved, s.job.name))[:limit]


def weekly_trend(*, start: datetime, end: datetime) -> list[WeekPoint]:
    """Hours saved per week (weeks start on Monday in TIME_ZONE), every week of the range listed."""
    tz = timezone.get_current_timezone()
    rows = (
        runs_in(start=start, end=end)
        .annotate(week=TruncWeek("started_at", tzinfo=tz))
        .values("week")
        .annotate(saved_hours=Coalesce(Sum(_hours_expr()), Value(0.0)), runs=Count("id"))
        .order_by("week")
    )
    by_week = {timezone.localtime(row["week"], tz).date(): row for row in rows}
    first = timezone.localtime(start, tz).date()
    first -= timedelta(days=first.weekday())
    last = timezone.localtime(end - timedelta(microseconds=1), tz).date()
    points = []
    day = first
    while day <= last:
        row = by_week.get(day)
        monday = timezone.make_aware(datetime.combine(day, datetime.min.time()), tz)
        points.append(
            WeekPoint(
                week=monday,
                hours_saved=round(float(row["saved_hours"]), 2) if row else None,
                runs=row["runs"] if row else 0,
            )
        )
        day += timedelta(days=7)
    return points


def trend_range(*, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The trend covers the period, but at least the last ``TREND_MIN_WEEKS`` weeks up to its end."""
    return min(start, end - timedelta(weeks=TREND_MIN_WEEKS)), end


def roi_summary(*, start: datetime, end: datetime) -> dict:
    """Totals for the monthly report: ``hours_saved``, ``money_saved``, ``runs``, ``success_rate``.

    Hours and money are rounded to two decimals; ``success_rate`` is a percentage, or None
    when nothing ran (the report then says "no runs" rather than 0 %).
    """
    stats = totals(start=start, end=end)
    return {
        "hours_saved": round(stats.hours_saved, 2),
        "money_saved": round(stats.money_saved, 2),
        "runs": stats.runs,
        "success_rate": round(stats.success_rate, 1) if stats.success_rate is not None else None,
    }


def last_import() -> ImportRun | None:
    return ImportRun.objects.order_by("-started_at").first()


def period_bounds(period: str, *, now: datetime) -> tuple[datetime, datetime]:
    """Start and end of a preset period ending now."""
    return now - PERIOD_LENGTHS[Period(period)], now


# Public names for the read API (the same expressions the dashboard aggregates with).
hours_saved_expression = _hours_expr
aggregates = _aggregates
