"""Number formatting for the automation pages; ``None`` shows as "no data", never as 0."""

from django import template
from django.utils.html import format_html

register = template.Library()

NODATA = '<span class="nodata">{}</span>'


@register.filter
def hours(value):
    if value is None:
        return format_html(NODATA, "no data")
    return f"{value:,.1f} h"


@register.filter
def money(value, currency="$"):
    if value is None:
        return format_html(NODATA, "no data")
    return f"{currency}{value:,.0f}" if abs(value) >= 100 else f"{currency}{value:,.2f}"


@register.filter
def percent(value):
    if value is None:
        return format_html(NODATA, "no runs")
    return f"{value:.1f} %"


@register.filter
def duration(seconds):
    """A run time for people: 45 s, 3 min 20 s, 2 h 05 min."""
    if seconds is None:
        return format_html(NODATA, "no runs")
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hrs, minutes = divmod(minutes, 60)
    return f"{hrs} h {minutes:02d} min"
