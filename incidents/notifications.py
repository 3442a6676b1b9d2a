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

import hashlib
import logging
import random
import smtplib
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.message import sanitize_address
from django.db import connection, transaction
from django.db import connections as db_connections
from django.db.models import F, Max, Q, Value
from django.db.models.functions import Concat, Lower
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from .choices import DeliveryStatus
from .models import ChatChannel, Delivery, IncidentOptOut, IncidentUpdate, Subscriber

logger = logging.getLogger(__name__)

UNSUBSCRIBE_SALT = "beacon.unsubscribe"
# Stands for the recipient's own unsubscribe link in a body rendered once for everyone.
_UNSUBSCRIBE_MARK = "__BEACON_UNSUBSCRIBE_URL__"


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
    from .tasks import deliver_update, post_incident_event

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


def header_safe(value, limit: int = 900) -> str:
    """A header value that cannot break the header block: CR, LF, tabs, every other control
    character (and Unicode line separators) collapse to one space; long values are cut.

    A new line in an incident title once made every email of the incident fail
    (``BadHeaderError``); any text that reaches a header goes through here.
    """
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in str(value or "")).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def unsubscribe_token(email: str, *, incident_id: int | None = None, service_ids: list[int] | None = None) -> str:
    """A signed token naming an address and what it unsubscribes from (an incident's
    services and the incident itself, or a maintenance's services). No expiry: links in
    old emails keep working."""
    payload = {"e": email.lower()}
    if incident_id is not None:
        payload["i"] = incident_id
    if service_ids:
        payload["s"] = sorted(service_ids)
    return signing.dumps(payload, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_url(token: str) -> str:
    return f"{settings.SITE_URL}{reverse('subscriptions:unsubscribe', args=[token])}"


def unsubscribe_headers(url: str) -> dict[str, str]:
    """RFC 2369 / RFC 8058 headers: mail clients show an "Unsubscribe" button that POSTs here."""
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def status_url() -> str:
    """The public status page, or "" when it is switched off."""
    return f"{settings.SITE_URL}{reverse('dashboard:status')}" if settings.STATUS_PAGE_ENABLED else ""


def account_emails(emails: list[str]) -> set[str]:
    """The addresses (lower-cased) among ``emails`` that belong to an active user."""
    found: set[str] = set()
    users = get_user_model().objects.filter(is_active=True).annotate(email_lower=Lower("email"))
    for start in range(0, len(emails), 500):
        chunk = [e.lower() for e in emails[start : start + 500]]
        found.update(users.filter(email_lower__in=chunk).values_list("email_lower", flat=True))
    return found


def render_update(update: IncidentUpdate, *, member: bool = True) -> dict[str, str]:
    """Subject, text and HTML of an update's email, rendered once per audience.

    ``member``: the recipient has an account and gets the incident's page; others get
    ``/status/``. The unsubscribe link is a placeholder each recipient's copy fills in.
    The subject stays the same for the whole incident (``[ticket] title``), so mail clients
    that thread by subject (Gmail) keep one thread; status and severity open the body.
    """
    incident = update.incident
    incident_url = f"{settings.SITE_URL}{incident.get_absolute_url()}"
    context = {
        "incident": incident,
        "update": update,
        "services": list(incident.services.all()),
        "url": incident_url if member else status_url(),
        "member": member,
        "site_name": settings.SITE_NAME,
        "unsubscribe_url": _UNSUBSCRIBE_MARK,
    }
    # Status and severity come from the update, not the incident: the worker may send this
    # after later changes, and each email must say what was true when it was written.
    return {
        "subject": header_safe(f"[{incident.ticket}] {incident.title}"),
        "text": render_to_string("emails/incident_update.txt", context),
        "html": render_to_string("emails/incident_update.html", context),
    }


def message_id(ticket: str, update_id: int, email: str) -> str:
    """The Message-ID of one update's email to one address: the same on every resend."""
    digest = hashlib.sha1(email.lower().encode()).hexdigest()[:12]
    return f"<beacon.{header_safe(ticket)}.{update_id}.{digest}@{mail_domain()}>"


def thread_id(ticket: str) -> str:
    """An anchor every email of an incident references, so clients group them."""
    return f"<incident.{header_safe(ticket)}@{mail_domain()}>"


def build_message(
    update: IncidentUpdate,
    email: str,
    *,
    delivery_id: int,
    connection=None,
    rendered: dict | None = None,
    root_update_id: int | None = None,
) -> EmailMultiAlternatives:
    """One recipient's message. The Message-ID is derived from the (update, recipient) pair, so
    a resend after a crash is the same message (mail clients drop a repeated Message-ID).

    ``root_update_id`` is the incident's opening update: every later email replies to the
    recipient's copy of it, so the emails of one incident form one thread.
    """
    incident = update.incident
    rendered = rendered or render_update(update)
    ticket = incident.ticket
    link = unsubscribe_url(unsubscribe_token(email, incident_id=incident.pk))
    references = [thread_id(ticket)]
    headers = {
        "Message-ID": message_id(ticket, update.pk, email),
        "X-Beacon-Ticket": header_safe(ticket),
        "List-Id": header_safe(f"{settings.SITE_NAME} incidents <incidents.{mail_domain()}>"),
        **unsubscribe_headers(link),
    }
    if root_update_id and root_update_id != update.pk:
        root = message_id(ticket, root_update_id, email)
        headers["In-Reply-To"] = root
        references.append(root)
    headers["References"] = " ".join(references)
    message = EmailMultiAlternatives(
        subject=header_safe(rendered["subject"]),
        body=rendered["text"].replace(_UNSUBSCRIBE_MARK, link),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email],
        connection=connection,
        headers=headers,
    )
    message.attach_alternative(rendered["html"].replace(_UNSUBSCRIBE_MARK, link), "text/html")
    return message


