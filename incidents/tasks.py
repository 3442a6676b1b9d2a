"""Thin tasks: take ids, call a service. Retries and backoff are declared here."""

import logging

from celery import shared_task
from django.conf import settings

from . import notifications

logger = logging.getLogger(__name__)


class DeliveryIncomplete(Exception):
    """Some emails of an update could not be sent yet."""


@shared_task(
    bind=True,
    autoretry_for=(DeliveryIncomplete,),
    retry_backoff=True,
    retry_backoff_max=settings.NOTIFY_RETRY_BACKOFF_MAX,
    retry_jitter=True,
    max_retries=settings.NOTIFY_MAX_RETRIES,
)
def deliver_update(self, update_id: int) -> int:
    sent, errors = notifications.deliveries_send(update_id)
    if errors:
        if self.request.retries >= self.max_retries:
            notifications.deliveries_fail(update_id, "Gave up after retries: " + "; ".join(errors[:5]))
            return sent
        raise DeliveryIncomplete("; ".join(errors[:5]))
    return sent


@shared_task
def sweep_deliveries() -> int:
    """Re-queue deliveries left pending by a lost message or a killed worker."""
    update_ids = notifications.stale_update_ids()
    for update_id in update_ids:
        deliver_update.delay(update_id)
    return len(update_ids)


@shared_task(bind=True, autoretry_for=(Exception,), retry_backoff=True, retry_jitter=True, max_retries=5)
def post_incident_event(self, update_id: int) -> None:
    from integrations.chat import chat_send

    from .models import ChatChannel, IncidentUpdate

    update = IncidentUpdate.objects.select_related("incident").get(pk=update_id)
    urls = list(ChatChannel.objects.subscribed_to("incident_events").values_list("url", flat=True))
    if urls:
        title, body = notifications.incident_event_text(update)
        chat_send(urls, title=title, body=body)
