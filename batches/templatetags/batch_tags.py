from datetime import timedelta

from django import template

from ..formatting import human_duration

register = template.Library()


@register.filter
def duration(value):
    """timedelta or seconds → "1 d 4 h"; "—" for no value."""
    return human_duration(value)


@register.filter
def seconds(value):
    return human_duration(timedelta(seconds=value)) if value is not None else "—"


@register.filter
def signed_percent(value):
    if value is None:
        return "—"
    return f"{value:+.1f} %"
