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
from .choices import JobStatus, ReviewState, Trigger
from .models import MonthlyReport, ReportEmail, ReportJob, ServiceGroup
from .pdf import render_pdf
from .uptime import Month, Period, Quarter, Year, parse_period

logger = logging.getLogger(__name__)


class ChecksumMismatch(Exception):
    """The stored file no longer matches its recorded SHA-256: refuse to send or serve it."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def report_generate(
    *,
    month: Period,
    group: ServiceGroup | None = None,
    by=None,
    trigger: str = Trigger.MANUAL,
    now: datetime | None = None,
    only_if_missing: bool = False,
    draft: bool = False,
    recipients: list[str] | None = None,
    progress=None,
) -> MonthlyReport:
    """Render the period's report (optionally one group's) to PDF and store it as the next version.

    Rendering (seconds) happens outside any transaction; only the version number and the
    row are written inside one. With ``only_if_missing`` (first download), a version made
    meanwhile by someone else wins and ours is discarded, so a burst of first downloads
    yields one version. ``draft`` stores it waiting for approval (review before sending),
    with the ``recipients`` it will go to. ``progress(percent, step)`` is told how far it got.
    """
    now = now or timezone.now()
    report_progress = progress or (lambda percent, step: None)
    group_slug = group.slug if group else ""
    report_progress(10, "computing figures")
    report = selectors.monthly_report(month=month, now=now, group=group, with_trends=True)
    for _attempt in range(3):
        if only_if_missing:
            existing = selectors.latest_version(month, group_slug)
            if existing:
                return existing
        version = (
            MonthlyReport.objects.filter(period=str(month), group=group_slug).aggregate(v=Max("version"))["v"] or 0
        ) + 1
        report_progress(40, "rendering the PDF")
        data = render_pdf(report, version=version)
        report_progress(90, "storing")
        digest = sha256_of(data)
        row = MonthlyReport(
            month=month.first_day,
            period=str(month),
            group=group_slug,
            version=version,
            sha256=digest,
            size=len(data),
            time_zone=report.time_zone,
            complete=report.complete,
            trigger=trigger,
            generated_by=by if getattr(by, "pk", None) else None,
            generated_at=now,
            summary=report.api_rows(),
            review_state=ReviewState.DRAFT if draft else ReviewState.NONE,
            recipients=recipients or [],
        )
        group_part = f"-{group_slug}" if group_slug else ""
        name = f"beacon-availability-{month}{group_part}-v{version}-{digest[:12]}.pdf"
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


def report_job_queue(
    *, month: Period, group: ServiceGroup | None = None, by=None, trigger: str = Trigger.MANUAL, email: bool = False
) -> ReportJob:
    """Queue the PDF rendering to the worker; a job already queued or running for it is reused.

    The web request only writes this row; the worker renders (``report_job_run``) and the
    page polls the job's progress.
    """
    from .tasks import run_report_job

    group_slug = group.slug if group else ""
    with transaction.atomic():
        existing = selectors.active_job(month, group_slug)
        if existing is not None and not email:
            return existing
        job = ReportJob.objects.create(
            period=str(month),
            group=group_slug,
            trigger=trigger,
            requested_by=by if getattr(by, "pk", None) else None,
            requested_at=timezone.now(),
            email=email,
        )
        transaction.on_commit(lambda: run_report_job.delay(job.pk))
    return job


def report_job_run(*, job_id: int) -> ReportJob | None:
    """Render the job's report (worker side), recording progress; a finished job is left alone."""
    claimed = ReportJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, progress=5, step="starting"
    )
    job = ReportJob.objects.filter(pk=job_id).select_related("requested_by").first()
    if job is None or not claimed:
        return job

    def progress(percent: int, step: str) -> None:
        ReportJob.objects.filter(pk=job_id).update(progress=percent, step=step)

    try:
        group = selectors.service_group(job.group) if job.group else None
        only_if_missing = job.trigger == Trigger.DOWNLOAD
        report = report_generate(
            month=parse_period(job.period),
            group=group,
            by=job.requested_by,
            trigger=job.trigger,
            only_if_missing=only_if_missing,
            progress=progress,
        )
    except Exception as exc:
        ReportJob.objects.filter(pk=job_id).update(
            status=JobStatus.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    ReportJob.objects.filter(pk=job_id).update(
        status=JobStatus.DONE, progress=100, step="ready", report=report, finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job


def report_approve(*, report: MonthlyReport, by) -> MonthlyReport:
    """A reader approves a draft: recorded (who, when), then it is emailed to its recipients."""
    from .tasks import email_report

    with transaction.atomic():
        locked = MonthlyReport.objects.select_for_update().get(pk=report.pk)
        if locked.review_state != ReviewState.DRAFT:
            raise ValidationError({"report": "This version is not waiting for approval."})
        locked.review_state = ReviewState.APPROVED
        locked.approved_by = by
        locked.approved_at = timezone.now()
        locked.save(update_fields=["review_state", "approved_by", "approved_at"])
        recipients = locked.recipients or None
        transaction.on_commit(lambda: email_report.delay(locked.pk, recipients=recipients, by_id=by.pk))
    return locked


def reports_mark_out_of_date(*, start: datetime, end: datetime, now: datetime | None = None) -> int:
    """Mark every stored version (month, quarter or year; any group) overlapping ``[start, end]`` out of date.

    Called by the incident services whenever the past changes. Periods are taken in each
    version's own time zone; one query finds the candidates, one marks them. The preview
    cache keys on these marks too, so the page recomputes.
    """
    now = now or timezone.now()
    first = Year.containing(start, "UTC").previous().first_day  # slack for any zone
    last = Month.containing(end, "UTC").next().first_day
    ids = []
    for pk, period, month, tz in MonthlyReport.objects.filter(
        month__gte=first, month__lte=last, out_of_date_since__isnull=True
    ).values_list("pk", "period", "month", "time_zone"):
        try:
            span = parse_period(period) if period else Month(month.year, month.month)
        except ValueError:
            continue
        period_start, period_end = span.bounds(tz)
        if start < period_end and end >= period_start:
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
    month = parse_period(report.month_key)
    summary = report.summary or []
    missed = [row for row in summary if not row.get("slo_met")]
    query = f"?group={report.group}" if report.group else ""
    context = {
        "report": report,
        "month": month,
        "rows": summary,
        "missed": missed,
        "url": settings.SITE_URL + reverse("reports:detail", kwargs={"month": str(month)}) + query,
        "pdf_url": settings.SITE_URL + reverse("reports:pdf", kwargs={"month": str(month)}) + query,
        "site_name": settings.SITE_NAME,
        "durations": {row["service"]: formatting.duration(row["downtime_seconds"]) for row in summary},
    }
    group = ServiceGroup.objects.filter(slug=report.group).first() if report.group else None
    title = f"{month.label} · {group.name}" if group else month.label
    context["title"] = title
    subject = f"Availability report {title}: {len(summary) - len(missed)} of {len(summary)} services met SLO"
    if not report.complete:
        subject += f" ({month.kind_label} to date)"
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
    if MonthlyReport.objects.filter(period=str(month), group="", trigger=Trigger.SCHEDULED).exists():
        return None
    return month


def scheduled_sends_due(*, now: datetime | None = None) -> list[tuple[Period, str, list[str] | None]]:
    """Every (period, group slug, recipients) the schedule owes now: one send per group.

    Last month to ``LEADERSHIP_EMAILS`` (all services) and to each group that has its own
    recipients; on the first day of a quarter, last quarter as well. A (period, group) with a
    scheduled version already stored is not due again, so running this twice is harmless.
    """
    now = now or timezone.now()
    local = timezone.localtime(now, timezone=selectors.ZoneInfo(selectors.report_time_zone()))
    if local.day != 1 or (local.hour, local.minute) < (settings.REPORT_SCHEDULE_HOUR, settings.REPORT_SCHEDULE_MINUTE):
        return []
    periods: list[Period] = [Month(local.year, local.month).previous()]
    if local.month in (1, 4, 7, 10) and settings.REPORT_QUARTERLY:
        periods.append(Quarter.containing(now, selectors.report_time_zone()).previous())
    targets: list[tuple[str, list[str] | None]] = [("", None)]
    targets += [(g.slug, g.recipient_list) for g in ServiceGroup.objects.all() if g.recipient_list]
    done = set(
        MonthlyReport.objects.filter(period__in=[str(p) for p in periods], trigger=Trigger.SCHEDULED).values_list(
            "period", "group"
        )
    )
    return [(p, slug, to) for p in periods for slug, to in targets if (str(p), slug) not in done]


def scheduled_send(*, period: Period, group_slug: str = "", recipients: list[str] | None = None) -> MonthlyReport:
    """Generate one scheduled report; email it now, or store it as a draft when review is required.

    With ``REPORT_REVIEW_REQUIRED`` the readers are told a draft waits (an email with a link,
    no attachment); a reader's approval (``report_approve``) then sends it.
    """
    from .tasks import email_report

    group = selectors.service_group(group_slug) if group_slug else None
    to = report_recipients(recipients)
    if settings.REPORT_REVIEW_REQUIRED:
        report = report_generate(month=period, group=group, trigger=Trigger.SCHEDULED, draft=True, recipients=to)
        report_draft_announce(report=report)
        return report
    report = report_generate(month=period, group=group, trigger=Trigger.SCHEDULED, recipients=to)
    transaction.on_commit(lambda: email_report.delay(report.pk, recipients=to))
    return report


def report_reviewers() -> list[str]:
    """Who is told a draft waits: ``REPORT_REVIEWERS``, else every active leadership member with an address."""
    if settings.REPORT_REVIEWERS:
        return list(settings.REPORT_REVIEWERS)
    from django.contrib.auth import get_user_model

    return sorted(
        set(
            get_user_model()
            .objects.filter(is_active=True, groups__name="leadership")
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )


def report_draft_announce(*, report: MonthlyReport) -> int:
    """Tell the readers that a draft waits for approval (no attachment: it is not sent yet)."""
    reviewers = report_reviewers()
    if not reviewers:
        logger.warning("%s waits for approval but nobody is set to review it (REPORT_REVIEWERS).", report)
        return 0
    query = f"?group={report.group}" if report.group else ""
    url = settings.SITE_URL + reverse("reports:detail", kwargs={"month": report.month_key}) + query
    context = {"report": report, "url": url, "recipients": report.recipients, "site_name": settings.SITE_NAME}
    message = EmailMultiAlternatives(
        subject=f"To review before sending: availability report {report.month_key}"
        + (f" ({report.group})" if report.group else ""),
        body=render_to_string("reports/review_email.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=reviewers,
    )
    message.send(fail_silently=False)
    return len(reviewers)
