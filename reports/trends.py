"""The 12-month trend per service and the one-sentence executive summary.

The trend ends with the last month of the period reported on and uses exactly the rule of
the report (``severity_periods`` replayed in effective time, union of Sev 1-2 time clipped
to each month in the reporting time zone): one query set for the whole year, whatever the
number of services.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from xml.sax.saxutils import escape

from django.utils.translation import gettext as _

from incidents.choices import OUTAGE_SEVERITIES
from incidents.selectors import severity_periods

from .formatting import duration
from .uptime import Month, union_seconds, uptime_percent

TREND_MONTHS = 12


@dataclass
class TrendPoint:
    month: Month
    uptime_percent: float | None  # None: the month had not begun, or lies before recorded history
    downtime_seconds: float | None
    incidents: int | None
    mttr_seconds: float | None


def trend_months(last: Month, count: int = TREND_MONTHS) -> list[Month]:
    months = [last]
    while len(months) < count:
        months.append(months[-1].previous())
    return months[::-1]


def add_trends(report, *, now: datetime) -> None:
    """Fill ``report.trends``: service id -> a TrendPoint per month of the 12 ending with the period."""
    from incidents.models import Incident

    from .selectors import _incidents

    tz = report.time_zone
    months = trend_months(report.month.last_month)
    bounds = [m.bounds(tz) for m in months]
    first_start, last_end = bounds[0][0], min(bounds[-1][1], now)
    history_start = Incident.objects.order_by("started_at").values_list("started_at", flat=True).first()
    wanted = {s.id for s in report.services}
    outage: dict[int, list] = defaultdict(list)
    touching: dict[int, list] = defaultdict(list)  # service id -> (start, resolved_at) of its incidents
    if first_start < last_end:
        incidents, updates, incident_services = _incidents(first_start, last_end)
        for incident in incidents:
            sids = [sid for sid in incident_services.get(incident.id, []) if sid in wanted]
            if not sids:
                continue
            periods = severity_periods(incident, updates.get(incident.id, []))
            sev12 = [(p.start, p.end) for p in periods if p.severity in OUTAGE_SEVERITIES]
            for sid in sids:
                outage[sid].extend(sev12)
                touching[sid].append((incident.started_at, incident.resolved_at))
    for service in report.services:
        points = []
        for month, (start, end) in zip(months, bounds, strict=True):
            if start >= now or history_start is None or end <= history_start:
                points.append(TrendPoint(month, None, None, None, None))
                continue
            period_end = min(end, now)
            down = union_seconds(outage[service.id], start=start, end=period_end, now=now)
            inside = [(s, r) for s, r in touching[service.id] if s < period_end and (r is None or r > start)]
            resolved = [(r - s).total_seconds() for s, r in inside if r is not None]
            points.append(
                TrendPoint(
                    month=month,
                    uptime_percent=round(uptime_percent(down, (period_end - start).total_seconds()), 3),
                    downtime_seconds=down,
                    incidents=len(inside),
                    mttr_seconds=sum(resolved) / len(resolved) if resolved else None,
                )
            )
        report.trends[service.id] = points


def executive_summary(report) -> str:
    """One sentence for the top of the report: SLO misses, the worst service, the downtime trend."""
    total = len(report.services)
    if not total:
        return _("No services are configured.")
    missed = report.services_missing_slo
    parts = []
    if missed:
        parts.append(_("%(missed)d of %(total)d services missed SLO") % {"missed": len(missed), "total": total})
    else:
        parts.append(_("All %(total)d services met SLO") % {"total": total})
    worst = min(report.services, key=lambda s: (s.uptime_percent, s.name))
    if worst.downtime_seconds > 0:
        parts.append(_("%(name)s worst at %(uptime).3f %%") % {"name": worst.name, "uptime": worst.uptime_percent})
    previous = [s.previous_downtime_seconds for s in report.services if s.previous_downtime_seconds is not None]
    current = report.total_downtime_seconds
    label = report.month.previous().label
    if previous:
        before = sum(previous)
        if before > 0:
            change = round(100 * (current - before) / before)
            if change > 0:
                parts.append(_("downtime up %(pct)d %% on %(label)s") % {"pct": change, "label": label})
            elif change < 0:
                parts.append(_("downtime down %(pct)d %% on %(label)s") % {"pct": -change, "label": label})
            else:
                parts.append(_("downtime unchanged on %(label)s") % {"label": label})
        elif current > 0:
            parts.append(_("downtime %(now)s after none in %(label)s") % {"now": duration(current), "label": label})
        else:
            parts.append(_("no downtime, as in %(label)s") % {"label": label})
    return "; ".join(parts) + "."


# --- sparklines (server-side SVG: WeasyPrint runs no JavaScript) ---------------------

SPARK_W = 132
SPARK_H = 26
LINE = "#1f4e79"
BAD = "#b02a37"


@dataclass(frozen=True)
class Chart:
    """One of a trend row's four small charts: 12 monthly values, ``None`` where a month has no data."""

    values: list[float | None]
    label: str
    kind: str = "line"  # or "bar"
    target: float | None = None  # drawn dashed (the SLO on the uptime chart)

    @property
    def has_data(self) -> bool:
        return any(v is not None for v in self.values)