def mail_domain() -> str:
    """The domain part of Beacon's Message-IDs (the host of ``SITE_URL``)."""
    return settings.SITE_URL.split("//")[-1].split("/")[0].split(":")[0] or "beacon.local"


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


_PLACEHOLDER_EMAIL = "beacon-recipient@placeholder.invalid"


class _Personalizer:
    """The bytes of one audience's message, built once, with each recipient's own values
    (address, Message-ID, thread headers, unsubscribe link) swapped in per copy.

    Building a MIME message costs ~3 ms of Python; swapping five strings costs ~50 µs, which
    is what lets one worker hand 10,000 messages to the server in seconds. ``make`` checks
    that every placeholder survived encoding intact and returns None otherwise (the caller
    then builds each message in full), so the copies are always what ``build_message`` makes.
    """

    def __init__(self, update, data: bytes, root_update_id):
        self.update = update
        self.data = data
        self.root_update_id = root_update_id
        self.url_base = unsubscribe_url("TOKEN")  # reverse() once, not per recipient
        self.from_email = sanitize_address(settings.DEFAULT_FROM_EMAIL, settings.DEFAULT_CHARSET)
        self.placeholders = self._values(_PLACEHOLDER_EMAIL)

    @classmethod
    def make(cls, update, rendered, root_update_id) -> "_Personalizer | None":
        message = build_message(
            update, _PLACEHOLDER_EMAIL, delivery_id=0, rendered=rendered, root_update_id=root_update_id
        )
        data = message.message().as_bytes(linesep="\r\n")
        made = cls(update, data, root_update_id)
        expected = made.placeholders
        if data.count(expected["url"]) != 3 or data.count(expected["email"]) != 1:
            return None  # the body was re-encoded (quoted-printable): no safe swap
        if data.count(expected["id"]) != 1:
            return None
        return made

    def _values(self, email: str) -> dict[str, bytes]:
        ticket = self.update.incident.ticket
        values = {
            "email": email.encode(),
            "id": message_id(ticket, self.update.pk, email).encode(),
            "url": self.url_base.replace(
                "TOKEN", unsubscribe_token(email, incident_id=self.update.incident_id)
            ).encode(),
        }
        if self.root_update_id and self.root_update_id != self.update.pk:
            values["root"] = message_id(ticket, self.root_update_id, email).encode()
        return values

    def message(self, email: str, connection) -> "_Prepared":
        data = self.data
        mine = self._values(email)
        for key, placeholder in self.placeholders.items():
            data = data.replace(placeholder, mine[key])
        return _Prepared(connection, self.from_email, email, data)


class _Prepared:
    """A ready message: ``send()`` hands its bytes to the open SMTP connection."""

    def __init__(self, backend, from_email: str, email: str, data: bytes):
        self.backend, self.from_email, self.email, self.data = backend, from_email, email, data

    def send(self) -> None:
        self.backend.connection.sendmail(self.from_email, [self.email], self.data)


