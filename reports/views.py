"""Report pages: thin views over ``selectors`` (reads) and ``services`` (generate, email)."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views import View

from audit.choices import Action
from audit.services import audit_record

from . import selectors, services
from .choices import Trigger
from .formatting import duration
from .models import MonthlyReport
from .pdf import report_context
from .uptime import BadMonth, Month


class ReportAccessMixin:
    """Report pages; who may read them is the ``read_reports`` rule (config.access)."""


def month_or_404(text: str) -> Month:
    """The month in a URL, or a 404 that says what is wrong with it."""
    try:
        month = Month.parse(text)
        selectors.check_month(month)
    except (BadMonth, selectors.FutureMonth) as exc:
        raise Http404(str(exc)) from None
    return month


class ReportListView(ReportAccessMixin, View):
    def get(self, request):
        entries = selectors.report_months()
        return render(
            request,
            "reports/report_list.html",
            {"entries": entries, "time_zone": selectors.report_time_zone(), "last": selectors.last_complete_month()},
        )


class ReportDetailView(ReportAccessMixin, View):
    def get(self, request, month: str):
        month_obj = month_or_404(month)
        report = selectors.monthly_report(month=month_obj)
        versions = selectors.report_versions(month_obj)
        latest = versions[0] if versions else None
        stale = bool(latest) and latest.summary != report.api_rows()
        context = report_context(report, versions=versions, latest=latest, stale=stale, month=month_obj)
        return render(request, "reports/report_detail.html", context)


class ReportGenerateView(ReportAccessMixin, View):
    """POST: store a new version (older ones stay); with ``email=1`` also send it to leadership."""

    def post(self, request, month: str):
        month_obj = month_or_404(month)
        version = services.report_generate(month=month_obj, by=request.user, trigger=Trigger.MANUAL)
        messages.success(request, f"Generated version {version.version} of the {month_obj.label} report.")
        if request.POST.get("email"):
            return _queue_email(request, version)
        return redirect("reports:detail", month=str(month_obj))


class ReportEmailView(ReportAccessMixin, View):
    """POST: email the latest stored version to the leadership list (sent by the worker)."""

    def post(self, request, month: str):
        month_obj = month_or_404(month)
        version = selectors.latest_version(month_obj)
        if version is None:
            messages.error(request, "Generate the report before emailing it.")
            return redirect("reports:detail", month=str(month_obj))
        return _queue_email(request, version)


def _queue_email(request, version: MonthlyReport):
    from .tasks import email_report

    try:
        recipients = services.report_recipients(None)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        transaction.on_commit(lambda: email_report.delay(version.pk, recipients=recipients, by_id=request.user.pk))
        messages.success(request, f"Version {version.version} is being emailed to {', '.join(recipients)}.")
    return redirect("reports:detail", month=version.month_key)


def _pdf_response(request, version: MonthlyReport) -> HttpResponse:
    try:
        data = services.report_bytes(version)
    except FileNotFoundError:
        raise Http404(f"The stored file of {version} is missing; generate a new version.") from None
    audit_record(action=Action.REPORT_DOWNLOAD, target=version, summary="PDF", request=request)
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{version.filename}"'
    response["X-Checksum-SHA256"] = version.sha256
    return response


class ReportPdfView(ReportAccessMixin, View):
    """The latest stored PDF; the first request for a month generates version 1."""

    def get(self, request, month: str):
        month_obj = month_or_404(month)
        version = selectors.latest_version(month_obj) or services.report_generate(
            month=month_obj, by=request.user, trigger=Trigger.DOWNLOAD, only_if_missing=True
        )
        return _pdf_response(request, version)


class ReportVersionPdfView(ReportAccessMixin, View):
    def get(self, request, month: str, version: int):
        month_obj = month_or_404(month)
        row = MonthlyReport.objects.filter(month=month_obj.first_day, version=version).first()
        if row is None:
            raise Http404(f"There is no version {version} of the {month_obj.label} report.")
        return _pdf_response(request, row)


SERVICE_COLUMNS = [
    "service",
    "service_name",
    "uptime_percent",
    "slo_target",
    "slo_met",
    "error_budget_used_percent",
    "previous_uptime_percent",
    "change_from_previous_month",
    "downtime_seconds",
    "incident_count",
    "mttr_seconds",
    "http_5xx_outside_incidents",
    "http_5xx_coverage_percent",
    "postmortems_missing",
    "maintenance_seconds",
]


class ReportCsvView(ReportAccessMixin, View):
    """Per-service numbers, then the incident list, in one spreadsheet-friendly file."""

    def get(self, request, month: str):
        month_obj = month_or_404(month)
        report = selectors.monthly_report(month=month_obj)
        audit_record(
            action=Action.REPORT_DOWNLOAD, object_type="reports.MonthlyReport", object_repr=f"{month_obj} report",
            summary="CSV", request=request,
        )  # fmt: skip
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="beacon-availability-{month_obj}.csv"'
        writer = csv.writer(response)
        writer.writerow(["section", *SERVICE_COLUMNS])
        for row in report.api_rows():
            writer.writerow(["service", *("" if row[c] is None else row[c] for c in SERVICE_COLUMNS)])
        writer.writerow([])
        writer.writerow(
            ["section", "service", "ticket", "title", "severity", "status", "started_at", "resolved_at",
             "sev12_seconds", "sev12_time", "postmortem", "url"]
        )  # fmt: skip
        for service in report.services:
            for i in service.incidents:
                writer.writerow(
                    ["incident", service.slug, i.ticket, i.title, i.severity, i.status, i.started_at.isoformat(),
                     i.resolved_at.isoformat() if i.resolved_at else "", round(i.outage_seconds),
                     duration(i.outage_seconds), i.postmortem, request.build_absolute_uri(i.url)]
                )  # fmt: skip
        return response
