"""Thin tasks: take ids or month strings, call a service. Retries are declared here."""

import logging
import smtplib

from celery import shared_task
from django.contrib.auth import get_user_model

from . import services
from .choices import Trigger
from .models import MonthlyReport
from .uptime import Month

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
def generate_report(
    month: str, email: bool = False, trigger: str = Trigger.SCHEDULED, recipients: list[str] | None = None
) -> int:
    """Generate a new version of ``month`` (YYYY-MM); queue its email after commit if asked.

    ``recipients`` default to ``LEADERSHIP_EMAILS``.
    """
    # report_generate commits its own row; rendering must not hold a transaction open.
    report = services.report_generate(month=Month.parse(month), trigger=trigger)
    if email:
        email_report.delay(report.pk, recipients=recipients)
    return report.pk


@shared_task
def monthly_report_due() -> str | None:
    """Hourly from beat: on the 1st (after the configured local time) report on last month."""
    month = services.scheduled_report_due()
    if month is None:
        return None
    logger.info("Generating the scheduled %s availability report", month)
    generate_report(str(month), email=True, trigger=Trigger.SCHEDULED)
    return str(month)