def send_pending(rows, *, build, label: str) -> tuple[int, list[str]]:
    """Send the pending rows of a delivery queryset. Returns (sent, errors).

    ``rows`` is a queryset of a delivery table (``email``, ``status``, ``attempts``,
    ``last_error``, ``claimed_until``, ``sent_at``); ``build(email, delivery_id, connection)``
    returns the message for one row. Each row is claimed for ``NOTIFY_LEASE_SECONDS``
    before sending and marked sent right after the server accepts it. Rows held for a later
    retry (``claimed_until`` ahead) are left alone. Raises nothing on SMTP failure: the
    errors come back for the caller (a Celery task) to retry; an address the server refuses
    for good (5xx) is marked failed at once. Many rows go out over up to
    ``NOTIFY_SMTP_CONNECTIONS`` connections in parallel.
    """
    model = rows.model
    lease = timedelta(seconds=settings.NOTIFY_LEASE_SECONDS)
    now = timezone.now()
    pending = list(
        rows.filter(status=DeliveryStatus.PENDING)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("pk")
        .values_list("id", "email")
    )
    if not pending:
        return 0, []
    connections_wanted = max(1, min(settings.NOTIFY_SMTP_CONNECTIONS, len(pending) // PER_CONNECTION_MIN))
    if connections_wanted == 1:
        return _send_slice(model, pending, build=build, label=label, lease=lease)
    # Several SMTP connections at once, one thread each: sending is mostly waiting for the
    # server's replies and the database, so the waits overlap. Each thread has its own
    # database connection (Django's are per thread) and closes it when done.
    slices = [pending[index::connections_wanted] for index in range(connections_wanted)]

    def run(rows_slice):
        try:
            return _send_slice(model, rows_slice, build=build, label=label, lease=lease)
        finally:
            db_connections.close_all()

    with ThreadPoolExecutor(max_workers=connections_wanted, thread_name_prefix="smtp") as pool:
        results = list(pool.map(run, slices))
    return sum(sent for sent, _ in results), [error for _, errors in results for error in errors]


# Parallel SMTP connections are worth it from this many messages per connection.
PER_CONNECTION_MIN = 100


def _send_slice(model, pending: list[tuple[int, str]], *, build, label: str, lease: timedelta):
    """Send ``pending`` (id, email) rows over one SMTP connection, claiming them in batches."""
    sent = 0
    errors: list[str] = []
    smtp = get_connection(fail_silently=False)
    try:
        smtp.open()
    except OSError as exc:
        ids = [delivery_id for delivery_id, _ in pending]
        for start in range(0, len(ids), 500):
            model.objects.filter(pk__in=ids[start : start + 500], status=DeliveryStatus.PENDING).update(
                last_error=f"{timezone.now():%Y-%m-%d %H:%M:%S}Z mail server unreachable: {exc}", attempts=_inc()
            )
        return 0, [str(exc)]
    stop = False
    try:
        with _fast_commits():
            for start in range(0, len(pending), CLAIM_BATCH):
                chunk = pending[start : start + CLAIM_BATCH]
                mine = claim_rows(model, [delivery_id for delivery_id, _ in chunk], lease)
                for index, (delivery_id, email) in enumerate(chunk):
                    if delivery_id not in mine:
                        continue  # another worker holds it, or it was sent meanwhile
                    try:
                        build(email, delivery_id, smtp).send()
                    except Exception as exc:  # noqa: BLE001 - any SMTP failure is recorded and retried
                        logger.warning("Mail to %s for %s failed: %s", email, label, exc)
                        error = f"{exc.__class__.__name__}: {exc}"[:2000]
                        if _permanent(exc):
                            model.objects.filter(pk=delivery_id).update(
                                status=DeliveryStatus.FAILED, claimed_until=None, last_error=error, attempts=_inc()
                            )
                            continue  # refused for good: retrying will not help
                        model.objects.filter(pk=delivery_id).update(
                            claimed_until=None, last_error=error, attempts=_inc()
                        )
                        errors.append(f"{email}: {exc}")
                        if _connection_lost(exc):
                            # The connection is gone; release the rest of this batch for the retry.
                            rest = [pk for pk, _ in chunk[index + 1 :] if pk in mine]
                            model.objects.filter(pk__in=rest, status=DeliveryStatus.PENDING).update(claimed_until=None)
                            stop = True
                            break
                        continue  # this address was refused: the others still go out
                    mark_sent(model, delivery_id)
                    sent += 1
                if stop:
                    break
    finally:
        try:
            smtp.close()
        except OSError:
            pass
    return sent, errors


def mark_sent(model, delivery_id: int) -> None:
    """Mark one row sent: its own statement and commit, right after the server accepted it.

    Plain SQL: run once per message, the ORM's update cost more than the statement itself."""
    meta = model._meta
    quote = connection.ops.quote_name
    column = {
        name: quote(meta.get_field(name).column)
        for name in ("status", "sent_at", "claimed_until", "attempts", "last_error")
    }
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {column['status']} = %s, {column['sent_at']} = %s, "
        f"{column['claimed_until']} = NULL, {column['attempts']} = {column['attempts']} + 1, "
        f"{column['last_error']} = '' WHERE {quote(meta.pk.column)} = %s"
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(sql, [DeliveryStatus.SENT.value, now, delivery_id])


# Rows claimed per UPDATE: one statement per 50 rows instead of one per row. A worker killed
# mid-batch leaves at most this many claimed, unsent rows; they go out once the lease ends.
CLAIM_BATCH = 50


def claim_rows(model, ids: list[int], lease: timedelta) -> set[int]:
    """Claim the free pending rows among ``ids`` for ``lease`` in one statement; returns the ids
    this call claimed (``UPDATE … RETURNING``: PostgreSQL, SQLite ≥ 3.35)."""
    if not ids:
        return set()
    now = timezone.now()
    meta = model._meta
    quote = connection.ops.quote_name
    status = quote(meta.get_field("status").column)
    claimed = quote(meta.get_field("claimed_until").column)
    pk = quote(meta.pk.column)
    adapt = connection.ops.adapt_datetimefield_value
    marks = ", ".join(["%s"] * len(ids))
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {claimed} = %s WHERE {pk} IN ({marks}) AND {status} = %s "
        f"AND ({claimed} IS NULL OR {claimed} < %s) RETURNING {pk}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [adapt(now + lease), *ids, DeliveryStatus.PENDING.value, adapt(now)])
        return {row[0] for row in cursor.fetchall()}


class _fast_commits:
    """On PostgreSQL, don't wait for the WAL flush of each "sent" mark (``synchronous_commit
    off`` for this session while sending). A killed worker loses nothing: the database
    already has the commit. Only a crash of the database server itself within a fraction of a
    second could forget the last marks, and then those messages go out again with the same
    Message-ID. Each mark is still its own commit, so "at most the message in flight" holds.
    """

    def __enter__(self):
        self.active = connection.vendor == "postgresql" and not connection.in_atomic_block
        if self.active:
            with connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO OFF")
        return self

    def __exit__(self, *exc):
        if self.active:
            with connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")
        return False


def _permanent(exc: Exception) -> bool:
    """The server refused this message for good (5xx for the recipient or the content)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(int(code) >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPDataError):
        return exc.smtp_code >= 500
    return False


def retry_or_fail(rows) -> float | None:
    """After a failed attempt: give up on the rows of ``rows`` unsent for longer than
    ``NOTIFY_RETRY_FOR_SECONDS``, hold the others until their next attempt.

    Returns the seconds until that attempt (capped exponential backoff with jitter, from
    the most tried row), or None when nothing is left to retry. A held row's
    ``claimed_until`` is its next attempt, so neither another worker nor the sweeper
    touches it before then.
    """
    now = timezone.now()
    window = settings.NOTIFY_RETRY_FOR_SECONDS
    free = rows.filter(status=DeliveryStatus.PENDING).filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
    hours = f"{window / 3600:g} h" if window >= 3600 else f"{window} s"
    free.filter(created_at__lt=now - timedelta(seconds=window)).update(
        status=DeliveryStatus.FAILED,
        claimed_until=None,
        last_error=Concat(Value(f"Gave up after retrying for {hours}: "), F("last_error")),
    )
    attempts = free.aggregate(most=Max("attempts"))["most"]
    if attempts is None:
        return None
    delay = backoff_seconds(attempts)
    free.update(claimed_until=now + timedelta(seconds=delay))
    return delay


def backoff_seconds(attempts: int) -> float:
    """``NOTIFY_RETRY_BACKOFF_BASE`` doubling per attempt, capped at ``NOTIFY_RETRY_BACKOFF_MAX``,
    with "equal jitter" (between half and all of it) so retries after an outage spread out."""
    ceiling = min(
        float(settings.NOTIFY_RETRY_BACKOFF_MAX),
        float(settings.NOTIFY_RETRY_BACKOFF_BASE) * 2 ** max(0, min(attempts - 1, 30)),
    )
    return ceiling * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security


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


def stale_rows(rows):
    """Pending rows of a delivery queryset, older than a lease and unclaimed (or their claim expired)."""
    now = timezone.now()
    grace = now - timedelta(seconds=settings.NOTIFY_LEASE_SECONDS)
    return rows.filter(status=DeliveryStatus.PENDING, created_at__lt=grace).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )


def delivery_trouble() -> dict[str, int]:
    """What the staff banner says: emails and chat posts failed in the last day, and those
    waiting for a retry. Cheap: both filters use the (status, claimed_until) index."""
    from maintenance.models import MaintenanceDelivery

    from .models import ChatDelivery

    since = timezone.now() - timedelta(days=1)
    failed = retrying = 0
    for model in (Delivery, MaintenanceDelivery, ChatDelivery):
        failed += model.objects.filter(status=DeliveryStatus.FAILED, created_at__gte=since).count()
        retrying += model.objects.filter(status=DeliveryStatus.PENDING, attempts__gt=0).count()
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
