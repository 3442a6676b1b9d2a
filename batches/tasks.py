"""Thin tasks: the periodic check and the sending of one alert event (by id)."""

from celery import shared_task
from django.conf import settings

from . import notifications, services


class AlertNotSent(Exception):
    """The email or chat message of an alert event could not be sent yet."""


@shared_task
def check_batches() -> int:
    """Celery beat: record alert transitions; each one queues ``send_alert_event``."""
    return len(services.batch_alerts_check())


@shared_task(
    bind=True,
    autoretry_for=(AlertNotSent,),
    retry_backoff=True,
    retry_backoff_max=settings.NOTIFY_RETRY_BACKOFF_MAX,
    retry_jitter=True,
    max_retries=settings.NOTIFY_MAX_RETRIES,
)
def send_alert_event(self, event_id: int) -> None:
    errors = notifications.alert_event_send(event_id)
    if errors and self.request.retries < self.max_retries:
        raise AlertNotSent("; ".join(errors))
