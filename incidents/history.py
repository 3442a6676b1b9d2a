"""An incident's severity history, replayed from its append-only log in effective time.

This is the one rule the availability report, the incident page, the timeline and the
status page share. Each log entry says when it took effect (``effective_at``), which
severity it puts in force from then on (``sets_severity``, or none), and whether it opens
(``opened``, ``reopened``) or closes (``resolved``) the incident. The entries are replayed
in the order they took effect (ties in the order they were typed), so a Sev 1 raised at
10:05 but typed at 11:30 counts from 10:05.

The incident's own ``started_at`` and ``resolved_at`` are authoritative for the ends:
the opening entry takes effect at ``started_at`` and the last close at ``resolved_at``,
so a correction of either moves the history without rewriting the log; anything that
would take effect before the start counts from the start.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

OPENED, REOPENED, RESOLVED = "opened", "reopened", "resolved"


class Entry(Protocol):
    id: int
    kind: str
    sets_severity: int | None
    effective_at: datetime


@dataclass(frozen=True)
class SeverityPeriod:
    severity: int
    start: datetime
    end: datetime | None  # None while ongoing


def _ordered(entries: Iterable[Entry], *, started_at: datetime, resolved_at: datetime | None):
    entries = sorted(entries, key=lambda e: e.id)
    final_close = None
    if resolved_at is not None:
        closes = [e for e in entries if e.kind == RESOLVED]
        final_close = closes[-1].id if closes else None
    timed = []
    for entry in entries:
        if entry.kind == OPENED:
            at = started_at
        elif entry.id == final_close:
            at = resolved_at
        else:
            at = max(entry.effective_at, started_at)
        timed.append((at, entry.id, entry))
    timed.sort(key=lambda item: (item[0], item[1]))
    return timed


def severity_periods(
    entries: Iterable[Entry], *, started_at: datetime, resolved_at: datetime | None
) -> list[SeverityPeriod]:
    """Periods at one severity while the incident was open, in time order.

    ``resolved_at`` is the incident's current resolution (None while open): the last
    ``resolved`` entry takes effect then, and nothing is open after it.
    """
    periods: list[SeverityPeriod] = []
    is_open = False
    severity: int | None = None
    since: datetime | None = None
    for at, _, entry in _ordered(entries, started_at=started_at, resolved_at=resolved_at):
        if resolved_at is not None and at > resolved_at:
            break
        new_severity = entry.sets_severity if entry.sets_severity is not None else severity
        new_open = {OPENED: True, REOPENED: True, RESOLVED: False}.get(entry.kind, is_open)
        if (new_open, new_severity) == (is_open, severity):
            continue
        if is_open and since is not None and at > since:
            periods.append(SeverityPeriod(severity, since, at))
        is_open, severity, since = new_open, new_severity, at
    if is_open and severity is not None and since is not None:
        end = resolved_at
        if end is None or end > since:
            periods.append(SeverityPeriod(severity, since, end))
    return _merged(periods)


def _merged(periods: list[SeverityPeriod]) -> list[SeverityPeriod]:
    """Adjacent periods at the same severity become one (a close and reopen at one instant)."""
    merged: list[SeverityPeriod] = []
    for period in periods:
        if merged and merged[-1].severity == period.severity and merged[-1].end == period.start:
            merged[-1] = SeverityPeriod(period.severity, merged[-1].start, period.end)
        else:
            merged.append(period)
    return merged


def severity_at(
    entries: Iterable[Entry], at: datetime, *, started_at: datetime, resolved_at: datetime | None = None
) -> int | None:
    """The severity in force at ``at`` (whether or not the incident was open then)."""
    severity = None
    for when, _, entry in _ordered(entries, started_at=started_at, resolved_at=resolved_at):
        if when > at:
            break
        if entry.sets_severity is not None:
            severity = entry.sets_severity
    return severity


def current_severity(entries: Iterable[Entry], *, started_at: datetime, resolved_at: datetime | None) -> int | None:
    """The severity in force after every entry: what the incident shows now."""
    severity = None
    for _, _, entry in _ordered(entries, started_at=started_at, resolved_at=resolved_at):
        if entry.sets_severity is not None:
            severity = entry.sets_severity
    return severity


def severity_after_each(
    entries: Iterable[Entry], *, started_at: datetime, resolved_at: datetime | None
) -> dict[int, int | None]:
    """For each entry id, the severity in force just after it took effect: what the log
    shows beside an entry, so a later note is not labelled with a severity since corrected."""
    result: dict[int, int | None] = {}
    severity = None
    for _, _, entry in _ordered(entries, started_at=started_at, resolved_at=resolved_at):
        if entry.sets_severity is not None:
            severity = entry.sets_severity
        result[entry.id] = severity
    return result
