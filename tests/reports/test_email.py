"""Emailing the PDF: by command, on the monthly schedule, and through the real worker."""

import hashlib
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from reports import services as report_services
from reports.models import MonthlyReport, ReportEmail
from reports.tasks import generate_report, monthly_report_due
from reports.uptime import Month
from tests.conftest import wait_until
from tests.reports.conftest import MONTH, at, make_incident


def attachment_of(message):
    parts = [part for part in message.iter_attachments() if part.get_content_type() == "application/pdf"]
    assert len(parts) == 1
    return parts[0].get_filename(), parts[0].get_content()


@pytest.mark.django_db
def test_build_report_prints_the_pdf_path_and_emails_the_stored_bytes(report_tz, services, engineer_user, mailbox,
                                                                       settings):  # fmt: skip
    settings.LEADERSHIP_EMAILS = ["ceo@example.com", "cto@example.com"]
    make_incident(by=engineer_user, services=[services["web"]], start=at(10, 10), resolve=at(10, 11))
    out = StringIO()
    call_command("build_report", month=MONTH, email=True, stdout=out, stderr=StringIO())
    report = MonthlyReport.objects.get()
    assert out.getvalue().strip() == report.pdf.path
    messages = mailbox.wait_for(1)
    assert sorted(mailbox.recipients()) == ["ceo@example.com", "cto@example.com"]
    _, message = messages[0]
    assert "March 2025" in message["Subject"] and "1 of 2 services met SLO" in message["Subject"]
    filename, data = attachment_of(message)
    assert filename == "beacon-availability-2025-03-v1.pdf"
    assert hashlib.sha256(data).hexdigest() == report.sha256
    assert open(report.pdf.path, "rb").read() == data  # noqa: SIM115
    assert ReportEmail.objects.get().recipients == ["ceo@example.com", "cto@example.com"]


@pytest.mark.django_db
def test_build_report_refuses_a_bad_month_or_an_empty_leadership_list(report_tz, settings):
    settings.LEADERSHIP_EMAILS = []
    with pytest.raises(CommandError, match="not a month"):
        call_command("build_report", month="2025-13")
    with pytest.raises(CommandError, match="LEADERSHIP_EMAILS"):
        call_command("build_report", month=MONTH, email=True)
    assert not MonthlyReport.objects.exists()


@pytest.mark.django_db
def test_a_tampered_file_is_never_sent(report_tz, mailbox):
    report = services_generate()
    with open(report.pdf.path, "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(report_services.ChecksumMismatch):
        report_services.report_email(report=report, recipients=["ceo@example.com"])
    assert not ReportEmail.objects.exists()


def services_generate():
    return report_services.report_generate(month=Month.parse(MONTH), trigger="command")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("now", "due"),
    [
        (datetime(2025, 4, 1, 5, 0, tzinfo=UTC), None),  # 06:00 BST is 05:00 UTC: just in time
        (datetime(2025, 4, 1, 4, 59, tzinfo=UTC), None),
        (datetime(2025, 4, 1, 5, 5, tzinfo=UTC), "2025-03"),
        (datetime(2025, 4, 1, 22, 0, tzinfo=UTC), "2025-03"),  # a missed hour catches up
        (datetime(2025, 4, 2, 9, 0, tzinfo=UTC), None),
        (datetime(2025, 3, 31, 23, 30, tzinfo=UTC), None),  # already 1 April in London, before 06:05
    ],
)
def test_the_schedule_reports_on_last_month_on_the_1st_in_the_report_time_zone(report_tz, settings, now, due):
    settings.REPORT_SCHEDULE_HOUR, settings.REPORT_SCHEDULE_MINUTE = 6, 5
    month = report_services.scheduled_report_due(now=now)
    assert (str(month) if month else None) == due


@pytest.mark.django_db
def test_the_monthly_task_generates_and_emails_once(report_tz, services, mailbox, settings, monkeypatch,
                                                    django_capture_on_commit_callbacks):  # fmt: skip
    from config.celery import app

    settings.LEADERSHIP_EMAILS = ["board@example.com"]
    settings.REPORT_SCHEDULE_HOUR, settings.REPORT_SCHEDULE_MINUTE = 6, 0
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    monkeypatch.setattr(timezone, "now", lambda: datetime(2025, 4, 1, 7, 0, tzinfo=UTC))
    with django_capture_on_commit_callbacks(execute=True):
        assert monthly_report_due() == "2025-03"
    mailbox.wait_for(1)
    report = MonthlyReport.objects.get()
    assert report.trigger == "scheduled" and report.generated_by is None
    assert mailbox.recipients() == ["board@example.com"]
    with django_capture_on_commit_callbacks(execute=True):
        assert monthly_report_due() is None  # running twice does no harm
    assert MonthlyReport.objects.count() == 1 and len(mailbox.messages) == 1


@pytest.mark.worker
def test_the_worker_generates_the_report_and_emails_the_pdf(worker, mailbox, services, engineer_user, settings):
    make_incident(by=engineer_user, services=[services["payments"]], start=at(4, 9), resolve=at(4, 10))
    generate_report.delay("2025-03", email=True, trigger="scheduled", recipients=["ceo@example.com"])
    messages = mailbox.wait_for(1, timeout=60)
    report = wait_until(lambda: MonthlyReport.objects.filter(emails__isnull=False).first(), message="email recorded")
    _, data = attachment_of(messages[0][1])
    assert hashlib.sha256(data).hexdigest() == report.sha256
    assert mailbox.recipients() == ["ceo@example.com"]
