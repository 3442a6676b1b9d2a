"""Thin tasks: take ids, call a service. Retries and backoff are declared here.

Retries are bounded by time, not by a count: a delivery keeps being retried with capped
exponential backoff until ``NOTIFY_RETRY_FOR_SECONDS`` after it was written
(``notifications.retry_or_fail``), so a mail-server outage of minutes or hours loses nothing.
"""

import logging

from celery import shared_task
from django.conf import settings

from . import chat_events, notifications
from .choices import DeliveryStatus
from .models import ChatDelivery, Delivery

logger = logging.getLogger(__name__)


class DeliveryIncomplete(Exception):
    """Some emails (or chat posts) of an update could not be sent yet."""


@shared_task(bind=True, max_retries=None, acks_late=True)
def deliver_update(self, update_id: int, first_id: int | None = None, last_id: int | None = None) -> int:
    """Write the update's recipients (once), then send its pending emails.

    A big update fans out into batches of ``NOTIFY_BATCH_SIZE`` rows, one task each, so
    several worker processes send over several SMTP connections at once.
    """
    notifications.recipients_expand(update_id)
    rows = Delivery.objects.filter(update_id=update_id)
    if first_id is None:
        ids = list(rows.filter(status=DeliveryStatus.PENDING).order_by("pk").values_list("pk", flat=True))
        size = settings.NOTIFY_BATCH_SIZE
        if len(ids) > size:
            for start in range(0, len(ids), size):
                chunk = ids[start : start + size]
                deliver_update.delay(update_id, chunk[0], chunk[-1])
            return 0
    else:
        rows = rows.filter(pk__gte=first_id, pk__lte=last_id)
    id_range = (first_id, last_id) if first_id is not None else None
    sent, errors = notifications.deliveries_send(update_id, id_range=id_range)
    if errors:
        delay = notifications.retry_or_fail(rows)
        if delay is not None:
            raise self.retry(countdown=delay, exc=DeliveryIncomplete("; ".join(errors[:5])))
    return sent


@shared_task
def sweep_deliveries() -> int:
    """Re-queue deliveries left pending by a lost message, a killed worker or an outage."""
    update_ids = notifications.stale_update_ids()
    for update_id in update_ids:
        deliver_update.delay(update_id)
    chat_ids = chat_events.stale_chat_update_ids()
    for update_id in chat_ids:
        post_incident_event.delay(update_id)
    return len(update_ids) + len(chat_ids)


@shared_task(bind=True, max_retries=None, acks_late=True)
def post_incident_event(self, update_id: int) -> int:
    """Post a public update to each chat channel and webhook once; retry failing ones alone."""
    chat_events.chat_deliveries_expand(update_id)
    sent, errors = chat_events.chat_deliveries_send(update_id)
    if errors:
        delay = notifications.retry_or_fail(ChatDelivery.objects.filter(update_id=update_id))
        if delay is not None:
            raise self.retry(countdown=delay, exc=DeliveryIncomplete("; ".join(errors[:5])))
    return sent
