"""Short, human durations for pages, alerts and chart tooltips ("1 d 4 h", "12 min")."""

from datetime import timedelta


def human_duration(value: timedelta | float | None) -> str:
    """Two most significant units; "—" for no value (never 0 for missing data)."""
    if value is None:
        return "—"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    sign = "-" if seconds < 0 else ""
    seconds = abs(int(round(seconds)))
    if seconds < 60:
        return f"{sign}{seconds} s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        count, seconds = divmod(seconds, size)
        if count or parts:
            parts.append((count, unit))
    shown = [f"{count} {unit}" for count, unit in parts[:2] if count]
    return sign + " ".join(shown)
