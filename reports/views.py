"""Report pages: thin views over ``selectors`` (reads) and ``services`` (queue, approve, email).

Periods are ``YYYY-MM``, ``YYYY-QN`` or ``YYYY``; ``?group=<slug>`` narrows any page, PDF
or CSV to a service group. No view renders a PDF: rendering is queued to the worker and the
page shows its progress.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View

from audit.choices import Action
from audit.services import audit_record
from config import spreadsheet

from . import selectors, services
from .choices import Trigger
from .formatting import duration
from .models import MonthlyReport, ReportJob
from .pdf import report_context
from .uptime import BadPeriod, Period, parse_period


class ReportAccessMixin:
    """Report pages; who may read them is the ``read_reports`` rule (config.access)."""


def month_or_404(text: str) -> Period:
    """The period in a URL, or a 404 that says what is wrong with it."""
    try:
        period = parse_period(text)
        selectors.check_month(period)
    except (BadPeriod, selectors.FutureMonth) as exc:
        raise Http404(str(exc)) from None
    return period


def group_or_404(request):
    """``?group=<slug>`` or None; an unknown slug is a 404 naming the parameter."""
    try:
        return selectors.service_group(request.GET.get("group") or request.POST.get("group") or "")
    except selectors.UnknownGroup as exc:
        raise Http404(f"group: {exc}") from None


def _detail_url(period, group) -> str:
    url = reverse("reports:detail", kwargs={"month": str(period)})
    return f"{url}?group={group.slug}" if group else url


class ReportListView(ReportAccessMixin, View):
    def get(self, request):
        return render(
            request,
            "reports/report_list.html",
            {
                "entries": selectors.report_months(),
                "quarters": selectors.report_periods(kind="quarter"),
                "years": selectors.report_periods(kind="year", count=5),
                "groups": list(selectors.ServiceGroup.objects.prefetch_related("services")),
                "drafts": selectors.drafts_waiting(),
                "time_zone": selectors.report_time_zone(),
                "last": selectors.last_complete_month(),
            },
        )


class ReportDetailView(ReportAccessMixin, View):
    def get(self, request, month: str):
        period = month_or_404(month)
        group = group_or_404(request)
        report = selectors.report_preview(month=period, group=group)
        versions = selectors.report_versions(period, group.slug if group else "")
        latest = versions[0] if versions else None
        stale = bool(latest) and latest.summary != report.api_rows()
        context = report_context(
            report,
            versions=versions,
            latest=latest,
            stale=stale,
            month=period,
            group=group,
            groups=list(selectors.ServiceGroup.objects.all()),
            job=selectors.active_job(period, group.slug if group else ""),
            query=f"?group={group.slug}" if group else "",
        )
        return render(request, "reports/report_detail.html", context)


class ReportGenerateView(ReportAccessMixin, View):
    """POST: queue a new version (older ones stay); with ``email=1`` the worker also sends it."""

    def post(self, request, month: str):
        period = month_or_404(month)
        group = group_or_404(request)
        job = services.report_job_queue(month=period, group=group, by=request.user, trigger=Trigger.MANUAL)
        messages.info(request, _("A new version of the %(label)s report is being rendered.") % {"label": period.label})
        return redirect(_detail_url(period, group) + f"#job-{job.pk}")


class ReportEmailView(ReportAccessMixin, View):
    """POST: email the latest stored version to the leadership list (or the group's recipients)."""

    def post(self, request, month: str):
        period = month_or_404(month)
        group = group_or_404(request)
        version = selectors.latest_version(period, group.slug if group else "")
        if version is None:
            messages.error(request, _("Generate the report before emailing it."))
            return redirect(_detail_url(period, group))
        if version.is_draft:
            messages.error(
                request, _("Version %(v)s waits for approval: approve it to send it.") % {"v": version.version}
            )
            return redirect(_detail_url(period, group))
        return _queue_email(request, version, group)


class ReportApproveView(ReportAccessMixin, View):
    """POST: a reader approves a draft (recorded), which sends it to its recipients."""

    def post(self, request, month: str, version: int):
        period = month_or_404(month)
        group = group_or_404(request)
        row = MonthlyReport.objects.filter(
            period=str(period), group=group.slug if group else "", version=version
        ).first()
        if row is None:
            raise Http404(f"There is no version {version} of the {period.label} report.")
        try:
            services.report_approve(report=row, by=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request,
                _("Version %(v)s approved; it is being emailed to %(to)s.")
                % {"v": row.version, "to": ", ".join(row.recipients) or _("the leadership list")},
            )
        return redirect(_detail_url(period, group))


def _queue_email(request, version: MonthlyReport, group=None):
    from .tasks import email_report

    try:
        default = group.recipient_list if group and group.recipient_list else None
        recipients = services.report_recipients(default)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        transaction.on_commit(lambda: email_report.delay(version.pk, recipients=recipients, by_id=request.user.pk))
        messages.success(request, f"Version {version.version} is being emailed to {', '.join(recipients)}.")
    url = reverse("reports:detail", kwargs={"month": version.month_key})
    return redirect(f"{url}?group={version.group}" if version.group else url)


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
    """The latest stored PDF. When none exists yet, rendering is queued and a page shows its
    progress (HTTP 202), then fetches the PDF itself once the worker has stored it."""

    def get(self, request, month: str):
        period = month_or_404(month)
        group = group_or_404(request)
        version = selectors.latest_version(period, group.slug if group else "")
        if version is not None:
            return _pdf_response(request, version)
        job = services.report_job_queue(month=period, group=group, by=request.user, trigger=Trigger.DOWNLOAD)
        context = {"job": job, "period": period, "group": group, "detail_url": _detail_url(period, group)}
        return render(request, "reports/pdf_progress.html", context, status=202)


class ReportJobView(ReportAccessMixin, View):
    """JSON progress of a queued rendering, polled by the report page."""

    def get(self, request, job_id: int):
        job = ReportJob.objects.filter(pk=job_id).select_related("report").first()
        if job is None:
            raise Http404(f"There is no report job {job_id}.")
        body = {"id": job.pk, "status": job.status, "progress": job.progress, "step": job.step, "error": job.error}
        if job.report is not None:
            url = reverse("reports:version-pdf", kwargs={"month": job.period, "version": job.report.version})
            body["pdf_url"] = f"{url}?group={job.group}" if job.group else url
            body["version"] = job.report.version
        return JsonResponse(body)


class ReportVersionPdfView(ReportAccessMixin, View):
    def get(self, request, month: str, version: int):
        period = month_or_404(month)
        group = group_or_404(request)
        row = MonthlyReport.objects.filter(
            period=str(period), group=group.slug if group else "", version=version
        ).first()
        if row is None:
            raise Http404(f"There is no version {version} of the {period.label} report.")
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
    """Per-service numbers, then the incident list, in one spreadsheet-friendly file (formula-safe)."""

    def get(self, request, month: str):
        period = month_or_404(month)
        group = group_or_404(request)
        report = selectors.report_preview(month=period, group=group)
        audit_record(
            action=Action.REPORT_DOWNLOAD, object_type="reports.MonthlyReport",
            object_repr=f"{period}{' ' + group.slug if group else ''} report", summary="CSV", request=request,
        )  # fmt: skip
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        suffix = f"-{group.slug}" if group else ""
        response["Content-Disposition"] = f'attachment; filename="beacon-availability-{period}{suffix}.csv"'
        writer = spreadsheet.writer(response)
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
