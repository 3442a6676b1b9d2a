"""PDF rendering with WeasyPrint from the same Report the page shows."""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from .charts import downtime_chart_svg
from .selectors import Report


def report_context(report: Report, **extra) -> dict:
    """What both the HTML preview and the PDF template need besides the report itself."""
    return {
        "report": report,
        "chart_svg": downtime_chart_svg(report),
        "site_name": settings.SITE_NAME,
        "site_url": settings.SITE_URL,
        **extra,
    }


def render_html(report: Report, *, version: int | None = None) -> str:
    return render_to_string("reports/pdf.html", report_context(report, version=version, rendered_at=timezone.now()))


def render_pdf(report: Report, *, version: int | None = None) -> bytes:
    """Render the print template to PDF bytes (fonts from the system, no network access)."""
    from weasyprint import HTML

    html = render_html(report, version=version)
    return HTML(string=html, base_url=settings.SITE_URL).write_pdf()
