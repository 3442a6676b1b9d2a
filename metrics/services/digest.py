"""The hourly digest: latest value per series, grouped by environment and region, for chat and email.

The text follows the format people already read in chat ("Hourly Metrics Update:" and a
list), one group per environment and region, with the change from the previous hour and
threshold breaches called out. A series without a recent value says "no data", never 0.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from incidents.models import ChatChannel
from integrations.chat import ChatError, chat_send

from .. import selectors
from ..choices import Breach, ThresholdDirection

log = logging.getLogger(__name__)

TITLE = "Hourly Metrics Update"


def format_value(value: float | None, unit: str = "") -> str:
    """``120ms``, ``5 hosts``, ``0.52%``; ``no data`` for a missing value (never 0)."""
    if value is None:
        return "no data"
    if float(value).is_integer() and abs(value) < 1e15:
        text = f"{int(value):,}"
    elif abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 1:
        text = f"{value:,.2f}".rstrip("0").rstrip(".")
    else:
        text = f"{value:.3g}"
    if not unit:
        return text
    return f"{text}{unit}" if unit in ("ms", "s", "%") else f"{text} {unit}"


def format_change(snapshot: selectors.SeriesSnapshot) -> str:
    change = snapshot.change
    if change is None:
        return "no value an hour before"
    if change == 0:
        return "no change vs previous hour"
    sign = "+" if change > 0 else "−"
    text = f"{sign}{format_value(abs(change), snapshot.series.unit)}"
    if snapshot.change_percent is not None:
        text += f" / {sign}{abs(snapshot.change_percent):.0f}%"
    return f"{text} vs previous hour"


def breach_text(snapshot: selectors.SeriesSnapshot) -> str:
    level = snapshot.breach
    if not level:
        return ""
    series = snapshot.series
    limit = series.critical_threshold if level == Breach.CRITICAL else series.warning_threshold
    word = "below" if series.threshold_direction == ThresholdDirection.BELOW else "above"
    return f"{level.upper()}: {word} {format_value(limit, series.unit)}"


@dataclass
class Digest:
    title: str
    body: str
    breaches: int = 0
    lines: int = 0


def digest_build(*, now: datetime | None = None) -> Digest:
    now = now or timezone.now()
    stale_before = now - timedelta(minutes=settings.METRICS_STALE_MINUTES)
    local = timezone.localtime(now)
    out = [f"{TITLE}: {local:%Y-%m-%d %H:%M} {local.tzname()}"]
    breaches = lines = 0
    groups = selectors.series_snapshots(now=now, with_chart=False)
    for group in groups:
        header = group.environment.capitalize() + (f" · {group.region}" if group.region else "")
        out += ["", f"{header}:"]
        for snap in group.rows:
            lines += 1
            name = snap.series.label
            if snap.latest is None:
                out.append(f"- {name}: no data{_poll_note(snap)}")
                continue
            if snap.latest_ts < stale_before:
                when = timezone.localtime(snap.latest_ts)
                out.append(f"- {name}: no data since {when:%Y-%m-%d %H:%M}{_poll_note(snap)}")
                continue
            line = f"- {name}: {format_value(snap.latest, snap.series.unit)} ({format_change(snap)})"
            breach = breach_text(snap)
            if breach:
                breaches += 1
                line += f" ⚠ {breach}"
            out.append(line)
    if not groups:
        out += ["", "No metric series are configured."]
    out += ["", f"Thresholds breached: {breaches}" if breaches else "No thresholds breached."]
    return Digest(title=TITLE, body="\n".join(out), breaches=breaches, lines=lines)


def _poll_note(snap: selectors.SeriesSnapshot) -> str:
    if snap.failed:
        return f" (last poll: {snap.last_poll.message or snap.last_poll.get_status_display()})"
    return ""


@dataclass
class DigestDelivery:
    digest: Digest
    sent: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    emailed: int = 0


def digest_send(
    *, now: datetime | None = None, channel_ids: list[int] | None = None, email: bool = True
) -> DigestDelivery:
    """Post the digest to every active chat channel with ``metrics_digest`` (or just ``channel_ids``).

    Each channel is sent to separately, so a retry resends only to channels that failed.
    """
    digest = digest_build(now=now)
    delivery = DigestDelivery(digest=digest)
    channels = ChatChannel.objects.subscribed_to("metrics_digest").order_by("pk")
    if channel_ids is not None:
        channels = channels.filter(pk__in=channel_ids)
    for channel in channels:
        try:
            chat_send([channel.url], title=digest.title, body=digest.body, secrets={channel.url: channel.secret})
        except ChatError as exc:
            log.warning("metrics digest to chat channel %s failed: %s", channel.name, exc)
            delivery.failed[channel.pk] = str(exc)
        else:
            delivery.sent.append(channel.pk)
    recipients = settings.METRICS_DIGEST_EMAILS
    if email and recipients:
        delivery.emailed = send_mail(
            subject=f"[{settings.SITE_NAME}] {digest.body.splitlines()[0]}",
            message=digest.body + f"\n\n{settings.SITE_URL}/metrics/\n",
            from_email=None,
            recipient_list=recipients,
        ) and len(recipients)
    return delivery
