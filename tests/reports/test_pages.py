"""Report pages, downloads and the uptime API, through HTTP as users see them."""

import csv
import hashlib
import io
import subprocess

import pytest
from PIL import Image
from pypdf import PdfReader

from reports.models import MonthlyReport
from tests.reports.conftest import MONTH, at, make_incident

pytestmark = pytest.mark.django_db

PAGES = ["/reports/", f"/reports/{MONTH}/", f"/reports/{MONTH}.csv"]


@pytest.fixture
def march(report_tz, services, engineer_user):
    """March 2025 with a Sev 3 raised to Sev 1 on web (1 h) and a Sev 2 on payments (30 min)."""
    web = make_incident(by=engineer_user, services=[services["web"]], title="Checkout returns 502", severity=3,
                        start=at(10, 10), raise_to=(1, at(10, 11)), resolve=at(10, 12))  # fmt: skip
    pay = make_incident(by=engineer_user, services=[services["payments"]], title="Card payments time out",
                        severity=2, start=at(20, 8), resolve=at(20, 8, 30))  # fmt: skip
    return {"web": web, "payments": pay}


@pytest.mark.parametrize("url", [*PAGES, f"/reports/{MONTH}.pdf"])
def test_anonymous_visitors_are_sent_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", [*PAGES, f"/reports/{MONTH}.pdf"])
@pytest.mark.parametrize("persona", ["helpdesk_user", "outsider"])
def test_helpdesk_and_users_without_a_role_get_403(client, request, url, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(url).status_code == 403
    assert client.post(f"/reports/{MONTH}/generate/").status_code == 403
    assert not MonthlyReport.objects.exists()


@pytest.mark.parametrize("url", PAGES)
@pytest.mark.parametrize("persona", ["engineer_user", "leader_user", "admin_user"])
def test_engineers_and_leadership_can_read_reports(client, request, march, url, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(url).status_code == 200


def test_the_uptime_api_needs_the_right_role(client, helpdesk_user, leader_user, engineer_user, march):
    assert client.get(f"/api/v1/uptime/?month={MONTH}").status_code in (401, 403)
    client.force_login(helpdesk_user)
    assert client.get(f"/api/v1/uptime/?month={MONTH}").status_code == 403
    for user in (leader_user, engineer_user):
        client.force_login(user)
        assert client.get(f"/api/v1/uptime/?month={MONTH}").status_code == 200


@pytest.mark.parametrize("month", ["2025-13", "2025-3x", "march"])
def test_a_malformed_month_is_a_clear_400_in_the_api_and_404_on_pages(client, leader_user, month):
    client.force_login(leader_user)
    response = client.get(f"/api/v1/uptime/?month={month}")
    assert response.status_code == 400
    assert "YYYY-MM" in response.json()["month"][0] or "01 to 12" in response.json()["month"][0]
    page = client.get(f"/reports/{month}/")
    assert page.status_code == 404
    assert "is not a month" in page.content.decode()


def test_a_future_month_says_it_has_not_started(client, leader_user):
    client.force_login(leader_user)
    response = client.get("/api/v1/uptime/?month=2999-01")
    assert response.status_code == 404
    assert "has not started yet" in str(response.json())
    page = client.get("/reports/2999-01.pdf")
    assert page.status_code == 404 and "has not started yet" in page.content.decode()
    assert not MonthlyReport.objects.exists()


def test_the_api_page_and_csv_show_the_same_numbers(client, leader_user, march):
    client.force_login(leader_user)
    data = client.get(f"/api/v1/uptime/?month={MONTH}").json()
    rows = {r["service"]: r for r in data["results"]}
    assert set(rows) == {"web", "payments"}
    web = rows["web"]
    assert web["uptime_percent"] == round(100 * (1 - 3600 / (743 * 3600)), 3) == 99.865
    assert web["downtime_seconds"] == 3600
    assert web["incident_count"] == 1
    assert web["http_5xx_outside_incidents"] is None
    assert rows["payments"]["downtime_seconds"] == 1800
    assert {"service", "uptime_percent", "downtime_seconds", "incident_count", "http_5xx_outside_incidents"} <= set(web)

    page = client.get(f"/reports/{MONTH}/").content.decode()
    for row in rows.values():
        assert f"{row['uptime_percent']:.3f} %" in page
    assert march["web"].ticket in page and march["payments"].ticket in page
    assert "no data" in page  # no 5xx series: said, not shown as 0

    reader = csv.reader(io.StringIO(client.get(f"/reports/{MONTH}.csv").content.decode()))
    lines = list(reader)
    header = lines[0]
    csv_rows = {line[1]: dict(zip(header, line, strict=False)) for line in lines[1:] if line and line[0] == "service"}
    for slug, row in rows.items():
        assert float(csv_rows[slug]["uptime_percent"]) == row["uptime_percent"]
        assert int(csv_rows[slug]["downtime_seconds"]) == row["downtime_seconds"]
    assert any(line and line[0] == "incident" and line[2] == march["web"].ticket for line in lines)


def test_the_report_list_shows_one_row_per_month_and_what_was_generated(client, leader_user, march):
    client.force_login(leader_user)
    generate(client, f"/reports/{MONTH}/generate/")
    page = client.get("/reports/").content.decode()
    assert "March 2025" in page and "February 2025" not in page  # history starts in March
    assert "v1" in page and "Lena Director" in page
    assert "not emailed" in page


def run_queued_jobs() -> int:
    """Do the worker's part in process: render every queued report job."""
    from reports import services
    from reports.models import ReportJob

    ids = list(ReportJob.objects.filter(status="queued").values_list("pk", flat=True))
    for pk in ids:
        services.report_job_run(job_id=pk)
    return len(ids)


def download(client, url):
    """A first download queues the rendering (202 + progress page); once rendered, the PDF is served."""
    response = client.get(url)
    if response.status_code == 202:
        assert run_queued_jobs() >= 1
        response = client.get(url)
    return response


def generate(client, url):
    response = client.post(url)
    run_queued_jobs()
    return response


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_the_pdf_is_generated_once_stored_with_its_checksum_and_served_byte_for_byte(client, leader_user, march):
    client.force_login(leader_user)
    queued = client.get(f"/reports/{MONTH}.pdf")
    assert queued.status_code == 202 and "being prepared" in queued.content.decode()
    assert not MonthlyReport.objects.exists()  # nothing rendered inside the request
    run_queued_jobs()
    first = client.get(f"/reports/{MONTH}.pdf")
    assert first.status_code == 200
    assert first["Content-Type"] == "application/pdf"
    body = first.content
    stored = MonthlyReport.objects.get()
    assert stored.version == 1 and stored.trigger == "download" and stored.generated_by == leader_user
    assert hashlib.sha256(body).hexdigest() == stored.sha256 == first["X-Checksum-SHA256"]
    assert download(client, f"/reports/{MONTH}.pdf").content == body  # not regenerated
    assert MonthlyReport.objects.count() == 1

    text = pdf_text(body)
    assert "March 2025" in text
    assert "Web Storefront" in text and "Payments" in text
    assert "99.865 %" in text
    assert march["web"].ticket in text and march["payments"].ticket in text
    assert "Page 1 of" in text


def test_regenerating_makes_a_new_version_and_keeps_the_old(client, engineer_user, march, services):
    client.force_login(engineer_user)
    v1 = download(client, f"/reports/{MONTH}.pdf").content
    make_incident(by=engineer_user, services=[services["web"]], title="Search is empty", severity=1,
                  start=at(25, 9), resolve=at(25, 10))  # fmt: skip
    detail = client.get(f"/reports/{MONTH}/").content.decode()
    assert "changed since version 1" in detail
    response = generate(client, f"/reports/{MONTH}/generate/")
    assert response.status_code == 302
    assert list(MonthlyReport.objects.values_list("version", flat=True)) == [2, 1]
    latest = download(client, f"/reports/{MONTH}.pdf").content
    assert latest != v1
    assert "99.731 %" in pdf_text(latest)  # two hours of 743
    assert client.get(f"/reports/{MONTH}/v1.pdf").content == v1
    assert client.get(f"/reports/{MONTH}/v9.pdf").status_code == 404


def test_pdf_pages_render_to_images_that_are_not_blank(client, leader_user, march, tmp_path):
    client.force_login(leader_user)
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(download(client, f"/reports/{MONTH}.pdf").content)
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(pdf), str(tmp_path / "page")], check=True, timeout=60)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 2
    for path in pages:
        histogram = Image.open(path).convert("L").histogram()  # pixels per grey level 0-255
        dark = sum(histogram[:200])
        assert dark > 500, f"{path.name} looks blank"


