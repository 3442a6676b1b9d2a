"""The arithmetic of availability, kept pure so it can be checked exhaustively.

Everything here is a function of plain datetimes and intervals: no database, no settings.
The report, the API, the CSV and the PDF all get their numbers from these few functions,
which is why they can never disagree, and why the tests can compare them with a
brute-force minute-by-minute reference on random data (tests/reports/test_uptime.py).

Month bounds are computed in the reporting time zone and then turned into UTC instants:
a month in Europe/London that contains the switch to summer time is 743 hours long, not
744, and "March" starts at 00:00 local time, not at 00:00 UTC.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
QUARTER_RE = re.compile(r"^(\d{4})-[Qq](\d)$")
YEAR_RE = re.compile(r"^(\d{4})$")


class BadMonth(ValueError):
    """The text is not a month in the form YYYY-MM (the message says what is wrong)."""


class BadPeriod(BadMonth):
    """The text is not a period: ``YYYY-MM``, ``YYYY-QN`` or ``YYYY`` (the message says why)."""


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month; ``str(month)`` is ``YYYY-MM``, the form used in URLs and the API."""

    year: int
    month: int

    kind = "month"

    @classmethod
    def parse(cls, text: str) -> Month:
        match = MONTH_RE.match((text or "").strip())
        if not match:
            raise BadMonth(f"{text!r} is not a month: write it as YYYY-MM, e.g. 2025-03.")
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12:
            raise BadMonth(f"{text!r} is not a month: the month number must be 01 to 12.")
        if year < 1970:
            raise BadMonth(f"{text!r} is too far in the past.")
        return cls(year, month)

    @classmethod
    def containing(cls, instant: datetime, tz: str) -> Month:
        local = instant.astimezone(ZoneInfo(tz))
        return cls(local.year, local.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def label(self) -> str:
        return datetime(self.year, self.month, 1).strftime("%B %Y")

    @property
    def kind_label(self) -> str:
        return "month"

    @property
    def months(self) -> list[Month]:
        return [self]

    @property
    def last_month(self) -> Month:
        return self

    def previous(self) -> Month:
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)

    def next(self) -> Month:
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    def bounds(self, tz: str) -> tuple[datetime, datetime]:
        """``[start, end)`` of the month in ``tz`` as UTC instants.

        Midnight on the 1st in local time. Where a zone skips or repeats midnight, the
        earlier reading (``fold=0``) is used for both ends, so consecutive months always
        share their boundary and together cover time without gap or overlap.
        """
        zone = ZoneInfo(tz)
        nxt = self.next()
        start = datetime(self.year, self.month, 1, tzinfo=zone).astimezone(UTC)
        end = datetime(nxt.year, nxt.month, 1, tzinfo=zone).astimezone(UTC)
        return start, end


