"""Writes of the reports app: generating a stored report version and emailing it.

A version is rendered once, its bytes hashed (SHA-256) and stored under MEDIA_ROOT. The
email attaches those stored bytes after checking the hash, so what leadership receives,
what ``/reports/YYYY-MM.pdf`` serves and what the checksum column says are the same
document.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from audit.choices import Action
from audit.services import audit_record

from . import formatting, selectors
from .choices import Trigger
from .models import MonthlyReport, ReportEmail
from .pdf import render_pdf
from .uptime import Month

logger = logging.getLogger(__name__)


class ChecksumMismatch(Exception):
    """The stored file no longer matches its recorded SHA-256: refuse to send or serve it."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def report_generate(
    *,
    month: Month,
    by=None,
    trigger: str = Trigger.MANUAL,
    now: datetime | None = None,
    only_if_missing: bool = False,
) -> MonthlyReport:
    """Render the month's report to PDF and store it as the next version.

    Rendering (seconds) happens outside any transaction; only the version number and the
    row are written inside one. With ``only_if_missing`` (first download), a version made
    meanwhile by someone else wins and ours is discarded, so a burst of first downloads
    yields one version.
    """
    now = now or timezone.now()
    report = selectors.monthly_report(month=month, now=now)
    for _attempt in range(3):
        if only_if_missing:
            existing = selectors.latest_version(month)
            if existing:
                return existing
        version = (MonthlyReport.objects.filter(month=month.first_day).aggregate(v=Max("version"))["v"] or 0) + 1
        data = render_pdf(report, version=version)
        digest = sha256_of(data)
        row = MonthlyReport(
            month=month.first_day,
            version=version,
            sha256=digest,
            size=len(data),
            time_zone=report.time_zone,
            complete=report.complete,
            trigger=trigger,
            generated_by=by if getattr(by, "pk", None) else None,
            generated_at=now,
            summary=report.api_rows(),
        )
        name = f"beacon-availability-{month}-v{version}-{digest[:12]}.pdf"
        try:
            with transaction.atomic():
                row.pdf.save(name, ContentFile(data), save=False)
                row.save()
        except IntegrityError:
            # Another process took this version number first; drop our file and retry.
            row.pdf.delete(save=False)
            continue
        logger.info("Stored %s (%s bytes, sha256 %s)", row, row.size, digest)
        audit_record(
            action=Action.REPORT_GENERATE,
            actor=row.generated_by,
            target=row,
            summary=f"version {version} ({trigger}), sha256 {digest}",
        )
        return row
    raise RuntimeError(f"Could not store a new version of the {month} report; try again.")


def reports_mark_out_of_date(*, start: datetime, end: datetime, now: datetime | None = None) -> int:
    """Mark every stored version whose month overlaps ``[start, end]`` as out of date.

    Called by the incident services whenever the past changes. Months are taken in each
    version's own time zone; one query finds the candidates, one marks them.
    """
    now = now or timezone.now()
    first = Month.containing(start, "UTC").previous().first_day  # a day of slack for any zone
    last = Month.containing(end, "UTC").next().first_day
    ids = []
    for pk, month, tz in MonthlyReport.objects.filter(
        month__gte=first, month__lte=last, out_of_date_since__isnull=True
    ).values_list("pk", "month", "time_zone"):
        month_start, month_end = Month(month.year, month.month).bounds(tz)
        if start < month_end and end >= month_start:
            ids.append(pk)
    if ids:
        MonthlyReport.objects.filter(pk__in=ids).update(out_of_date_since=now)
    return len(ids)


def report_bytes(report: MonthlyReport) -> bytes:
    """The stored PDF, verified against its recorded checksum."""
    with report.pdf.open("rb") as handle:
        data = handle.read()
    if sha256_of(data) != report.sha256:
        raise ChecksumMismatch(f"{report.pdf.name} does not match its recorded SHA-256 {report.sha256}.")
    return data


def report_recipients(recipients: list[str] | None) -> list[str]:
    from django.core.validators import validate_email

    cleaned: list[str] = []
    for email in recipients if recipients is not None else settings.LEADERSHIP_EMAILS:
        email = email.strip()
        if not email:
            continue
        try:
            validate_email(email)
        except ValidationError:
            raise ValidationError({"recipients": f"{email!r} is not a valid email address."}) from None
        if email.lower() not in {e.lower() for e in cleaned}:
            cleaned.append(email)
    if not cleaned:
        raise ValidationError(
            {"recipients": "Nobody to send the report to: set LEADERSHIP_EMAILS (comma-separated addresses)."}
        )
    return cleaned


def report_email(*, report: MonthlyReport, recipients: list[str] | None = None, by=None) -> ReportEmail:
    """Email the stored PDF as an attachment (default: ``LEADERSHIP_EMAILS``) and record it.

    SMTP errors propagate so the Celery task can retry with backoff; nothing is recorded
    for a send that failed.
    """
    to = report_recipients(recipients)
    data = report_bytes(report)
    month = Month(report.month.year, report.month.month)
    summary = report.summary or []
    missed = [row for row in summary if not row.get("slo_met")]
    context = {
        "report": report,
        "month": month,
        "rows": summary,
        "missed": missed,
        "url": settings.SITE_URL + reverse("reports:detail", kwargs={"month": str(month)}),
        "pdf_url": settings.SITE_URL + reverse("reports:pdf", kwargs={"month": str(month)}),
        "site_name": settings.SITE_NAME,
        "durations": {row["service"]: formatting.duration(row["downtime_seconds"]) for row in summary},
    }
    subject = f"Availability report {month.label}: {len(summary) - len(missed)} of {len(summary)} services met SLO"
    if not report.complete:
        subject += " (month to date)"
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("reports/email.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
    )
    message.attach_alternative(render_to_string("reports/email.html", context), "text/html")
    message.attach(report.filename, data, "application/pdf")
    message.send(fail_silently=False)
    sent = ReportEmail.objects.create(
        report=report,
        recipients=to,
        sha256=sha256_of(data),
        sent_at=timezone.now(),
        sent_by=by if getattr(by, "pk", None) else None,
    )
    audit_record(
        action=Action.REPORT_EMAIL,
        actor=sent.sent_by,
        target=report,
        summary=f"to {', '.join(to)}",
    )
    return sent


def scheduled_report_due(*, now: datetime | None = None) -> Month | None:
    """The month the schedule should report on now, or None.

    Beat calls this hourly; the decision is made here in ``REPORT_TIME_ZONE`` (Celery's
    crontab only knows UTC): on the 1st, from ``REPORT_SCHEDULE_HOUR`` on, last month is
    due unless a scheduled version of it already exists. Running it twice is harmless.
    """
    now = now or timezone.now()
    local = timezone.localtime(now, timezone=selectors.ZoneInfo(selectors.report_time_zone()))
    if local.day != 1 or (local.hour, local.minute) < (settings.REPORT_SCHEDULE_HOUR, settings.REPORT_SCHEDULE_MINUTE):
        return None
    month = Month(local.year, local.month).previous()
    if MonthlyReport.objects.filter(month=month.first_day, trigger=Trigger.SCHEDULED).exists():
        return None
    return month
