"""Thin tasks: take ids, call a service. Retries and backoff are declared here."""

from celery import shared_task
from django.conf import settings

from . import notifications, services


class DeliveryIncomplete(Exception):
    """Some emails of a maintenance event could not be sent yet."""


@shared_task(
    bind=True,
    autoretry_for=(DeliveryIncomplete,),
    retry_backoff=True,
    retry_backoff_max=settings.NOTIFY_RETRY_BACKOFF_MAX,
    retry_jitter=True,
    max_retries=settings.NOTIFY_MAX_RETRIES,
)
def deliver_maintenance(self, maintenance_id: int, event: str) -> int:
    sent, errors = notifications.deliveries_send(maintenance_id, event)
    if errors:
        if self.request.retries >= self.max_retries:
            notifications.deliveries_fail(maintenance_id, event, "Gave up after retries: " + "; ".join(errors[:5]))
            return sent
        raise DeliveryIncomplete("; ".join(errors[:5]))
    return sent


@shared_task
def advance_maintenance() -> int:
    """Beat, every minute: start and end maintenance whose time has come."""
    return services.maintenance_advance()


@shared_task
def sweep_maintenance_deliveries() -> int:
    """Re-queue maintenance emails left pending by a lost message or a killed worker."""
    pairs = notifications.stale_events()
    for maintenance_id, event in pairs:
        deliver_maintenance.delay(maintenance_id, event)
    return len(pairs)
