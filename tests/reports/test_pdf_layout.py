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


def trend_table_as_laid_out(report) -> tuple[dict[int, tuple[float, float]], list[dict]]:
    """The PDF's 12-month trend table as WeasyPrint lays it out: the x extent of each column
    (from the heading row) and, per body row, its page, the service name, its chart images
    (columns covered, x extent, SVG elements drawn) and its other cells' text."""
    from weasyprint import HTML

    from reports.pdf import render_html

    document = HTML(string=render_html(report)).render()
    columns: dict[int, tuple[float, float]] = {}
    rows: list[dict] = []

    def text(box) -> str:
        if hasattr(box, "text"):
            return box.text
        return " ".join(t for child in getattr(box, "children", []) if (t := text(child)))

    def images(box):
        if hasattr(box, "replacement"):
            yield box
        for child in getattr(box, "children", []):
            yield from images(child)

    def walk(box, page):
        element = getattr(box, "element", None)
        if type(box).__name__ == "TableBox" and "trend" in (element.get("class") or "").split():
            for group in box.children:
                for row in group.children:
                    if group.is_header:
                        for cell in row.children:
                            columns[cell.grid_x] = (cell.position_x, cell.position_x + cell.margin_width())
                        continue
                    name, *cells = row.children
                    found = {"page": page, "name": text(name), "charts": [], "cells": []}
                    for cell in cells:
                        pictures = list(images(cell))
                        if pictures:
                            (image,) = pictures
                            tags = [node.tag for node in image.replacement._svg.tree]
                            span = (cell.grid_x, cell.grid_x + cell.colspan - 1)
                            found["charts"].append((span, (image.position_x, image.position_x + image.width), tags))
                        else:
                            found["cells"].append((cell.grid_x, text(cell)))
                    rows.append(found)
            return
        for child in getattr(box, "children", []):
            walk(child, page)

    for number, page in enumerate(document.pages, start=1):
        walk(page._page_box, number)
    return columns, rows


@pytest.mark.parametrize("paper", ["A4", "letter"])
def test_the_trend_table_draws_every_services_charts_under_their_headings(busy_month, settings, paper):
    settings.REPORT_PAPER_SIZE = paper.lower()
    Service.objects.create(slug="quiet", name="Quiet service", slo_target="99.9")  # no incident all year
    report = selectors.monthly_report(month=Quarter(2025, 1), with_trends=True)
    columns, rows = trend_table_as_laid_out(report)

    # One whole row per service (a row split over two pages would show up twice, once nameless).
    assert sorted(row["name"] for row in rows) == sorted(s.name for s in report.services)
    for row in rows:
        covered = sorted(c for (first, last), _, _ in row["charts"] for c in range(first, last + 1))
        covered += [column for column, _ in row["cells"][:-1]]
        assert sorted(covered) == [1, 2, 3, 4], row  # uptime, downtime, incidents, MTTR
        assert row["cells"][-1][0] == 5 and row["cells"][-1][1] in {"improving", "worsening", "steady", "unknown"}
        for (first, last), (left, right), tags in row["charts"]:
            # The charts fill exactly the columns they are drawn for: none runs into the next column.
            assert left == pytest.approx(columns[first][0], abs=0.5), row
            assert right == pytest.approx(columns[last][1], abs=0.5), row
            assert "path" in tags, row

    busy = next(row for row in rows if row["name"] == "Service 03")
    assert [span for span, _, _ in busy["charts"]] == [(1, 4)] and busy["cells"][:-1] == []
    # No incident in twelve months: uptime, downtime and incidents are drawn, MTTR says so in words.
    quiet = next(row for row in rows if row["name"] == "Quiet service")
    assert [span for span, _, _ in quiet["charts"]] == [(1, 3)] and quiet["cells"][:-1] == [(4, "no data")]
    text = "\n".join(pages_text(render_pdf(report)))
    assert re.search(r"Quiet service\s+no data\s+(steady|unknown)", text), text
