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
import smtplib
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from .choices import DeliveryStatus, UpdateKind
from .models import ChatChannel, Delivery, IncidentUpdate, Subscriber

logger = logging.getLogger(__name__)


def recipients_for(incident) -> list[str]:
    """Subscribers of the affected services, the extra addresses and the engineer.

    Each address once, lower-cased, in a stable order (a dict keeps insertion order and
    makes the membership test O(1): an incident may list a thousand affected parties).
    """
    emails: dict[str, None] = {}
    subscriber_emails = (
        Subscriber.objects.filter(service__in=incident.services.all()).values_list("email", flat=True).distinct()
    )
    engineer_email = incident.engineer.email if incident.engineer_id else ""
    for email in [*subscriber_emails, *incident.extra_recipients, engineer_email]:
        email = (email or "").strip().lower()
        if email:
            emails.setdefault(email, None)
    return list(emails)


def deliveries_create(update: IncidentUpdate) -> int:
    """Record one pending delivery per recipient and queue sending after commit."""
    from .tasks import deliver_update

    emails = recipients_for(update.incident)
    _insert_pending(update.pk, emails)
    if emails:
        transaction.on_commit(lambda: deliver_update.delay(update.pk))
    if ChatChannel.objects.subscribed_to("incident_events").exists():
        from .tasks import post_incident_event

        transaction.on_commit(lambda: post_incident_event.delay(update.pk))
    return len(emails)


def _insert_pending(update_id: int, emails: list[str]) -> None:
    """Write one pending delivery per address, inside the caller's transaction.

    ``bulk_create`` spends about 70 µs of Python per row preparing values, which for an
    incident with a thousand affected parties was most of the request's time. A plain
    multi-row INSERT writes the same rows for the cost of the database's own work.
    ``ON CONFLICT DO NOTHING`` (PostgreSQL and SQLite) keeps it idempotent on the
    (update, email) constraint, as ``ignore_conflicts`` did.
    """
    meta = Delivery._meta
    quote = connection.ops.quote_name
    names = ("update", "email", "status", "attempts", "last_error", "created_at")
    columns = ", ".join(quote(meta.get_field(name).column) for name in names)
    created_at = connection.ops.adapt_datetimefield_value(timezone.now())
    per_row = 4  # parameters per row; attempts and last_error are literals
    batch = max(1, (connection.features.max_query_params or 4000) // per_row)
    with connection.cursor() as cursor:
        for start in range(0, len(emails), batch):
            chunk = emails[start : start + batch]
            values = ", ".join(["(%s, %s, %s, 0, '', %s)"] * len(chunk))
            params = [p for email in chunk for p in (update_id, email, DeliveryStatus.PENDING.value, created_at)]
            cursor.execute(
                f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES {values} ON CONFLICT DO NOTHING", params
            )


def claim_row(model, delivery_id: int, lease: timedelta) -> bool:
    """Take a pending delivery row of ``model`` for ``lease``; False when someone else holds it or it went out.

    ``model`` is any delivery table with ``status``, ``claimed_until`` (this module's
    ``Delivery``, or another app's, e.g. planned maintenance emails).
    """
    now = timezone.now()
    return bool(
        model.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + lease)
    )


def _claim(delivery_id: int, lease: timedelta) -> bool:
    return claim_row(Delivery, delivery_id, lease)


def render_update(update: IncidentUpdate) -> dict[str, str]:
    """Subject, text and HTML of an update's email: the same for every recipient, so rendered
    once, in ``EMAIL_LANGUAGE``."""
    with translation.override(settings.EMAIL_LANGUAGE):
        return _render_update(update)


def _render_update(update: IncidentUpdate) -> dict[str, str]:
    incident = update.incident
    context = {
        "incident": incident,
        "update": update,
        "services": list(incident.services.all()),
        "url": f"{settings.SITE_URL}{incident.get_absolute_url()}",
        "site_name": settings.SITE_NAME,
    }
    # Status and severity come from the update, not the incident: the worker may send this
    # after later changes, and each email must say what was true when it was written.
    if update.kind == UpdateKind.RESOLVED:
        subject = _("[%(ticket)s] Resolved · %(title)s") % {"ticket": incident.ticket, "title": incident.title}
    else:
        subject = _("[%(ticket)s] %(status)s · Sev %(severity)s · %(title)s") % {
            "ticket": incident.ticket,
            "status": update.get_status_display(),
            "severity": update.severity,
            "title": incident.title,
        }
    return {
        "subject": subject,
        "text": render_to_string("emails/incident_update.txt", context),
        "html": render_to_string("emails/incident_update.html", context),
    }


def build_message(
    update: IncidentUpdate, email: str, *, delivery_id: int, connection=None, rendered: dict | None = None
) -> EmailMultiAlternatives:
    """One recipient's message. The Message-ID is derived from the delivery, so a resend
    after a crash is the same message (mail clients drop a repeated Message-ID)."""
    incident = update.incident
    rendered = rendered or render_update(update)
    message = EmailMultiAlternatives(
        subject=rendered["subject"],
        body=rendered["text"],
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email],
        connection=connection,
        headers={
            "Message-ID": f"<beacon.{delivery_id}.{incident.ticket}@{mail_domain()}>",
            "X-Beacon-Ticket": incident.ticket,
        },
    )
    message.attach_alternative(rendered["html"], "text/html")
    return message


