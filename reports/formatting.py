"""How report numbers are written, shared by the page, the PDF, the CSV and the email.

Numbers go through ``config.formatting`` so they follow the active language (the PDF and
the email are rendered in ``REPORT_LANGUAGE``).
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from config.formatting import format_number


def duration(seconds: float | None) -> str:
    """Human durations: ``0 min``, ``45 s``, ``12 min``, ``2 h 05 min``, ``3 d 4 h``."""
    if seconds is None:
        return "—"
    seconds = round(seconds)
    if seconds <= 0:
        return _("0 min")
    if seconds < 60:
        return _("%(s)s s") % {"s": seconds}
    minutes = round(seconds / 60)
    if minutes < 60:
        return _("%(m)s min") % {"m": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return _("%(h)s h %(m)s min") % {"h": hours, "m": f"{minutes:02d}"}
    days, hours = divmod(hours, 24)
    return _("%(d)s d %(h)s h") % {"d": days, "h": hours}


def percent3(value: float | None) -> str:
    return "—" if value is None else f"{format_number(value, 3)} %"


def signed_pp(value: float | None) -> str:
    """Change in percentage points, with its sign: ``+0.012 pp``, ``−0.250 pp``, ``±0.000 pp``."""
    if value is None:
        return "—"
    if value == 0:
        return "±" + _("%(value)s pp") % {"value": format_number(0, 3)}
    sign = "+" if value > 0 else "−"
    return sign + _("%(value)s pp") % {"value": format_number(abs(value), 3)}


def count(value: float | None) -> str:
    """Whole counts with thousands separators; ``None`` means no data and says so."""
    if value is None:
        return _("no data")
    if float(value).is_integer():
        return format_number(int(value))
    return format_number(value, 1)
