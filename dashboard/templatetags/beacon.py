"""Template filters over config.formatting: the only way pages format dates and numbers."""

from django import template

from config.formatting import format_number, format_percent, format_when

register = template.Library()


@register.filter
def when(value, style="datetime"):
    """``{{ incident.started_at|when }}``, ``|when:"date"``, ``|when:"datetime_tz"``."""
    zone = False
    if isinstance(style, str) and style.endswith("_tz"):
        style, zone = style.removesuffix("_tz"), True
    return format_when(value, style, zone=zone)


@register.filter
def num(value, decimals=None):
    return format_number(value, None if decimals in (None, "") else int(decimals))


@register.filter
def pct(value, decimals=2):
    return format_percent(value, int(decimals))
