"""Server-side SVG charts: WeasyPrint runs no JavaScript, and the page reuses the same drawing."""

from __future__ import annotations

import math
from xml.sax.saxutils import escape

from .choices import CHART_MAX_SERVICES
from .formatting import duration
from .selectors import Report

WIDTH = 720
LABEL_W = 190
VALUE_W = 110
ROW_H = 24
BAR_H = 14
TOP = 34
BOTTOM = 34
MISSED = "#b02a37"
MET = "#2f6f9f"
BUDGET = "#212529"
GRID = "#dee2e6"
FONT = "DejaVu Sans, Liberation Sans, Arial, sans-serif"


def _nice_step(maximum: float, ticks: int = 5) -> float:
    """A round tick step (1, 2 or 5 × 10^n minutes) so the axis reads naturally."""
    raw = maximum / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def downtime_chart_svg(report: Report, *, limit: int = CHART_MAX_SERVICES) -> str:
    """Horizontal bars of downtime per service, worst first, with each SLO's allowance marked.

    A red bar missed its SLO. The thin dark tick is the downtime the SLO allows for the
    period, so a reader sees at a glance how close each service came to its budget.
    """
    ranked = sorted(report.services, key=lambda s: (-s.downtime_seconds, s.name))[:limit]
    shown_minutes = [s.downtime_seconds / 60 for s in ranked] + [s.allowed_downtime_seconds / 60 for s in ranked]
    maximum = max(shown_minutes + [1.0])
    step = _nice_step(maximum)
    axis_max = step * math.ceil(maximum / step)
    plot_w = WIDTH - LABEL_W - VALUE_W
    height = TOP + ROW_H * max(len(ranked), 1) + BOTTOM

    def x(minutes: float) -> float:
        return LABEL_W + plot_w * minutes / axis_max

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="downtime-chart" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-label="Downtime per service" font-family="{FONT}">',
        '<text x="0" y="14" font-size="13" font-weight="bold" fill="#212529">Downtime per service '
        "(Sev 1–2, minutes)</text>",
    ]
    if len(report.services) > len(ranked):
        parts.append(
            f'<text x="{WIDTH}" y="14" font-size="10" text-anchor="end" fill="#6c757d">'
            f"{len(ranked)} of {len(report.services)} services, most downtime first</text>"
        )
    bottom = TOP + ROW_H * max(len(ranked), 1)
    tick = 0.0
    while tick <= axis_max + 1e-9:
        tx = x(tick)
        parts.append(f'<line x1="{tx:.1f}" y1="{TOP - 6}" x2="{tx:.1f}" y2="{bottom}" stroke="{GRID}"/>')
        label = f"{tick:g}" if tick < 1000 else f"{tick:,.0f}"
        parts.append(
            f'<text x="{tx:.1f}" y="{bottom + 14}" font-size="10" text-anchor="middle" fill="#6c757d">{label}</text>'
        )
        tick += step
    parts.append(
        f'<text x="{LABEL_W + plot_w / 2:.1f}" y="{bottom + 28}" font-size="10" text-anchor="middle" '
        f'fill="#6c757d">minutes of downtime · tick = downtime the SLO allows</text>'
    )
    if not ranked:
        parts.append(f'<text x="{LABEL_W}" y="{TOP + 16}" font-size="11" fill="#6c757d">No services.</text>')
    for index, service in enumerate(ranked):
        y = TOP + index * ROW_H
        name = service.name if len(service.name) <= 28 else service.name[:27] + "…"
        parts.append(
            f'<text x="{LABEL_W - 8}" y="{y + BAR_H - 2}" font-size="11" text-anchor="end" fill="#212529">'
            f"{escape(name)}</text>"
        )
        minutes = service.downtime_seconds / 60
        width = max(x(minutes) - LABEL_W, 0)
        colour = MET if service.slo_met else MISSED
        if width > 0:
            parts.append(
                f'<rect x="{LABEL_W}" y="{y}" width="{width:.1f}" height="{BAR_H}" rx="2" fill="{colour}">'
                f"<title>{escape(service.name)}: {duration(service.downtime_seconds)}</title></rect>"
            )
        budget_x = x(service.allowed_downtime_seconds / 60)
        parts.append(
            f'<line x1="{budget_x:.1f}" y1="{y - 3}" x2="{budget_x:.1f}" y2="{y + BAR_H + 3}" '
            f'stroke="{BUDGET}" stroke-width="2"/>'
        )
        value = duration(service.downtime_seconds) if service.downtime_seconds else "none"
        parts.append(
            f'<text x="{WIDTH - VALUE_W + 8}" y="{y + BAR_H - 2}" font-size="11" '
            f'fill="{MISSED if not service.slo_met else "#212529"}">{value}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
