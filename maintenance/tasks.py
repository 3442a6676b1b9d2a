"""Thin tasks: take ids, call a service. Retries and backoff are declared here."""

from celery import shared_task

from incidents import notifications as mail

from . import notifications, services
from .models import MaintenanceDelivery


class DeliveryIncomplete(Exception):
    """Some emails of a maintenance event could not be sent yet."""


@shared_task(bind=True, max_retries=None, acks_late=True)
def deliver_maintenance(self, maintenance_id: int, event: str) -> int:
    """Send an event's pending emails; retried with capped backoff until ``NOTIFY_RETRY_FOR_SECONDS``
    (the same rule as incident emails, ``incidents.notifications.retry_or_fail``)."""
    sent, errors = notifications.deliveries_send(maintenance_id, event)
    if errors:
        rows = MaintenanceDelivery.objects.filter(maintenance_id=maintenance_id, event=event)
        delay = mail.retry_or_fail(rows)
        if delay is not None:
            raise self.retry(countdown=delay, exc=DeliveryIncomplete("; ".join(errors[:5])))
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
