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


def sparkline_svg(values: list[float | None], *, label: str, kind: str = "line", target: float | None = None) -> str:
    """A small chart of up to 12 monthly values; missing months leave a gap, never a zero."""
    known = [v for v in values if v is not None]
    step = SPARK_W / max(len(values), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="spark" viewBox="0 0 {SPARK_W} {SPARK_H}" '
        f'width="{SPARK_W}" height="{SPARK_H}" role="img" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>"
    ]
    if not known:
        parts.append(f'<text x="2" y="{SPARK_H - 9}" font-size="9" fill="#6c757d">no data</text></svg>')
        return "".join(parts)
    low, high = min(known), max(known)
    if target is not None:
        low, high = min(low, target), max(high, target)
    if kind == "bar":
        low = 0.0
    span = (high - low) or 1.0

    def y(v: float) -> float:
        return SPARK_H - 2 - (SPARK_H - 4) * (v - low) / span

    if target is not None:
        parts.append(
            f'<line x1="0" y1="{y(target):.1f}" x2="{SPARK_W}" y2="{y(target):.1f}" stroke="{BAD}" '
            'stroke-width=".8" stroke-dasharray="2,2"/>'
        )
    if kind == "bar":
        for i, v in enumerate(values):
            if v is None or v <= 0:
                continue
            top = y(v)
            parts.append(
                f'<rect x="{i * step + 1:.1f}" y="{top:.1f}" width="{max(step - 2, 1):.1f}" '
                f'height="{SPARK_H - 2 - top:.1f}" fill="{LINE}"/>'
            )
    else:
        segment: list[str] = []
        for i, v in enumerate([*values, None]):
            if v is None:
                if len(segment) > 1:
                    points = " ".join(segment)
                    parts.append(f'<polyline fill="none" stroke="{LINE}" stroke-width="1.3" points="{points}"/>')
                elif segment:
                    cx, cy = segment[0].split(",")
                    parts.append(f'<circle cx="{cx}" cy="{cy}" r="1.5" fill="{LINE}"/>')
                segment = []
                continue
            segment.append(f"{i * step + step / 2:.1f},{y(v):.1f}")
    parts.append("</svg>")
    return "".join(parts)


@dataclass
class TrendRow:
    service: object
    points: list[TrendPoint]
    uptime_svg: str
    downtime_svg: str
    incidents_svg: str
    mttr_svg: str

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
    rows = []
    for service in report.services:
        points = report.trends.get(service.id) or []
        if not points:
            continue
        first, last = points[0].month.label, points[-1].month.label
        rows.append(
            TrendRow(
                service=service,
                points=points,
                uptime_svg=sparkline_svg(
                    [p.uptime_percent for p in points],
                    label=f"{service.name}: uptime {first} – {last}",
                    target=service.slo_target,
                ),
                downtime_svg=sparkline_svg(
                    [None if p.downtime_seconds is None else p.downtime_seconds / 60 for p in points],
                    label=f"{service.name}: downtime (minutes) {first} – {last}",
                    kind="bar",
                ),
                incidents_svg=sparkline_svg(
                    [p.incidents for p in points], label=f"{service.name}: incidents {first} – {last}", kind="bar"
                ),
                mttr_svg=sparkline_svg(
                    [None if p.mttr_seconds is None else p.mttr_seconds / 60 for p in points],
                    label=f"{service.name}: MTTR (minutes) {first} – {last}",
                ),
            )
        )
    return rows