@dataclass(frozen=True, order=True)
class Quarter:
    """A calendar quarter; ``str(quarter)`` is ``YYYY-QN``."""

    year: int
    quarter: int

    kind = "quarter"

    @classmethod
    def containing(cls, instant: datetime, tz: str) -> Quarter:
        local = instant.astimezone(ZoneInfo(tz))
        return cls(local.year, (local.month - 1) // 3 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-Q{self.quarter}"

    @property
    def kind_label(self) -> str:
        return "quarter"

    @property
    def months(self) -> list[Month]:
        first = 3 * (self.quarter - 1) + 1
        return [Month(self.year, first + i) for i in range(3)]

    @property
    def last_month(self) -> Month:
        return self.months[-1]

    @property
    def first_day(self) -> date:
        return self.months[0].first_day

    @property
    def label(self) -> str:
        return f"Q{self.quarter} {self.year}"

    def previous(self) -> Quarter:
        return Quarter(self.year - 1, 4) if self.quarter == 1 else Quarter(self.year, self.quarter - 1)

    def next(self) -> Quarter:
        return Quarter(self.year + 1, 1) if self.quarter == 4 else Quarter(self.year, self.quarter + 1)

    def bounds(self, tz: str) -> tuple[datetime, datetime]:
        return self.months[0].bounds(tz)[0], self.months[-1].bounds(tz)[1]


@dataclass(frozen=True, order=True)
class Year:
    """A calendar year; ``str(year)`` is ``YYYY``."""

    year: int

    kind = "year"

    @classmethod
    def containing(cls, instant: datetime, tz: str) -> Year:
        return cls(instant.astimezone(ZoneInfo(tz)).year)

    def __str__(self) -> str:
        return f"{self.year:04d}"

    @property
    def kind_label(self) -> str:
        return "year"

    @property
    def months(self) -> list[Month]:
        return [Month(self.year, m) for m in range(1, 13)]

    @property
    def last_month(self) -> Month:
        return Month(self.year, 12)

    @property
    def first_day(self) -> date:
        return date(self.year, 1, 1)

    @property
    def label(self) -> str:
        return str(self.year)

    def previous(self) -> Year:
        return Year(self.year - 1)

    def next(self) -> Year:
        return Year(self.year + 1)

    def bounds(self, tz: str) -> tuple[datetime, datetime]:
        return Month(self.year, 1).bounds(tz)[0], Month(self.year, 12).bounds(tz)[1]


Period = Month | Quarter | Year


def parse_period(text: str) -> Period:
    """``YYYY-MM``, ``YYYY-QN`` or ``YYYY``; anything else raises ``BadPeriod`` saying what is wrong."""
    text = (text or "").strip()
    if MONTH_RE.match(text):
        try:
            return Month.parse(text)
        except BadMonth as exc:
            raise BadPeriod(str(exc)) from None
    for regex, build in ((QUARTER_RE, lambda y, n: Quarter(y, n)), (YEAR_RE, lambda y, _n: Year(y))):
        match = regex.match(text)
        if match:
            year = int(match.group(1))
            number = int(match.group(2)) if regex is QUARTER_RE else 0
            if regex is QUARTER_RE and not 1 <= number <= 4:
                raise BadPeriod(f"{text!r} is not a quarter: the quarter number must be 1 to 4 (YYYY-Q1 … YYYY-Q4).")
            if year < 1970:
                raise BadPeriod(f"{text!r} is too far in the past.")
            return build(year, number)
    raise BadPeriod(
        f"{text!r} is not a month, quarter or year: write YYYY-MM (2025-03), YYYY-QN (2025-Q1) or YYYY (2025)."
    )


def period_containing(kind: str, instant: datetime, tz: str) -> Period:
    return {"month": Month, "quarter": Quarter, "year": Year}[kind].containing(instant, tz)


Interval = tuple[datetime, datetime | None]  # end None = still going


def merge_intervals(
    intervals: Iterable[Interval], *, start: datetime, end: datetime, now: datetime
) -> list[tuple[datetime, datetime]]:
    """Clip intervals to ``[start, end)`` and merge overlapping or touching ones.

    An interval without an end is ongoing and lasts until ``now``. The result is sorted
    and disjoint, so its total length is the time covered by *any* of the inputs: two
    incidents at the same time count once.
    """
    clipped: list[tuple[datetime, datetime]] = []
    for s, e in intervals:
        e = now if e is None else e
        s, e = max(s, start), min(e, end)
        if e > s:
            clipped.append((s, e))
    clipped.sort()
    merged: list[tuple[datetime, datetime]] = []
    for s, e in clipped:
        if merged and s <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


def union_seconds(intervals: Iterable[Interval], *, start: datetime, end: datetime, now: datetime) -> float:
    """Length in seconds of the union of ``intervals`` clipped to ``[start, end)``."""
    return sum((e - s).total_seconds() for s, e in merge_intervals(intervals, start=start, end=end, now=now))


def uptime_percent(downtime_seconds: float, period_seconds: float) -> float:
    """``100 × (1 − downtime / period)``; a period of zero length had no downtime."""
    if period_seconds <= 0:
        return 100.0
    return 100.0 * (1.0 - downtime_seconds / period_seconds)


def error_budget_used(downtime_seconds: float, period_seconds: float, slo_target: float) -> float | None:
    """Share (percent) of the downtime the SLO allows that was used; None for a 100 % target."""
    allowed = period_seconds * (100.0 - slo_target) / 100.0
    if allowed <= 0:
        return None
    return 100.0 * downtime_seconds / allowed


class IntervalSet:
    """Sorted disjoint intervals with a fast "is this instant inside any of them?" test.

    Used for the 5xx count: a sample belongs to an incident window when its time falls
    inside one (start inclusive, end exclusive).
    """

    def __init__(self, merged: list[tuple[datetime, datetime]]):
        self.starts = [s for s, _ in merged]
        self.ends = [e for _, e in merged]

    def __contains__(self, instant: datetime) -> bool:
        index = bisect_right(self.starts, instant) - 1
        return index >= 0 and instant < self.ends[index]

    def __bool__(self) -> bool:
        return bool(self.starts)
