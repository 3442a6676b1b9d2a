"""Emails about planned maintenance, each sent once per (maintenance, event, recipient).

The same machinery as incident emails (``incidents.notifications``): delivery rows are
written in the transaction that changes the maintenance, a Celery task queued after
commit sends them over one SMTP connection, claiming each row for a lease, and the
sweeper re-queues rows a dead worker left behind. Only the message differs.
"""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext as _

from incidents import notifications as mail
from incidents.choices import DeliveryStatus
from incidents.models import Subscriber

from .choices import MaintenanceEvent
from .models import Maintenance, MaintenanceDelivery


def recipients_for(maintenance: Maintenance) -> list[str]:
    """Subscribers of the maintenance's services, each address once, lower-cased."""
    emails: dict[str, None] = {}
    for email in (
        Subscriber.objects.filter(service__in=maintenance.services.all())
        .order_by("email")
        .values_list("email", flat=True)
    ):
        email = (email or "").strip().lower()
        if email:
            emails.setdefault(email, None)
    return list(emails)


def deliveries_create(maintenance: Maintenance, event: str) -> int:
    """Record one pending email per subscriber (inside the caller's transaction) and queue
    the sending after commit. A second call for the same event adds nothing."""
    from .tasks import deliver_maintenance

    emails = recipients_for(maintenance)
    MaintenanceDelivery.objects.bulk_create(
        [MaintenanceDelivery(maintenance=maintenance, event=event, email=email) for email in emails],
        ignore_conflicts=True,
    )
    if emails:
        pk = maintenance.pk
        transaction.on_commit(lambda: deliver_maintenance.delay(pk, event))
    return len(emails)


def render_event(maintenance: Maintenance, event: str) -> dict[str, str]:
    """Subject, text and HTML of one event's email: the same for every recipient."""
    tz = timezone.get_current_timezone()
    starts = timezone.localtime(maintenance.starts_at, tz)
    ends = timezone.localtime(maintenance.ends_at, tz)
    status_url = f"{settings.SITE_URL}{reverse('dashboard:status')}" if settings.STATUS_PAGE_ENABLED else ""
    context = {
        "maintenance": maintenance,
        "event": event,
        "event_label": MaintenanceEvent(event).label,
        "services": list(maintenance.services.all()),
        "starts_at": starts,
        "ends_at": ends,
        "url": f"{settings.SITE_URL}{maintenance.get_absolute_url()}",
        "status_url": status_url,
        "site_name": settings.SITE_NAME,
    }
    subject = _("[Maintenance] %(event)s: %(title)s · %(start)s – %(end)s") % {
        "event": MaintenanceEvent(event).label,
        "title": maintenance.title,
        "start": f"{starts:%Y-%m-%d %H:%M}",
        "end": f"{ends:%Y-%m-%d %H:%M %Z}",
    }
    return {
        "subject": subject,
        "service_ids": [s.pk for s in context["services"]],
        "text": render_to_string("emails/maintenance_event.txt", context),
        "html": render_to_string("emails/maintenance_event.html", context),
    }


def build_message(
    maintenance: Maintenance, event: str, email: str, *, delivery_id: int, connection=None, rendered: dict
) -> EmailMultiAlternatives:
    """One recipient's message; its Message-ID comes from the delivery row, so a resend
    after a crash is the same message."""
    link = mail.unsubscribe_url(mail.unsubscribe_token(email, service_ids=rendered["service_ids"]))
    thread = f"<maintenance.{maintenance.pk}@{mail.mail_domain()}>"
    message = EmailMultiAlternatives(
        subject=mail.header_safe(rendered["subject"]),
        body=rendered["text"] + "\n" + _("Unsubscribe: %(url)s") % {"url": link} + "\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email],
        connection=connection,
        headers={
            "Message-ID": f"<beacon.maintenance.{delivery_id}@{mail.mail_domain()}>",
            "X-Beacon-Maintenance": str(maintenance.pk),
            "X-Beacon-Event": mail.header_safe(event),
            # All emails about one maintenance thread together, like an incident's.
            "References": thread,
            "In-Reply-To": thread,
            **mail.unsubscribe_headers(link),
        },
    )
    label = escape(_("Unsubscribe from these services"))
    footer = f'<p style="color:#6c757d;font-size:12px"><a href="{escape(link)}">{label}</a></p></body>'

    message.attach_alternative(rendered["html"].replace("</body>", footer, 1), "text/html")
    return message


def deliveries_send(maintenance_id: int, event: str) -> tuple[int, list[str]]:
    """Send the pending emails of one event. Returns (sent, errors); raises nothing on SMTP failure."""
    maintenance = Maintenance.objects.filter(pk=maintenance_id).first()
    if maintenance is None:
        return 0, []
    rendered: dict = {}

    def build(email: str, delivery_id: int, connection) -> EmailMultiAlternatives:
        if not rendered:
            rendered.update(render_event(maintenance, event))
        return build_message(
            maintenance, event, email, delivery_id=delivery_id, connection=connection, rendered=rendered
        )

    rows = MaintenanceDelivery.objects.filter(maintenance_id=maintenance_id, event=event)
    return mail.send_pending(rows, build=build, label=f"maintenance {maintenance_id} ({event})")


def deliveries_fail(maintenance_id: int, event: str, reason: str) -> int:
    """Give up on an event's remaining emails after the last retry; staff see them in the admin."""
    return MaintenanceDelivery.objects.filter(
        maintenance_id=maintenance_id, event=event, status=DeliveryStatus.PENDING
    ).update(status=DeliveryStatus.FAILED, last_error=reason[:2000], claimed_until=None)


def stale_events() -> list[tuple[int, str]]:
    """(maintenance, event) pairs with pending emails nobody is working on."""
    return list(mail.stale_rows(MaintenanceDelivery.objects.all()).values_list("maintenance_id", "event").distinct())