def _marks(chart: Chart, *, left: float, width: float, top: float, height: float) -> tuple[str, str, str]:
    """Path data for one chart in the box (left, top, width, height): (dashed target, lines, bars and dots).

    However many months, a chart is at most three paths: each extra SVG element is work for
    WeasyPrint (parsing, style, drawing) and the PDF has hundreds of these charts.
    """
    values = chart.values
    known = [v for v in values if v is not None]
    low, high = min(known), max(known)
    if chart.target is not None:
        low, high = min(low, chart.target), max(high, chart.target)
    if chart.kind == "bar":
        low = 0.0
    span = (high - low) or 1.0
    step = width / max(len(values), 1)
    bottom = top + height

    def y(v: float) -> float:
        return bottom - height * (v - low) / span

    target = ""
    if chart.target is not None:
        target = f"M{left:.1f},{y(chart.target):.1f}h{width:.1f}"
    lines, fills = [], []
    if chart.kind == "bar":
        bar = max(step - 2, 1)
        for i, v in enumerate(values):
            if v is None or v <= 0:
                continue
            y_top = y(v)
            fills.append(f"M{left + i * step + 1:.1f},{y_top:.1f}h{bar:.1f}V{bottom:.1f}h{-bar:.1f}z")
    else:
        segment: list[str] = []
        for i, v in enumerate([*values, None]):
            if v is not None:
                segment.append(f"{left + i * step + step / 2:.1f},{y(v):.1f}")
                continue
            if len(segment) > 1:
                lines.append("M" + "L".join(segment))
            elif segment:  # a month alone between gaps: a dot
                cx, cy = (float(c) for c in segment[0].split(","))
                fills.append(f"M{cx - 1.5:.1f},{cy:.1f}a1.5,1.5 0 1,0 3,0a1.5,1.5 0 1,0 -3,0z")
            segment = []
    return target, "".join(lines), "".join(fills)


def _paths(marks: list[tuple[str, str, str]]) -> str:
    target, lines, fills = ("".join(m[k] for m in marks) for k in range(3))
    parts = []
    if target:
        parts.append(f'<path d="{target}" fill="none" stroke="{BAD}" stroke-width=".8" stroke-dasharray="2,2"/>')
    if lines:
        parts.append(f'<path d="{lines}" fill="none" stroke="{LINE}" stroke-width="1.3" stroke-linejoin="round"/>')
    if fills:
        parts.append(f'<path d="{fills}" fill="{LINE}"/>')
    return "".join(parts)


def sparkline_svg(values: list[float | None], *, label: str, kind: str = "line", target: float | None = None) -> str:
    """A small chart of up to 12 monthly values; missing months leave a gap, never a zero."""
    chart = Chart(values, label, kind, target)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="spark" viewBox="0 0 {SPARK_W} {SPARK_H}" '
        f'width="{SPARK_W}" height="{SPARK_H}" role="img" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>"
    )
    if not chart.has_data:
        return head + f'<text x="2" y="{SPARK_H - 9}" font-size="9" fill="#6c757d">{escape(_("no data"))}</text></svg>'
    return head + _paths([_marks(chart, left=0, width=SPARK_W, top=2, height=SPARK_H - 4)]) + "</svg>"


