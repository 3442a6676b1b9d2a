"""PDF rendering with WeasyPrint from the same Report the page shows."""

from __future__ import annotations

import re
from functools import cache

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation

from .charts import downtime_chart_svg
from .selectors import Report


def report_context(report: Report, **extra) -> dict:
    """What both the HTML preview and the PDF template need besides the report itself."""
    return {
        "report": report,
        "chart_svg": downtime_chart_svg(report),
        "paper_size": "letter" if settings.REPORT_PAPER_SIZE == "letter" else "A4",
        "site_name": settings.SITE_NAME,
        "site_url": settings.SITE_URL,
        **extra,
    }


def render_html(report: Report, *, version: int | None = None) -> str:
    """The PDF's HTML, in ``REPORT_LANGUAGE`` (the stored PDF is the one that was emailed)."""
    with translation.override(settings.REPORT_LANGUAGE):
        return render_to_string("reports/pdf.html", report_context(report, version=version, rendered_at=timezone.now()))


@cache
def _document_class():
    """WeasyPrint's ``HTML`` with a leaner user-agent stylesheet, or plain ``HTML`` if that is not possible.

    The stock stylesheet has universal pseudo-element rules (``::marker``, ``::footnote-call``,
    ``::note-*`` …), so WeasyPrint computes six extra styles for *every* element: with ~20,000
    table cells in a busy month that is a large share of the cascade. The report has list
    markers only on ``li`` and uses no footnotes, so scoping ``::marker`` to ``li`` and dropping
    the note rules changes nothing on the page. ``_ua_stylesheets`` is not public API: should a
    WeasyPrint upgrade move it, the report falls back to the stock stylesheet (slower, same look).
    """
    from weasyprint import CSS, HTML

    try:
        from weasyprint.css.counters import CounterStyle
        from weasyprint.html import UA
    except ImportError:
        return HTML
    if not callable(getattr(HTML, "_ua_stylesheets", None)) or "\n::marker {" not in UA:
        return HTML
    lean = UA.replace("\n::marker {", "\nli::marker {")
    lean = re.sub(r"\n::(?:footnote|note)-[a-z]+ \{[^}]*\}", "", lean)
    # Its @counter-style rules are already in WeasyPrint's shared counter styles (which
    # documents copy); parsing them into that object again would only log warnings.
    sheet = CSS(string=lean, counter_style=CounterStyle())

    class ReportHTML(HTML):
        def _ua_stylesheets(self, forms=False):
            return [sheet]

    return ReportHTML


def warm_up() -> None:
    """Load WeasyPrint, its stylesheet and the system's fonts now rather than in the first
    report a process renders (~1.5 s): Celery workers call it when they start."""
    _document_class()(string="<p>Beacon</p>").write_pdf()


def render_pdf(report: Report, *, version: int | None = None) -> bytes:
    """Render the print template to PDF bytes (fonts from the system, no network access)."""
    html = render_html(report, version=version)
    return _document_class()(string=html, base_url=settings.SITE_URL).write_pdf()
