"""Who hears about an incident, and how each email is sent exactly once.

A public update that asks for emails (``notify``) only queues a Celery task after its
transaction commits: the request costs the same for 10 or 10,000 recipients. The task
writes one ``Delivery`` row per recipient (once: ``recipients_at`` marks it done), then
sends the pending rows. A worker claims a row for ``NOTIFY_LEASE_SECONDS`` before sending
and marks it sent right after the SMTP server accepts it, so a worker killed mid-send
leaves only claimed, unsent rows behind; the sweeper re-queues those once their lease runs
out. The ``Message-ID`` is derived from the (update, recipient) pair, so even the
sub-millisecond window between "accepted" and "marked sent" cannot produce two different
messages.

Mail that survives outages: a failed attempt holds the row (``claimed_until``) until its
next attempt, after a capped exponential backoff (``NOTIFY_RETRY_BACKOFF_BASE`` doubling up
to ``NOTIFY_RETRY_BACKOFF_MAX``); the task retries itself and the sweeper re-queues rows
whose retry never came. A row is marked failed only when it is still unsent
``NOTIFY_RETRY_FOR_SECONDS`` (default 24 h) after it was written, or when the server
refuses the address for good (a 5xx reply).

Every email threads with the others of its incident (``In-Reply-To``/``References`` point
at the recipient's opening email), carries a one-click unsubscribe link (RFC 8058), and
only header-safe values (``header_safe``). Recipients without an account get the link to
``/status/``, not to a page they cannot open.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from ..choices import DeliveryStatus
from ..models import ChatChannel, Delivery, IncidentOptOut, IncidentUpdate, Subscriber
from .messages import (  # noqa: F401 - the package's public names (maintenance uses them)
    UNSUBSCRIBE_SALT,
    _Personalizer,
    account_emails,
    build_message,
    header_safe,
    mail_domain,
    message_id,
    render_update,
    status_url,
    thread_id,
    unsubscribe_headers,
    unsubscribe_token,
    unsubscribe_url,
)
from .sending import (  # noqa: F401
    CLAIM_BATCH,
    _inc,
    backoff_seconds,
    claim_row,
    claim_rows,
    mark_sent,
    retry_or_fail,
    send_pending,
    stale_rows,
)

logger = logging.getLogger(__name__)


def recipients_for(incident) -> list[str]:
    """Subscribers of the affected services, the extra addresses and the engineer, minus
    the addresses that unsubscribed from this incident.

    Each address once, lower-cased, in a stable order (a dict keeps insertion order and
    makes the membership test O(1): an incident may list a thousand affected parties).
    """
    emails: dict[str, None] = {}
    subscriber_emails = (
        Subscriber.objects.filter(service__in=incident.services.all()).values_list("email", flat=True).distinct()
    )
    engineer_email = incident.engineer.email if incident.engineer_id else ""
    opted_out = set(IncidentOptOut.objects.filter(incident=incident).values_list("email", flat=True))
    for email in [*subscriber_emails, *incident.extra_recipients, engineer_email]:
        email = (email or "").strip().lower()
        if email and email not in opted_out:
            emails.setdefault(email, None)
    return list(emails)


def deliveries_create(update: IncidentUpdate) -> None:
    """Queue the emails and chat events of a public update after commit.

    Nothing per recipient happens here: the worker writes the delivery rows
    (``recipients_expand``), so the request stays fast whatever the number of recipients.
    """
    from ..tasks import deliver_update, post_incident_event

    update_id = update.pk
    transaction.on_commit(lambda: deliver_update.delay(update_id))
    if ChatChannel.objects.subscribed_to("incident_events").exists():
        transaction.on_commit(lambda: post_incident_event.delay(update_id))


def recipients_expand(update_id: int) -> int:
    """Write one pending delivery per recipient of an update, once. Returns the rows written.

    Idempotent: ``recipients_at`` says it was done, and the insert ignores existing rows, so
    two workers racing (a redelivered task) write each row once.
    """
    update = (
        IncidentUpdate.objects.select_related("incident", "incident__engineer")
        .filter(pk=update_id, notify=True, recipients_at__isnull=True)
        .first()
    )
    if update is None:
        return 0
    emails = recipients_for(update.incident)
    with transaction.atomic():
        _insert_pending(update.pk, emails)
        IncidentUpdate.objects.filter(pk=update.pk).update(recipients_at=timezone.now())
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


def deliveries_send(update_id: int, *, id_range: tuple[int, int] | None = None) -> tuple[int, list[str]]:
    """Send the pending deliveries of an update (those in ``id_range`` when given). Returns (sent, errors).

    Raises nothing on SMTP failure: the caller (a Celery task) decides to retry from the
    returned errors, so one bad address does not block the rest.
    """
    update = IncidentUpdate.objects.select_related("incident", "incident__engineer").filter(pk=update_id).first()
    if update is None:
        return 0, []  # the incident was deleted meanwhile: nothing left to send
    rows = Delivery.objects.filter(update_id=update_id)
    if id_range is not None:
        rows = rows.filter(pk__gte=id_range[0], pk__lte=id_range[1])
    emails = list(rows.filter(status=DeliveryStatus.PENDING).values_list("email", flat=True))
    if not emails:
        return 0, []
    members = account_emails(emails)
    root_update_id = update.incident.updates.order_by("id").values_list("id", flat=True).first()
    rendered: dict[bool, dict] = {}
    prepared: dict[bool, _Personalizer | None] = {}

    def build(email: str, delivery_id: int, connection):
        member = email.lower() in members
        if member not in rendered:
            rendered[member] = render_update(update, member=member)
            prepared[member] = _Personalizer.make(update, rendered[member], root_update_id)
        personalizer = prepared[member]
        if personalizer is not None and email.isascii():
            return personalizer.message(email, connection)
        return build_message(
            update,
            email,
            delivery_id=delivery_id,
            connection=connection,
            rendered=rendered[member],
            root_update_id=root_update_id,
        )

    return send_pending(rows, build=build, label=update.incident.ticket)


def deliveries_fail(update_id: int, reason: str) -> int:
    """Give up on an update's remaining deliveries (staff see them and can retry)."""
    return Delivery.objects.filter(update_id=update_id, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED, last_error=reason[:2000], claimed_until=None
    )


