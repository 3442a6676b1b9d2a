from django.utils import timezone
from django.views.generic import TemplateView

from . import selectors
from .services.digest import breach_text, format_change, format_value

# A sparkline needs no more points than it has pixels.
CHART_POINTS = 288


class MetricsView(TemplateView):
    """Per environment and region: latest values, change from the previous hour, 24 h sparklines, failing sources."""

    template_name = "metrics/overview.html"

    def get_context_data(self, **kwargs):
        now = timezone.now()
        groups = selectors.series_snapshots(now=now)
        charts = {}
        for group in groups:
            for row in group.rows:
                row.value_text = format_value(row.latest, row.series.unit)
                row.change_text = format_change(row) if row.latest is not None else ""
                row.breach_text = breach_text(row)
                charts[row.series.key] = [[ms, v] for ms, v in _with_gaps(_thin(row.chart))]
        failed = [row for group in groups for row in group.rows if row.failed]
        return super().get_context_data(groups=groups, failed=failed, charts=charts, now=now, **kwargs)


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
