"""Thin tasks: take ids or period strings, call a service. Retries are declared here."""

import logging
import smtplib

from celery import shared_task
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from . import services
from .choices import Trigger
from .models import MonthlyReport
from .uptime import parse_period

logger = logging.getLogger(__name__)


@shared_task(
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
)
def email_report(report_id: int, recipients: list[str] | None = None, by_id: int | None = None) -> int:
    report = MonthlyReport.objects.get(pk=report_id)
    by = get_user_model().objects.filter(pk=by_id).first() if by_id else None
    sent = services.report_email(report=report, recipients=recipients, by=by)
    return len(sent.recipients)


@shared_task
def run_report_job(job_id: int) -> int | None:
    """Render a queued PDF (the page shows its progress); a job already run is left alone."""
    job = services.report_job_run(job_id=job_id)
    return job.report_id if job else None


@shared_task
def generate_report(
    month: str,
    email: bool = False,
    trigger: str = Trigger.SCHEDULED,
    recipients: list[str] | None = None,
    group: str = "",
) -> int:
    """Generate a new version of ``month`` (any period key); queue its email after commit if asked.

    ``recipients`` default to ``LEADERSHIP_EMAILS``.
    """
    from .selectors import service_group

    # report_generate commits its own row; rendering must not hold a transaction open.
    report = services.report_generate(month=parse_period(month), group=service_group(group), trigger=trigger)
    if email:
        email_report.delay(report.pk, recipients=recipients)
    return report.pk


@shared_task(
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
)
def scheduled_send(period: str, group: str = "", recipients: list[str] | None = None) -> int | None:
    try:
        report = services.scheduled_send(period=parse_period(period), group_slug=group, recipients=recipients)
    except ValidationError as exc:
        logger.error("Scheduled report %s %s not sent: %s", period, group or "(all services)", " ".join(exc.messages))
        return None
    return report.pk


@shared_task
def monthly_report_due() -> str | None:
    """Hourly from beat: on the 1st (after the configured local time) report on last month, per group."""
    due = services.scheduled_sends_due()
    for period, group, recipients in due:
        logger.info("Generating the scheduled %s availability report %s", period, group or "(all services)")
        scheduled_send(str(period), group, recipients)
    return ", ".join(f"{period}{'/' + group if group else ''}" for period, group, _to in due) or None