def stale_update_ids() -> list[int]:
    """Updates with mail work nobody is doing: pending deliveries whose claim or retry hold ran
    out (a worker died, a retry message was lost), or recipients never written."""
    grace = timezone.now() - timedelta(seconds=settings.NOTIFY_LEASE_SECONDS)
    ids = set(stale_rows(Delivery.objects.all()).values_list("update_id", flat=True).distinct())
    ids.update(
        IncidentUpdate.objects.filter(notify=True, recipients_at__isnull=True, created_at__lt=grace).values_list(
            "id", flat=True
        )
    )
    return sorted(ids)


def delivery_trouble() -> dict[str, int]:
    """What the staff banner says: emails and chat posts failed in the last day, and those
    waiting for a retry. Cheap: both filters use the (status, claimed_until) index."""
    from maintenance.models import MaintenanceDelivery

    from ..models import ChatDelivery

    since = timezone.now() - timedelta(days=1)
    failed_q = Q(status=DeliveryStatus.FAILED, created_at__gte=since)
    retrying_q = Q(status=DeliveryStatus.PENDING, attempts__gt=0)
    failed = retrying = 0
    for model in (Delivery, MaintenanceDelivery, ChatDelivery):  # one query each, on every staff page
        counts = model.objects.filter(failed_q | retrying_q).aggregate(
            failed=Count("pk", filter=failed_q), retrying=Count("pk", filter=retrying_q)
        )
        failed += counts["failed"]
        retrying += counts["retrying"]
    return {"failed": failed, "retrying": retrying}


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
