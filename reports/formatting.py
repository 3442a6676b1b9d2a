"""How report numbers are written, shared by the page, the PDF, the CSV and the email."""

from __future__ import annotations


def duration(seconds: float | None) -> str:
    """Human durations: ``0 min``, ``45 s``, ``12 min``, ``2 h 05 min``, ``3 d 4 h``."""
    if seconds is None:
        return "—"
    seconds = round(seconds)
    if seconds <= 0:
        return "0 min"
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def percent3(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f} %"


def signed_pp(value: float | None) -> str:
    """Change in percentage points, with its sign: ``+0.012 pp``, ``−0.250 pp``, ``±0.000 pp``."""
    if value is None:
        return "—"
    if value == 0:
        return "±0.000 pp"
    sign = "+" if value > 0 else "−"
    return f"{sign}{abs(value):.3f} pp"


def count(value: float | None) -> str:
    """Whole counts with thousands separators; ``None`` means no data and says so."""
    if value is None:
        return "no data"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"
