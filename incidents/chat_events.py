"""Incident events to chat channels and outbound webhooks, each posted once per channel.

One ``ChatDelivery`` row per (update, channel), written by the worker; each row is claimed,
posted and marked alone, exactly like an email (``notifications.send_pending``). A channel
that fails keeps its row pending and is retried on its own with the same capped backoff
and time limit as email (``notifications.retry_or_fail``); a healthy channel's row is
already marked sent, so it never receives the event twice.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from integrations.chat import ChatError, channel_send

from . import notifications
from .choices import DeliveryStatus, Visibility
from .models import ChatChannel, ChatDelivery, IncidentUpdate

logger = logging.getLogger(__name__)


def chat_deliveries_expand(update_id: int) -> int:
    """One pending row per active channel that wants incident events (existing rows kept)."""
    update = IncidentUpdate.objects.filter(pk=update_id, visibility=Visibility.PUBLIC).only("id").first()
    if update is None:
        return 0
    if ChatDelivery.objects.filter(update_id=update_id).exists():
        return 0  # expanded already: channels added since do not get old events
    channels = list(ChatChannel.objects.subscribed_to("incident_events").values_list("id", flat=True))
    ChatDelivery.objects.bulk_create(
        [ChatDelivery(update_id=update_id, channel_id=channel_id) for channel_id in channels], ignore_conflicts=True
    )
    return len(channels)


def event_payload(update: IncidentUpdate, delivery_id: int) -> dict:
    """The JSON an outbound webhook receives (public fields only)."""
    incident = update.incident
    return {
        "event": f"incident.{update.kind}",
        "delivery": delivery_id,
        "ticket": incident.ticket,
        "title": incident.title,
        "status": update.status,
        "severity": update.severity,
        "services": [s.slug for s in incident.services.all()],
        "message": update.message,
        "effective_at": update.effective_at.isoformat(),
        "created_at": update.created_at.isoformat(),
        "url": f"{settings.SITE_URL}{incident.get_absolute_url()}",
    }


def chat_deliveries_send(update_id: int) -> tuple[int, list[str]]:
    """Post the update to every channel whose row is pending and free. Returns (sent, errors)."""
    update = IncidentUpdate.objects.select_related("incident").filter(pk=update_id).first()
    if update is None:
        return 0, []
    now = timezone.now()
    lease = timedelta(seconds=settings.NOTIFY_LEASE_SECONDS)
    rows = list(
        ChatDelivery.objects.filter(update_id=update_id, status=DeliveryStatus.PENDING)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .select_related("channel")
        .order_by("pk")
    )
    title, body = notifications.incident_event_text(update)
    sent, errors = 0, []
    for row in rows:
        if not notifications.claim_row(ChatDelivery, row.pk, lease):
            continue
        channel = row.channel
        try:
            channel_send(
                channel.url, title=title, body=body, secret=channel.secret, payload=event_payload(update, row.pk),
                event=f"incident.{update.kind}", delivery_id=str(row.pk),
            )  # fmt: skip
        except ChatError as exc:
            logger.warning("Chat post to %s for %s failed: %s", channel, update.incident.ticket, exc)
            ChatDelivery.objects.filter(pk=row.pk).update(
                claimed_until=None, last_error=str(exc)[:2000], attempts=notifications._inc()
            )
            errors.append(f"{channel.name}: {exc}")
            continue
        ChatDelivery.objects.filter(pk=row.pk).update(
            status=DeliveryStatus.SENT, sent_at=timezone.now(), claimed_until=None, attempts=notifications._inc(),
            last_error="",
        )  # fmt: skip
        sent += 1
    return sent, errors


def stale_chat_update_ids() -> list[int]:
    return list(notifications.stale_rows(ChatDelivery.objects.all()).values_list("update_id", flat=True).distinct())
