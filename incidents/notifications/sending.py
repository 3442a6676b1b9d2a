"""Sending the pending rows of any delivery table exactly once, and retrying in time.

Used by incident emails, chat posts (``ChatDelivery``) and maintenance emails alike: a row
is claimed for ``NOTIFY_LEASE_SECONDS`` before sending and marked sent right after the
server accepted it; a failed row is held until its next attempt (``retry_or_fail``).
"""

import logging
import random
import smtplib
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.core.mail import get_connection
from django.db import connection
from django.db import connections as db_connections
from django.db.models import F, Max, Q, Value
from django.db.models.functions import Concat
from django.utils import timezone

from ..choices import DeliveryStatus

logger = logging.getLogger("incidents.notifications")


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


def stale_rows(rows):
    """Pending rows of a delivery queryset, older than a lease and unclaimed (or their claim expired)."""
    now = timezone.now()
    grace = now - timedelta(seconds=settings.NOTIFY_LEASE_SECONDS)
    return rows.filter(status=DeliveryStatus.PENDING, created_at__lt=grace).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )
