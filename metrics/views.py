import functools
import json
import math

from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.generic import TemplateView

from config.formatting import format_when

from . import selectors
from .choices import Breach, PollStatus, SeriesRole
from .services.digest import breach_text, format_change, format_value

# A sparkline needs no more points than it has pixels.
CHART_POINTS = 288

# What json_script escapes, so the data cannot close its <script> element.
_JSON_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


class MetricsView(TemplateView):
    """Per environment and region: latest values, change from the previous hour, 24 h sparklines, failing sources."""

    template_name = "metrics/overview.html"

    def get_context_data(self, **kwargs):
        now = timezone.now()
        groups = selectors.series_snapshots(now=now)
        # Hundreds of rows: everything a row shows is worked out here once, as plain strings
        # in a dict, so the template only reads dict keys (no model methods, properties,
        # filters or comparisons per row). Rows polled in the same minute share their
        # formatted times.
        when = functools.cache(format_when)
        roles, statuses = dict(SeriesRole.choices), dict(PollStatus.choices)
        tables = []
        charts = {}
        for group in groups:
            rows = []
            for row in group.rows:
                rows.append(_cells(row, when, roles, statuses))
                charts[row.series.key] = _compact(_with_gaps(_thin(row.chart)))
            tables.append({"environment": group.environment, "region": group.region, "rows": rows})
        failed = [row for group in groups for row in group.rows if row.failed]
        # Compact JSON (no spaces) for the sparklines, escaped like json_script.
        charts_json = mark_safe(json.dumps(charts, separators=(",", ":")).translate(_JSON_ESCAPES))
        return super().get_context_data(
            groups=groups, tables=tables, failed=failed, charts=charts, charts_json=charts_json, now=now, **kwargs
        )


_VALUE_CLASS = {Breach.CRITICAL: "text-danger fw-bold", Breach.WARNING: "text-warning-emphasis fw-bold"}
_BREACH_BADGE = {Breach.CRITICAL: "text-bg-danger", Breach.WARNING: "text-bg-warning"}
_POLL_BADGE = {PollStatus.OK: "text-bg-success", PollStatus.ERROR: "text-bg-danger"}


def _cells(row: selectors.SeriesSnapshot, when, roles: dict, statuses: dict) -> dict:
    """The text and CSS classes of one table row."""
    series = row.series
    cells = {
        "key": series.key,
        "label": series.label,
        "role": roles.get(series.role, series.role),
        "service": series.service.name if series.service else "",
        "source": series.source.name,
        "has_data": row.latest is not None,
        "chart": bool(row.chart),
        "poll": None,
    }
    if row.latest is not None:
        breach = row.breach
        cells.update(
            value=format_value(row.latest, series.unit),
            value_class=_VALUE_CLASS.get(breach, ""),
            ts=when(row.latest_ts, "datetime"),
            breach=breach_text(row),
            breach_class=_BREACH_BADGE.get(breach, ""),
            change=format_change(row),
        )
    poll = row.last_poll
    if poll is not None:
        cells["poll"] = {
            "status": statuses.get(poll.status, poll.status),
            "badge": _POLL_BADGE.get(poll.status, "text-bg-secondary"),
            "time": when(poll.polled_at, "time"),
        }
    return cells


def _compact(points: list) -> list:
    """``[ms, value]`` pairs with values rounded to 6 significant digits of the chart's largest value.

    The line looks the same (its scale is that largest value) and a value takes a third of
    the bytes (``0.583333`` instead of ``0.5833333333333334``); one ``round`` per point.
    """
    top = max((abs(v) for _, v in points if v is not None), default=0.0)
    if not top or not math.isfinite(top):
        return [[ms, v] for ms, v in points]
    digits = 6 - math.ceil(math.log10(top))
    return [[ms, None if v is None else round(v, digits)] for ms, v in points]


def _thin(points: list, limit: int = CHART_POINTS) -> list:
    """Average consecutive points so a chart never carries more than ``limit`` of them."""
    if len(points) <= limit:
        return points
    size = -(-len(points) // limit)
    out = []
    for i in range(0, len(points), size):
        chunk = points[i : i + size]
        out.append((chunk[-1][0], sum(v for _, v in chunk) / len(chunk)))
    return out


def _with_gaps(points: list) -> list:
    """Insert a null where samples are missing for a while, so the chart shows a gap rather than a bridge.

    Points are ``(milliseconds since the epoch, value)``.
    """
    if len(points) < 3:
        return points
    steps = sorted(b[0] - a[0] for a, b in zip(points, points[1:], strict=False))
    limit = 3 * steps[len(steps) // 2]
    out = [points[0]]
    for previous, point in zip(points, points[1:], strict=False):
        if point[0] - previous[0] > limit:
            out.append(((previous[0] + point[0]) // 2, None))
        out.append(point)
    return out
