"""The monitoring rules as pure functions: no database, no settings, no clock.

Every caller (the Monitoring page, the client page, the periodic alert check) passes the
numbers and ``now`` in, so the rules are tested at their edges in isolation and the pages
and alerts can never disagree about what is stale, long or an outlier.

All datetimes must be timezone-aware; intervals are absolute durations (a one-day
interval is 24 hours even across a daylight-saving change).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from statistics import median

# Scales the MAD to estimate the standard deviation of normally distributed noise, so
# "3 MAD" flags what is ~3 sigma off (about 0.3 % of ordinary runs) instead of ~2 sigma.
MAD_SCALE = 1.4826
# When a window's durations barely vary (MAD ~ 0, e.g. all equal), this share of the
# median stands in for the MAD, so a run one second longer is not an "outlier".
MAD_FLOOR_FRACTION = 0.02
# ... and never less than this many seconds.
MAD_FLOOR_SECONDS = 1.0


def _aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


# --- staleness ---------------------------------------------------------------------


@dataclass(frozen=True)
class Staleness:
    """``age`` is the time since the latest run started (None: the client never ran)."""

    stale: bool
    age: timedelta | None
    overdue: timedelta | None  # how far past interval + grace; None when not stale

    @property
    def never_ran(self) -> bool:
        return self.age is None


def staleness(
    *, last_started_at: datetime | None, expected_interval: timedelta, grace: timedelta, now: datetime
) -> Staleness:
    """A client is stale when its latest run started more than ``expected_interval + grace``
    ago: the run that should have come since then is missing, most likely failed to start.

    A client with no runs at all is not stale (there is nothing to be late against); pages
    list it as "never ran" instead.
    """
    _aware(now, "now")
    if last_started_at is None:
        return Staleness(stale=False, age=None, overdue=None)
    _aware(last_started_at, "last_started_at")
    age = now - last_started_at
    allowed = expected_interval + grace
    if age > allowed:
        return Staleness(stale=True, age=age, overdue=age - allowed)
    return Staleness(stale=False, age=age, overdue=None)


# --- long / short runs ---------------------------------------------------------------


@dataclass(frozen=True)
class DurationCheck:
    flag: str | None  # "long", "short" or None
    duration_seconds: float | None
    ratio: float | None  # duration / baseline mean; None when it cannot be judged
    running: bool = False


def duration_check(
    *,
    status: str,
    started_at: datetime | None,
    duration_seconds: float | None,
    baseline_mean_seconds: float | None,
    baseline_runs: int,
    now: datetime,
    long_factor: float,
    short_factor: float,
    min_baseline_runs: int,
) -> DurationCheck:
    """Compare the latest run with the mean of the runs before it.

    - ``long`` when duration > ``long_factor`` × mean. A run still going counts with its
      time so far, so a run that hangs is flagged before it ends.
    - ``short`` when a finished, succeeded run took < ``short_factor`` × mean: a batch that
      "succeeded" in a fraction of its usual time most likely processed nothing.
    - Nothing is judged with fewer than ``min_baseline_runs`` earlier runs (a new client,
      a client with one run) or a zero mean. Failed runs are reported as failures instead.
    """
    _aware(now, "now")
    running = status == "running"
    if running and started_at is not None:
        _aware(started_at, "started_at")
        duration_seconds = max((now - started_at).total_seconds(), 0.0)
    if status == "failed" or duration_seconds is None:
        return DurationCheck(flag=None, duration_seconds=duration_seconds, ratio=None, running=running)
    if baseline_runs < min_baseline_runs or not baseline_mean_seconds or baseline_mean_seconds <= 0:
        return DurationCheck(flag=None, duration_seconds=duration_seconds, ratio=None, running=running)
    ratio = duration_seconds / baseline_mean_seconds
    flag = None
    if ratio > long_factor:
        flag = "long"
    elif not running and ratio < short_factor:
        flag = "short"
    return DurationCheck(flag=flag, duration_seconds=duration_seconds, ratio=ratio, running=running)


# --- outliers --------------------------------------------------------------------------


def mad(values: Sequence[float]) -> float:
    """Median absolute deviation from the median (unscaled; see ``MAD_SCALE``)."""
    if not values:
        raise ValueError("mad() of no values")
    centre = median(values)
    return median(abs(v - centre) for v in values)


@dataclass(frozen=True)
class OutlierVerdict:
    outlier: bool
    median: float | None = None
    mad: float | None = None  # the spread actually used: scaled MAD, after the floor
    upper: float | None = None
    lower: float | None = None


def outlier_verdicts(
    durations: Sequence[float], *, window: int, k: float, min_points: int, history: Sequence[float] = ()
) -> list[OutlierVerdict]:
    """For each duration, judge it against the ``window`` durations before it.

    Outlier when it lies beyond median ± k·MAD of that trailing window, the MAD scaled by
    ``MAD_SCALE`` (robust: one huge run does not drag the threshold up the way a mean and
    standard deviation would, and the trailing window follows durations that grow over
    time). The MAD is floored at
    ``MAD_FLOOR_FRACTION`` of the median (and ``MAD_FLOOR_SECONDS``) so a window of equal
    durations does not make every tiny difference an outlier. Points with fewer than
    ``min_points`` earlier durations are not judged. ``history`` holds durations before
    the first one (e.g. before a chart's date range), so the first points have a window.
    """
    series = [*history, *durations]
    verdicts: list[OutlierVerdict] = []
    offset = len(history)
    for index in range(offset, len(series)):
        trailing = series[max(0, index - window) : index]
        if len(trailing) < max(min_points, 1):
            verdicts.append(OutlierVerdict(outlier=False))
            continue
        centre = median(trailing)
        spread = max(MAD_SCALE * mad(trailing), MAD_FLOOR_FRACTION * abs(centre), MAD_FLOOR_SECONDS)
        upper, lower = centre + k * spread, centre - k * spread
        value = series[index]
        verdicts.append(
            OutlierVerdict(outlier=value > upper or value < lower, median=centre, mad=spread, upper=upper, lower=lower)
        )
    return verdicts


# --- month over month ------------------------------------------------------------------


@dataclass(frozen=True)
class MonthChange:
    month: date  # first day of the month
    mean_seconds: float
    runs: int
    change_percent: float | None  # vs the previous calendar month; None when it had no runs


def month_over_month(durations_by_day: Sequence[tuple[date, float]]) -> list[MonthChange]:
    """Mean duration per calendar month (of the run date) and its % change from the month
    before. A month without runs breaks the chain: the next month has no change rather
    than a change against a month that is not there."""
    totals: dict[date, list[float]] = {}
    for day, seconds in durations_by_day:
        totals.setdefault(day.replace(day=1), []).append(seconds)
    result: list[MonthChange] = []
    for month in sorted(totals):
        values = totals[month]
        mean = sum(values) / len(values)
        previous_month = (month - timedelta(days=1)).replace(day=1)
        before = totals.get(previous_month)
        change = None
        if before:
            before_mean = sum(before) / len(before)
            if before_mean > 0:
                change = (mean - before_mean) / before_mean * 100.0
        result.append(MonthChange(month=month, mean_seconds=mean, runs=len(values), change_percent=change))
    return result


# --- success rate and urgency -------------------------------------------------------------


def success_rate(*, succeeded: int, failed: int) -> float | None:
    """Share of finished runs that succeeded, in percent; None (no data, not 0) without any."""
    finished = succeeded + failed
    if finished == 0:
        return None
    return succeeded / finished * 100.0


# Most urgent first: a client with no run at all is worse than a failed one, which is
# worse than a slow one; a batch that did nothing is least urgent but still shown.
URGENCY_RANK = {"stale": 0, "failed": 1, "long": 2, "short": 3}


def urgency_key(*, problem: str, magnitude: float) -> tuple[int, float]:
    """Sort key: problem rank, then the larger magnitude (intervals overdue, ratio off the
    average) first."""
    return (URGENCY_RANK[problem], -magnitude)