def test_the_preview_draws_the_downtime_chart_as_svg(client, leader_user, march):
    client.force_login(leader_user)
    page = client.get(f"/reports/{MONTH}/").content.decode()
    assert "<svg" in page and "Downtime per service" in page
    assert "<script" not in page.split("<svg", 1)[1].split("</svg>", 1)[0]


def test_the_report_list_takes_a_constant_number_of_queries(client, leader_user, march, django_assert_max_num_queries):
    client.force_login(leader_user)
    generate(client, f"/reports/{MONTH}/generate/")
    generate(client, f"/reports/{MONTH}/generate/")
    # Months (3), quarters and years (2 each), groups (2), drafts waiting (1), session and user.
    with django_assert_max_num_queries(13):
        assert client.get("/reports/").status_code == 200


def test_the_first_pdf_page_shows_the_month_the_chart_and_the_start_of_the_summary(client, leader_user, march):
    client.force_login(leader_user)
    pages = PdfReader(io.BytesIO(download(client, f"/reports/{MONTH}.pdf").content)).pages
    first = pages[0].extract_text()
    assert "March 2025" in first and "Downtime per service" in first and "Summary" in first
    assert "Web Storefront" in first and "Page 1 of" in first
    services_text = "\n".join(page.extract_text() for page in pages[1:])
    assert march["web"].ticket in services_text and "Checkout returns 502" in services_text
    assert "Missing" in services_text  # the Sev 1 incident has no postmortem yet


def test_the_pdf_uses_the_lean_stylesheet_and_still_draws_list_bullets():
    """The speed-up relies on a WeasyPrint internal; if an upgrade moves it, this says so (the PDF still renders)."""
    from weasyprint import HTML

    from reports.pdf import _document_class

    document_class = _document_class()
    assert document_class is not HTML and issubclass(document_class, HTML)
    lean = document_class(string="<ul><li>first</li><li>second</li></ul>").write_pdf()
    stock = HTML(string="<ul><li>first</li><li>second</li></ul>").write_pdf()
    assert pdf_text(lean).count("•") == 2
    assert pdf_text(lean) == pdf_text(stock)
