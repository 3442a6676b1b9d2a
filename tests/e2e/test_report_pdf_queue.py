"""A leader asks for a PDF: the request returns at once, the worker renders, the page updates itself."""

import pytest

from reports.models import MonthlyReport, ReportJob
from tests.conftest import browser_login, save_artifact, wait_until
from tests.reports.conftest import MONTH, at, make_incident

pytestmark = [pytest.mark.e2e, pytest.mark.worker]


@pytest.fixture
def march(worker, services, engineer_user, settings):
    settings.REPORT_TIME_ZONE = "UTC"
    make_incident(by=engineer_user, services=[services["web"]], start=at(10, 10), resolve=at(10, 11))


def test_generating_a_version_is_queued_and_the_page_updates_itself_when_the_pdf_is_ready(page, leader_user, march):
    browser_login(page, leader_user)
    page.goto(f"/reports/{MONTH}/")
    assert "No version stored yet" in page.content()
    page.click("text=Generate new version")
    page.wait_for_selector("[data-job-url]")  # the request came back before any rendering
    job = ReportJob.objects.get()
    assert job.trigger == "manual"
    # The page polls the job and reloads itself once the worker has stored the version.
    page.wait_for_selector("text=v1", timeout=90_000)
    page.wait_for_function("() => !document.querySelector('[data-job-url]')", timeout=90_000)
    save_artifact(page, "report-generated-by-worker")
    version = MonthlyReport.objects.get()
    job.refresh_from_db()
    assert job.status == "done" and job.progress == 100 and job.report_id == version.pk
    assert version.generated_by == leader_user


def test_a_first_download_shows_progress_then_the_pdf(page, client, leader_user, march):
    client.force_login(leader_user)
    response = client.get(f"/reports/{MONTH}.pdf")
    assert response.status_code == 202 and "being prepared" in response.content.decode()
    job = ReportJob.objects.get()
    wait_until(lambda: ReportJob.objects.get(pk=job.pk).status == "done", timeout=90, message="the worker rendered")
    pdf = client.get(f"/reports/{MONTH}.pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    status = client.get(f"/reports/jobs/{job.pk}/").json()
    assert status["progress"] == 100 and status["pdf_url"].endswith("/v1.pdf")
