"""The PDF reads well: money with its currency, no unit split over two lines, no heading left
alone at the bottom of a page, on A4 and on Letter."""

import io
import re
from datetime import timedelta

import pytest
from pypdf import PdfReader

from incidents.models import Service
from reports import selectors
from reports.pdf import render_pdf
from reports.uptime import Month, Quarter
from tests.reports.conftest import at, make_incident

pytestmark = pytest.mark.django_db


def summary_cells_over_one_line(report) -> list[str]:
    """Laid out by WeasyPrint (the PDF's own layout): summary cells other than the service name and
    the 5xx column that take more than one line."""
    from weasyprint import HTML

    from reports.pdf import render_html

    document = HTML(string=render_html(report)).render()
    found = []

    def walk(box, in_summary=False):
        element = getattr(box, "element", None)
        classes = (element.get("class") or "") if element is not None else ""
        if type(box).__name__ == "TableBox":
            in_summary = "sum" in classes.split()
        if (
            in_summary
            and type(box).__name__ == "TableCellBox"
            and box.element_tag == "td"
            and "r" in classes.split()
            and "w" not in classes.split()
        ):
            lines = [child for child in box.children if type(child).__name__ == "LineBox"]
            if len(lines) > 1:
                found.append(" / ".join("".join(t.text for t in line.children if hasattr(t, "text")) for line in lines))
        for child in getattr(box, "children", []):
            walk(child, in_summary)

    for page in document.pages:
        walk(page._page_box)
    return found


def pages_text(data: bytes) -> list[str]:
    return [page.extract_text().replace("\xa0", " ") for page in PdfReader(io.BytesIO(data)).pages]


@pytest.fixture
def busy_month(report_tz, engineer_user):
    """Twenty services, each with a few incidents of awkward lengths (2 h 05 min and the like)."""
    services = [Service.objects.create(slug=f"svc-{i:02d}", name=f"Service {i:02d}", slo_target="99.9")
                for i in range(20)]  # fmt: skip
    for i, service in enumerate(services):
        for k in range(1 + i % 4):
            start = at(2 + k * 5, 8) + timedelta(hours=i)
            make_incident(by=engineer_user, services=[service], title=f"Incident {i}-{k}", severity=1 + k % 2,
                          start=start, resolve=start + timedelta(minutes=125 + i))  # fmt: skip
    return services


def test_money_in_the_pdf_carries_its_currency(report_tz, services, settings):
    from tests.automation.conftest import make_job, make_run

    settings.AUTOMATION_CURRENCY = "$"
    job = make_job("deploy", minutes="60", cost="150")
    make_run(job, started=at(4, 9))
    text = "\n".join(pages_text(render_pdf(selectors.monthly_report(month=Month(2025, 3)))))
    assert re.search(r"worth \$150", text), text[-800:]


@pytest.mark.parametrize("paper", ["A4", "letter"])
def test_units_never_wrap_and_no_service_heading_ends_a_page(busy_month, settings, paper):
    settings.REPORT_PAPER_SIZE = paper.lower()
    data = render_pdf(selectors.monthly_report(month=Quarter(2025, 1), with_trends=True))
    reader = PdfReader(io.BytesIO(data))
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == ((595, 842) if paper == "A4" else (612, 792))
    assert summary_cells_over_one_line(selectors.monthly_report(month=Quarter(2025, 1), with_trends=True)) == []
    texts = pages_text(data)
    for page in texts:
        lines = [line for line in page.splitlines() if line.strip()]
        body = [line for line in lines if not line.startswith(("Beacon", "Page "))]
        assert not re.fullmatch(r"Service \d\d · SLO (met|missed)", body[-1].strip()), body[-3:]
    joined = "\n".join(texts)
    for duration in re.findall(r"\d+ h \d\d min", joined):
        assert "\n" not in duration
    assert not re.search(r"\d+ h\n\d\d min", joined) and not re.search(r"\d+\.\d{3}\n%", joined)
