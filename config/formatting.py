"""The one place dates, times and numbers become text, in the active language.

Templates use it through the ``beacon`` filters (``{{ value|when }}``, ``{{ value|when:"date" }}``,
``{{ value|num:1 }}``, ``{{ value|pct:2 }}``); Python code (chart labels, emails, the PDF)
calls these functions. Times are shown in ``TIME_ZONE``; the formats per language live in
``config/formats/<language>/formats.py``.
"""

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import formats, timezone, translation

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
    aware = isinstance(value, datetime) and timezone.is_aware(value)
    zone_name = timezone.get_current_timezone_name() if aware else ""
    return _format_when(value, style, zone, translation.get_language(), zone_name)


def when_formatter(style: str = "datetime", *, zone: bool = False):
    """``format_when`` with the active language and time zone looked up once, for pages
    that format thousands of values (the status page's day strips)."""
    if style not in STYLES:
        raise ValueError(f"unknown date style {style!r}; use one of {sorted(STYLES)}")
    language, zone_name = translation.get_language(), timezone.get_current_timezone_name()

    def fmt(value: datetime | date | None) -> str:
        if value is None or value == "":
            return ""
        aware = isinstance(value, datetime) and timezone.is_aware(value)
        return _format_when(value, style, zone, language, zone_name if aware else "")

    return fmt


@lru_cache(maxsize=8192)
def _format_when(value: datetime | date, style: str, zone: bool, language: str | None, zone_name: str) -> str:
    """Memoised by value, language and zone: pages show the same incidents' times on every
    request, and Django's date formatting costs ~50 µs a value (the dashboard formats ~300)."""
    if zone_name:
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


@receiver(setting_changed)
def _forget_formatted(**kwargs) -> None:
    """Formats and time zones come from settings; a changed setting (tests) starts afresh."""
    _format_when.cache_clear()
