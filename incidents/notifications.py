"""Who hears about an incident, and how each email is sent exactly once.

Each update gets one ``Delivery`` row per recipient, written in the same transaction as
the update. A Celery task, queued only after that transaction commits, sends the pending
rows. A worker claims a row for ``NOTIFY_LEASE_SECONDS`` before sending and marks it sent
right after the SMTP server accepts it, so a worker killed mid-send leaves only claimed,
unsent rows behind; the sweeper re-queues those once their lease runs out. The
``Message-ID`` is derived from the delivery, so even the sub-millisecond window between
"accepted" and "marked sent" cannot produce two different messages.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone

from .choices import DeliveryStatus
from .models import ChatChannel, Delivery, IncidentUpdate, Subscriber

logger = logging.getLogger(__name__)


def recipients_for(incident) -> list[str]:
    """Subscribers of the affected services, the extra addresses and the engineer."""
    emails: list[str] = []
    subscriber_emails = (
        Subscriber.objects.filter(service__in=incident.services.all()).values_list("email", flat=True).distinct()
    )
    for email in [*subscriber_emails, *incident.extra_recipients]:
        email = email.strip().lower()
        if email and email not in emails:
            emails.append(email)
    if incident.engineer_id and incident.engineer.email:
        email = incident.engineer.email.lower()
        if email not in emails:
            emails.append(email)
    return emails


def deliveries_create(update: IncidentUpdate) -> int:
    """Record one pending delivery per recipient and queue sending after commit."""
    from .tasks import deliver_update

    emails = recipients_for(update.incident)
    Delivery.objects.bulk_create([Delivery(update=update, email=email) for email in emails], ignore_conflicts=True)
    if emails:
        transaction.on_commit(lambda: deliver_update.delay(update.pk))
    if ChatChannel.objects.filter(is_active=True, incident_events=True).exists():
        from .tasks import post_incident_event

        transaction.on_commit(lambda: post_incident_event.delay(update.pk))
    return len(emails)


def _claim(delivery_id: int, lease: timedelta) -> bool:
    now = timezone.now()
    return bool(
        Delivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + lease)
    )


def build_message(update: IncidentUpdate, email: str, *, delivery_id: int, connection=None) -> EmailMultiAlternatives:
    incident = update.incident
    context = {
        "incident": incident,
        "update": update,
        "services": list(incident.services.all()),
        "url": f"{settings.SITE_URL}{incident.get_absolute_url()}",
        "site_name": settings.SITE_NAME,
    }
    subject = f"[{incident.ticket}] {incident.get_status_display()} · Sev {incident.severity} · {incident.title}"
    if update.kind == "resolved":
        subject = f"[{incident.ticket}] Resolved · {incident.title}"
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("emails/incident_update.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email],
        connection=connection,
        headers={
            "Message-ID": f"<beacon.{delivery_id}.{incident.ticket}@{_domain()}>",
            "X-Beacon-Ticket": incident.ticket,
        },
    )
    message.attach_alternative(render_to_string("emails/incident_update.html", context), "text/html")
    return message


def _domain() -> str:
    return settings.SITE_URL.split("//")[-1].split("/")[0].split(":")[0] or "beacon.local"


def deliveries_send(update_id: int) -> tuple[int, list[str]]:
    """Send every pending delivery of an update. Returns (sent, errors).

    Raises nothing on SMTP failure: the caller (a Celery task) decides to retry from the
    returned errors, so one bad address does not block the rest.
    """
    update = IncidentUpdate.objects.select_related("incident", "incident__engineer").get(pk=update_id)
    lease = timedelta(seconds=settings.NOTIFY_LEASE_SECONDS)
    pending = list(
        Delivery.objects.filter(update_id=update_id, status=DeliveryStatus.PENDING).values_list("id", "email")
    )
    if not pending:
        return 0, []
    sent = 0
    errors: list[str] = []
    connection = get_connection(fail_silently=False)
    try:
        connection.open()
    except OSError as exc:
        Delivery.objects.filter(update_id=update_id, status=DeliveryStatus.PENDING).update(
            last_error=f"{timezone.now():%Y-%m-%d %H:%M:%S}Z mail server unreachable: {exc}"
        )
        return 0, [str(exc)]
    try:
        for delivery_id, email in pending:
            if not _claim(delivery_id, lease):
                continue  # another worker holds it, or it was sent meanwhile
            try:
                build_message(update, email, delivery_id=delivery_id, connection=connection).send()
            except Exception as exc:  # noqa: BLE001 - any SMTP failure is recorded and retried
                logger.warning("Mail to %s for %s failed: %s", email, update.incident.ticket, exc)
                Delivery.objects.filter(pk=delivery_id).update(
                    claimed_until=None, last_error=f"{exc.__class__.__name__}: {exc}", attempts=_inc()
                )
                errors.append(f"{email}: {exc}")
                if isinstance(exc, OSError):
                    break  # the connection is gone; retry the rest later
                continue
            Delivery.objects.filter(pk=delivery_id).update(
                status=DeliveryStatus.SENT, sent_at=timezone.now(), claimed_until=None, attempts=_inc(), last_error=""
            )
            sent += 1
    finally:
        try:
            connection.close()
        except OSError:
            pass
    return sent, errors


def _inc():
    return F("attempts") + 1


def deliveries_fail(update_id: int, reason: str) -> int:
    """Give up on an update's remaining deliveries after the last retry; staff see them."""
    return Delivery.objects.filter(update_id=update_id, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED, last_error=reason[:2000], claimed_until=None
    )


def stale_update_ids() -> list[int]:
    """Updates with pending deliveries nobody is working on (a worker died or a message was lost)."""
    now = timezone.now()
    grace = now - timedelta(seconds=settings.NOTIFY_LEASE_SECONDS)
    return list(
        Delivery.objects.filter(status=DeliveryStatus.PENDING, created_at__lt=grace)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .values_list("update_id", flat=True)
        .distinct()
    )


def incident_event_text(update: IncidentUpdate) -> tuple[str, str]:
    """Title and body of the chat message for an incident event."""
    incident = update.incident
    services = ", ".join(s.name for s in incident.services.all())
    title = f"{incident.ticket} {update.get_kind_display().lower()}: {incident.title}"
    body = (
        f"Status: {incident.get_status_display()} · Severity {incident.severity} · {services}\n"
        f"{update.message}\n{settings.SITE_URL}{incident.get_absolute_url()}"
    )
    return title, body
