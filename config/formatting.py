"""The one place dates, times and numbers become text, in the active language.

Templates use it through the ``beacon`` filters (``{{ value|when }}``, ``{{ value|when:"date" }}``,
``{{ value|num:1 }}``, ``{{ value|pct:2 }}``); Python code (chart labels, emails, the PDF)
calls these functions. Times are shown in ``TIME_ZONE``; the formats per language live in
``config/formats/<language>/formats.py``.
"""

from datetime import date, datetime
from decimal import Decimal

from django.utils import formats, timezone

STYLES = {
    "datetime": "DATETIME_FORMAT",
    "date": "DATE_FORMAT",
    "time": "TIME_FORMAT",
    "short": "SHORT_DATETIME_FORMAT",
    "day": "SHORT_DATE_FORMAT",
    "month": "YEAR_MONTH_FORMAT",
}


def format_when(value: datetime | date | None, style: str = "datetime", *, zone: bool = False) -> str:
    """``value`` as text in one of ``STYLES``; aware datetimes in the local time zone.

    ``zone=True`` appends the zone's abbreviation (``UTC``, ``CET``) where times are
    read by people in other places (status page, emails).
    """
    if value is None or value == "":
        return ""
    if style not in STYLES:
        raise ValueError(f"unknown date style {style!r}; use one of {sorted(STYLES)}")
    if isinstance(value, datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    text = formats.date_format(value, STYLES[style], use_l10n=True)
    if zone and isinstance(value, datetime) and style in ("datetime", "time", "short"):
        text = f"{text} {value.strftime('%Z')}".rstrip()
    return text


def format_number(value, decimals: int | None = None) -> str:
    """A number with the language's decimal and thousand separators (``None`` → "")."""
    if value is None or value == "":
        return ""
    if decimals is not None:
        value = round(Decimal(str(value)), decimals)
        return formats.number_format(value, decimal_pos=decimals, use_l10n=True, force_grouping=True)
    return formats.number_format(value, use_l10n=True, force_grouping=True)


def format_percent(value, decimals: int = 2) -> str:
    """``99.95`` → "99.95 %" / "99,95 %" (``None`` → "")."""
    if value is None or value == "":
        return ""
    return f"{format_number(value, decimals)}\u00a0%"
