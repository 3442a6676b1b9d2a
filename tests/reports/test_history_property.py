"""Property tests that would catch a wrong availability number.

Random incident histories (open at a severity, back-dated raises and lowerings, resolves,
reopens, corrections of times and of severity) are played through the real services into
the database; the report's downtime per service is compared with a minute-by-minute replay
of the same accepted events, written here from the rule in DESIGN.md and nothing else:

    a minute is downtime for a service when an incident affecting it is open then, at the
    severity in force then (the last severity set at or before that minute, in effective
    time), and that severity is 1 or 2; the month is the local calendar month.

The windows sit on DST changes in Europe/London and America/New_York and on a month boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidents import services as svc
from incidents.models import Service
from reports.selectors import monthly_report
from reports.uptime import Month

MINUTE = timedelta(minutes=1)

# (time zone, month reported, window start in UTC, window length in minutes)
WINDOWS = {
    # London springs forward on 29 March 2026 01:00 UTC; March ends at 31 March 23:00 UTC.
    "london-march": ("Europe/London", Month(2026, 3), datetime(2026, 3, 28, 12, tzinfo=UTC), 5 * 24 * 60),
    # New York falls back on 1 November 2026 06:00 UTC; November starts at 04:00 UTC.
    "new-york-november": ("America/New_York", Month(2026, 11), datetime(2026, 10, 31, 12, tzinfo=UTC), 3 * 24 * 60),
    "new-york-october": ("America/New_York", Month(2026, 10), datetime(2026, 10, 31, 12, tzinfo=UTC), 3 * 24 * 60),
}


@dataclass
class Model:
    """What the reference knows of one incident: accepted events only."""

    services: list[str]
    start: int  # minute offsets from the window start
    end: int | None = None  # current resolution
    events: list[tuple[int, int, str, int | None]] = field(default_factory=list)  # (at, seq, kind, severity)

    def down_at(self, minute: int) -> bool:
        if minute < self.start or (self.end is not None and minute >= self.end):
            return False
        is_open, severity = False, None
        closes = [seq for at, seq, kind, _ in self.events if kind == "resolved"]
        final_close = closes[-1] if (closes and self.end is not None) else None
        timeline = []
        for at, seq, kind, sev in self.events:
            if kind == "opened":
                at = self.start
            elif seq == final_close:
                at = self.end
            timeline.append((max(at, self.start), seq, kind, sev))
        for at, _seq, kind, sev in sorted(timeline):
            if at > minute:
                break
            if sev is not None:
                severity = sev
            if kind in ("opened", "reopened"):
                is_open = True
            elif kind == "resolved":
                is_open = False
        return is_open and severity is not None and severity <= 2


op = st.one_of(
    st.tuples(st.just("change"), st.integers(0, 900), st.integers(1, 4)),  # back-dated by n minutes
    st.tuples(st.just("resolve"), st.integers(0, 600), st.just(0)),  # resolved n minutes ago
    st.tuples(st.just("reopen"), st.just(0), st.integers(1, 4)),
    st.tuples(st.just("correct_severity"), st.integers(0, 900), st.integers(1, 4)),
    st.tuples(st.just("correct_times"), st.integers(-300, 300), st.integers(-300, 300)),
)
incident_strategy = st.tuples(
    st.integers(0, 3000),  # start minute
    st.integers(1, 4),  # initial severity
    st.sets(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3),
    st.lists(st.tuples(st.integers(1, 240), op), max_size=8),  # (minutes typed after the last step, op)
)


def _reference_downtime(models: list[Model], slug: str, window_start, minutes, month_start, month_end) -> int:
    total = 0
    for m in range(minutes):
        instant = window_start + m * MINUTE
        if not (month_start <= instant < month_end):
            continue
        if any(slug in model.services and model.down_at(m) for model in models):
            total += 60
    return total


def _play(window_start, minutes, incidents):
    """Play the generated histories through the services; return the reference models."""
    services = {slug: Service.objects.get_or_create(slug=slug, defaults={"name": slug.upper()})[0] for slug in "abc"}
    models = []
    seq = 0
    for start, severity, slugs, ops in incidents:
        clock = start
        incident = svc.incident_open(
            title="Generated", severity=severity, services=[services[s] for s in sorted(slugs)], by=None,
            started_at=window_start + start * MINUTE, now=window_start + clock * MINUTE, notify=False,
        )  # fmt: skip
        model = Model(services=sorted(slugs), start=start)
        seq += 1
        model.events.append((start, seq, "opened", severity))
        for typed_after, (kind, a, b) in ops:
            clock = min(clock + typed_after, minutes - 1)
            now = window_start + clock * MINUTE
            incident.refresh_from_db()
            try:
                with transaction.atomic():
                    if kind == "change":
                        at = max(clock - a, model.start)
                        before = incident.severity
                        svc.incident_update(
                            incident=incident, message="m", severity=b, effective_at=window_start + at * MINUTE,
                            by=None, now=now, notify=False,
                        )  # fmt: skip
                        # On an open incident the current severity means "no change"; on a
                        # resolved one the update is a correction from that time.
                        if b != before or model.end is not None:
                            seq += 1
                            model.events.append((at, seq, "change", b))
                    elif kind == "resolve":
                        at = clock - a
                        svc.incident_resolve(
                            incident=incident, message="r", resolved_at=window_start + at * MINUTE, by=None,
                            now=now, notify=False,
                        )  # fmt: skip
                        seq += 1
                        model.events.append((at, seq, "resolved", None))
                        model.end = at
                    elif kind == "reopen":
                        before = incident.severity
                        svc.incident_reopen(
                            incident=incident, message="again", severity=b, by=None, now=now, notify=False
                        )
                        seq += 1
                        model.events.append((clock, seq, "reopened", b if b != before else None))
                        model.end = None
                    elif kind == "correct_severity":
                        at = max(clock - a, model.start)
                        svc.incident_correct(
                            incident=incident, by=None, reason="r", severity=b,
                            effective_at=window_start + at * MINUTE, now=now,
                        )  # fmt: skip
                        seq += 1
                        model.events.append((at, seq, "change", b))
                    elif kind == "correct_times":
                        new_start = max(0, model.start + a)
                        new_end = None if model.end is None else max(0, model.end + b)
                        svc.incident_correct(
                            incident=incident, by=None, reason="r", now=now,
                            started_at=window_start + new_start * MINUTE,
                            resolved_at=None if new_end is None else window_start + new_end * MINUTE,
                        )  # fmt: skip
                        model.start = new_start
                        model.end = new_end
            except ValidationError:
                continue  # refused by a rule: nothing changed, so the reference skips it too
        models.append(model)
    return models


@pytest.mark.parametrize("window", sorted(WINDOWS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(incidents=st.lists(incident_strategy, min_size=1, max_size=3))
def test_report_downtime_equals_a_minute_by_minute_replay(db, window, incidents):
    tz, month, window_start, minutes = WINDOWS[window]
    month_start, month_end = month.bounds(tz)
    end_of_window = window_start + minutes * MINUTE
    with transaction.atomic():
        models = _play(window_start, minutes, incidents)
        report = monthly_report(month=month, now=end_of_window, tz=tz, include_http_5xx=False)
        got = {row.slug: round(row.downtime_seconds) for row in report.services}
        for slug in "abc":
            expected = _reference_downtime(models, slug, window_start, minutes, month_start, month_end)
            assert got.get(slug, 0) == expected, (slug, models)
        transaction.set_rollback(True)


# Zones whose clocks never go back across midnight in these years. Where they do (St John's
# before 2011 went back at 00:01), a local date repeats and "the UTC time whose local date lies
# in the month" is not one span; months then run from the first midnight (fold=0), which
# test_uptime checks on its own.
ZONES = ["UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "Pacific/Kiritimati",
         "Asia/Kolkata", "Europe/Dublin", "Africa/Casablanca"]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(zone=st.sampled_from(ZONES), year=st.integers(1990, 2037), month=st.integers(1, 12))
def test_month_length_is_the_count_of_quarter_hours_whose_local_date_lies_in_the_month(zone, year, month):
    """Counted in UTC quarter-hours, so zones at :30 and :45 offsets are covered too."""
    start, end = Month(year, month).bounds(zone)
    local = ZoneInfo(zone)
    probe = datetime(year, month, 1, tzinfo=UTC) - timedelta(days=2)
    stop = probe + timedelta(days=35)
    quarters = 0
    while probe < stop:
        moment = probe.astimezone(local)
        if (moment.year, moment.month) == (year, month):
            quarters += 1
        probe += timedelta(minutes=15)
    assert (end - start).total_seconds() == quarters * 900
