"""Review before sending (REPORT_REVIEW_REQUIRED): draft, readers told, one approves, then it is emailed."""

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from reports.models import MonthlyReport, ReportEmail
from reports.tasks import monthly_report_due
from tests.reports.conftest import at, make_incident

pytestmark = pytest.mark.django_db


@pytest.fixture
def first_of_april(report_tz, settings, monkeypatch, services, engineer_user):
    from config.celery import app

    settings.LEADERSHIP_EMAILS = ["board@example.com"]
    settings.REPORT_SCHEDULE_HOUR, settings.REPORT_SCHEDULE_MINUTE = 6, 0
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    monkeypatch.setattr(timezone, "now", lambda: datetime(2025, 4, 1, 7, 0, tzinfo=UTC))
    make_incident(by=engineer_user, services=[services["web"]], start=at(10, 10), resolve=at(10, 11))


def test_with_review_required_the_scheduled_report_waits_as_a_draft_and_readers_are_told(
    first_of_april, settings, mailbox, leader_user, django_capture_on_commit_callbacks
):
    settings.REPORT_REVIEW_REQUIRED = True
    with django_capture_on_commit_callbacks(execute=True):
        assert monthly_report_due() == "2025-03"
    draft = MonthlyReport.objects.get()
    assert draft.is_draft and draft.recipients == ["board@example.com"]
    messages = mailbox.wait_for(1)
    assert mailbox.recipients() == [leader_user.email]
    subject = messages[0][1]["Subject"]
    assert "review" in subject.lower() and "2025-03" in subject
    assert not any(p.get_content_type() == "application/pdf" for p in messages[0][1].iter_attachments())
    assert not ReportEmail.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert monthly_report_due() is None  # a draft is not made twice


def test_a_reader_approves_the_draft_which_records_who_and_sends_it(
    first_of_april, settings, mailbox, client, leader_user, django_capture_on_commit_callbacks
):
    settings.REPORT_REVIEW_REQUIRED = True
    with django_capture_on_commit_callbacks(execute=True):
        monthly_report_due()
    mailbox.wait_for(1)
    mailbox.clear()
    client.force_login(leader_user)
    page = client.get("/reports/2025-03/").content.decode()
    assert "Waiting for approval" in page and "Approve and send" in page
    assert "Email v1 to leadership" not in page  # a draft cannot be sent around the review
    assert client.post("/reports/2025-03/email/").status_code == 302 and not ReportEmail.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/reports/2025-03/v1/approve/")
    assert response.status_code == 302
    report = MonthlyReport.objects.get()
    assert report.review_state == "approved" and report.approved_by == leader_user and report.approved_at
    mailbox.wait_for(1)
    assert mailbox.recipients() == ["board@example.com"]
    assert ReportEmail.objects.get().sha256 == report.sha256
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/reports/2025-03/v1/approve/")  # approving twice sends nothing more
    assert ReportEmail.objects.count() == 1


def test_helpdesk_cannot_approve(first_of_april, settings, client, helpdesk_user, django_capture_on_commit_callbacks):
    settings.REPORT_REVIEW_REQUIRED = True
    settings.REPORT_REVIEWERS = ["reviewer@example.com"]
    with django_capture_on_commit_callbacks(execute=True):
        monthly_report_due()
    client.force_login(helpdesk_user)
    assert client.post("/reports/2025-03/v1/approve/").status_code == 403
    assert MonthlyReport.objects.get().is_draft


def test_without_the_setting_the_scheduled_report_is_emailed_at_once(
    first_of_april, mailbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        monthly_report_due()
    mailbox.wait_for(1)
    assert mailbox.recipients() == ["board@example.com"]
    assert MonthlyReport.objects.get().review_state == ""