def mail_domain() -> str:
    """The domain part of Beacon's Message-IDs (the host of ``SITE_URL``)."""
    return settings.SITE_URL.split("//")[-1].split("/")[0].split(":")[0] or "beacon.local"


_domain = mail_domain


def deliveries_send(update_id: int) -> tuple[int, list[str]]:
    """Send every pending delivery of an update. Returns (sent, errors).

    Raises nothing on SMTP failure: the caller (a Celery task) decides to retry from the
    returned errors, so one bad address does not block the rest.
    """
    update = IncidentUpdate.objects.select_related("incident", "incident__engineer").filter(pk=update_id).first()
    if update is None:
        return 0, []  # the incident was deleted meanwhile: nothing left to send
    rendered: dict = {}

    def build(email: str, delivery_id: int, connection) -> EmailMultiAlternatives:
        if not rendered:
            rendered.update(render_update(update))
        return build_message(update, email, delivery_id=delivery_id, connection=connection, rendered=rendered)

    return send_pending(Delivery.objects.filter(update_id=update_id), build=build, label=update.incident.ticket)


def send_pending(rows, *, build, label: str) -> tuple[int, list[str]]:
    """Send the pending rows of a delivery queryset over one SMTP connection. Returns (sent, errors).

    ``rows`` is a queryset of a delivery table (``email``, ``status``, ``attempts``,
    ``last_error``, ``claimed_until``, ``sent_at``); ``build(email, delivery_id, connection)``
    returns the message for one row. Each row is claimed for ``NOTIFY_LEASE_SECONDS``
    before sending and marked sent right after the server accepts it. Raises nothing on
    SMTP failure: the errors come back for the caller (a Celery task) to retry.
    """
    model = rows.model
    lease = timedelta(seconds=settings.NOTIFY_LEASE_SECONDS)
    pending = list(rows.filter(status=DeliveryStatus.PENDING).values_list("id", "email"))
    if not pending:
        return 0, []
    sent = 0
    errors: list[str] = []
    connection = get_connection(fail_silently=False)
    try:
        connection.open()
    except OSError as exc:
        rows.filter(status=DeliveryStatus.PENDING).update(
            last_error=f"{timezone.now():%Y-%m-%d %H:%M:%S}Z mail server unreachable: {exc}"
        )
        return 0, [str(exc)]
    try:
        for delivery_id, email in pending:
            if not claim_row(model, delivery_id, lease):
                continue  # another worker holds it, or it was sent meanwhile
            try:
                build(email, delivery_id, connection).send()
            except Exception as exc:  # noqa: BLE001 - any SMTP failure is recorded and retried
                logger.warning("Mail to %s for %s failed: %s", email, label, exc)
                model.objects.filter(pk=delivery_id).update(
                    claimed_until=None, last_error=f"{exc.__class__.__name__}: {exc}", attempts=_inc()
                )
                errors.append(f"{email}: {exc}")
                if _connection_lost(exc):
                    break  # the connection is gone; retry the rest later
                continue  # this address was refused: the others still go out
            model.objects.filter(pk=delivery_id).update(
                status=DeliveryStatus.SENT, sent_at=timezone.now(), claimed_until=None, attempts=_inc(), last_error=""
            )
            sent += 1
    finally:
        try:
            connection.close()
        except OSError:
            pass
    return sent, errors


def _connection_lost(exc: Exception) -> bool:
    """True when the SMTP session is unusable; False when only this message was refused.

    Every ``smtplib`` error is an ``OSError``, so ``isinstance(exc, OSError)`` would also
    stop the loop on a single refused recipient and let one bad address block the rest.
    """
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPSenderRefused | smtplib.SMTPDataError):
        return False
    return isinstance(exc, OSError)


def _inc():
    return F("attempts") + 1


def deliveries_fail(update_id: int, reason: str) -> int:
    """Give up on an update's remaining deliveries after the last retry; staff see them."""
    return Delivery.objects.filter(update_id=update_id, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED, last_error=reason[:2000], claimed_until=None
    )


def stale_update_ids() -> list[int]:
    """Updates with pending deliveries nobody is working on (a worker died or a message was lost)."""
    return list(stale_rows(Delivery.objects.all()).values_list("update_id", flat=True).distinct())


def stale_rows(rows):
    """Pending rows of a delivery queryset, older than a lease and unclaimed (or their claim expired)."""
    now = timezone.now()
    grace = now - timedelta(seconds=settings.NOTIFY_LEASE_SECONDS)
    return rows.filter(status=DeliveryStatus.PENDING, created_at__lt=grace).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )


def incident_event_text(update: IncidentUpdate) -> tuple[str, str]:
    """Title and body of the chat message for an incident event."""
    incident = update.incident
    services = ", ".join(s.name for s in incident.services.all())
    title = f"{incident.ticket} {update.get_kind_display().lower()}: {incident.title}"
    body = (
        f"Status: {update.get_status_display()} · Severity {update.severity} · {services}\n"
        f"{update.message}\n{settings.SITE_URL}{incident.get_absolute_url()}"
    )
    return title, body