# The PDF draws a row's four charts as one strip: each chart gets a slot as wide as its table
# column and the strip spans those columns, so the charts line up under their headings on any
# paper size. A chart without any data is a "no data" cell of the table instead (text the
# reader can select, and no SVG text, which WeasyPrint lays out letter by letter).
SLOT_W = 132  # one column, in the strip's user units
SLOT_PAD = 4.5  # about the 3 pt padding of the table's other cells (a column is ~32 mm on A4)
STRIP_H = 28  # ~6.8 mm on A4


@dataclass(frozen=True)
class StripCell:
    span: int  # table columns covered
    svg: str | None  # None: "no data"


def strip_cells(charts: list[Chart]) -> list[StripCell]:
    """The table cells for a row's charts: each run of charts with data is one SVG."""
    cells: list[StripCell] = []
    run: list[Chart] = []

    def flush():
        if not run:
            return
        width = SLOT_W * len(run)
        marks = [
            _marks(chart, left=i * SLOT_W + SLOT_PAD, width=SLOT_W - 2 * SLOT_PAD, top=2, height=STRIP_H - 4)
            for i, chart in enumerate(run)
        ]
        label = escape("; ".join(chart.label for chart in run))
        cells.append(
            StripCell(
                len(run),
                f'<svg xmlns="http://www.w3.org/2000/svg" class="strip" viewBox="0 0 {width} {STRIP_H}" '
                f'width="{width}" height="{STRIP_H}" aria-label="{label}">{_paths(marks)}</svg>',
            )
        )
        run.clear()

    for chart in charts:
        if chart.has_data:
            run.append(chart)
        else:
            flush()
            cells.append(StripCell(1, None))
    flush()
    return cells


@dataclass
class TrendRow:
    service: object
    points: list[TrendPoint]

    @cached_property
    def charts(self) -> list[Chart]:
        """Uptime (with the SLO), downtime, incidents and MTTR, in the order of the table's columns."""
        points, name = self.points, self.service.name
        first, last = points[0].month.label, points[-1].month.label
        return [
            Chart(
                [p.uptime_percent for p in points], f"{name}: uptime {first} – {last}", target=self.service.slo_target
            ),  # fmt: skip
            Chart(
                [None if p.downtime_seconds is None else p.downtime_seconds / 60 for p in points],
                f"{name}: downtime (minutes) {first} – {last}",
                kind="bar",
            ),  # fmt: skip
            Chart([p.incidents for p in points], f"{name}: incidents {first} – {last}", kind="bar"),
            Chart(
                [None if p.mttr_seconds is None else p.mttr_seconds / 60 for p in points],
                f"{name}: MTTR (minutes) {first} – {last}",
            ),  # fmt: skip
        ]

    def _svg(self, index: int) -> str:
        chart = self.charts[index]
        return sparkline_svg(chart.values, label=chart.label, kind=chart.kind, target=chart.target)

    @cached_property
    def uptime_svg(self) -> str:
        return self._svg(0)

    @cached_property
    def downtime_svg(self) -> str:
        return self._svg(1)

    @cached_property
    def incidents_svg(self) -> str:
        return self._svg(2)

    @cached_property
    def mttr_svg(self) -> str:
        return self._svg(3)

    @cached_property
    def strip(self) -> list[StripCell]:
        """The PDF's cells for the four charts (see ``strip_cells``)."""
        return strip_cells(self.charts)

    @property
    def direction_label(self) -> str:
        """``direction`` in the reader's language."""
        return {
            "improving": _("improving"),
            "worsening": _("worsening"),
            "steady": _("steady"),
            "unknown": _("unknown"),
        }[self.direction]

    @property
    def direction(self) -> str:
        """``improving`` / ``worsening`` / ``steady``: the last 3 months' downtime against the 3 before."""
        values = [p.downtime_seconds for p in self.points]
        recent = [v for v in values[-3:] if v is not None]
        before = [v for v in values[-6:-3] if v is not None]
        if not recent or not before:
            return "unknown"
        a, b = sum(recent) / len(recent), sum(before) / len(before)
        if abs(a - b) < 60:
            return "steady"
        return "improving" if a < b else "worsening"


def trend_rows(report) -> list[TrendRow]:
    """A row per service with a trend; its charts are drawn when a template asks for them."""
    return [
        TrendRow(service=service, points=points)
        for service in report.services
        if (points := report.trends.get(service.id))
    ]
