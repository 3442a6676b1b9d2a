from django import template

from reports import formatting

register = template.Library()

register.filter("duration", formatting.duration)
register.filter("percent3", formatting.percent3)
register.filter("signed_pp", formatting.signed_pp)
register.filter("count5xx", formatting.count)


@register.filter
def nobr(value) -> str:
    """Keep a number and its unit on one line (``2 h 05 min``, ``99.865 %``): no-break spaces."""
    return str(value).replace(" ", "\u00a0")


@register.filter
def sev_count(by_severity: dict, severity: int) -> int:
    return by_severity.get(int(severity), 0)


@register.filter
def target(value) -> str:
    """An SLO target without trailing zeros: 99.9, 99.95, 99."""
    return f"{float(value):.3f}".rstrip("0").rstrip(".")


@register.filter
def hours(seconds: float) -> str:
    """A period length in hours: 744, 743, or 312.5 for a month in progress."""
    return f"{seconds / 3600:,.1f}".removesuffix(".0")
