"""Automation ROI pages: thin views over ``selectors``."""

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views import View

from config import spreadsheet
from config.views import filter_status

from . import selectors
from .choices import Period
from .forms import PeriodForm


def _period(request):
    form = PeriodForm(request.GET or None)
    period, start, end = form.bounds()
    return form, period, start, end


def _query(period, start, end) -> str:
    if period == Period.CUSTOM:
        fmt = "%Y-%m-%dT%H:%M"
        return f"period=custom&start={timezone.localtime(start):{fmt}}&end={timezone.localtime(end):{fmt}}"
    return f"period={period}"


class AutomationDashboardView(View):
    def get(self, request):
        form, period, start, end = _period(request)
        jobs = selectors.stats_per_job(start=start, end=end)
        trend_start, trend_end = selectors.trend_range(start=start, end=end)
        trend = selectors.weekly_trend(start=trend_start, end=trend_end)
        context = {
            "form": form,
            "period": period,
            "periods": [(value, label) for value, label in Period.choices if value != Period.CUSTOM],
            "start": start,
            "end": end,
            "totals": selectors.totals(start=start, end=end),
            "jobs": jobs,
            "tags": selectors.stats_per_tag(start=start, end=end),
            "top": selectors.top_jobs(jobs),
            "trend": {
                "labels": [point.week.date().isoformat() for point in trend],
                "hours": [point.hours_saved for point in trend],
                "runs": [point.runs for point in trend],
            },
            "trend_has_data": any(point.runs for point in trend),
            "trend_start": trend_start,
            "last_import": selectors.last_import(),
            "currency": settings.AUTOMATION_CURRENCY,
            "query": _query(period, start, end),
        }
        return render(request, "automation/dashboard.html", context, status=filter_status(form))


class AutomationExportView(View):
    """The dashboard's per-job table (or ``?table=tags``) as CSV, for the same period."""

    def get(self, request):
        form, period, start, end = _period(request)
        by_tag = request.GET.get("table") == "tags"
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        stamp = f"{timezone.localtime(start):%Y%m%d-%H%M}_{timezone.localtime(end):%Y%m%d-%H%M}"
        name = f"automation-{'tags' if by_tag else 'jobs'}_{stamp}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        writer = spreadsheet.writer(response)
        common = ["runs", "succeeded", "success_rate_percent", "avg_run_seconds", "hours_saved", "money_saved"]
        if by_tag:
            writer.writerow(["tag", "jobs", *common])
            for row in selectors.stats_per_tag(start=start, end=end):
                writer.writerow([row.tag, row.jobs, *_numbers(row)])
        else:
            writer.writerow(["job", "job_id", "project", "tags", "minutes_saved_per_run", "cost_per_hour", *common])
            for row in selectors.stats_per_job(start=start, end=end):
                job = row.job
                tags = " ".join(tag.name for tag in job.tags.all())
                writer.writerow(
                    [job.name, job.external_id, job.project, tags, job.minutes_saved, job.cost_per_hour, *_numbers(row)]
                )
        return response


def _numbers(row) -> list:
    """Empty cells, not 0, where there is nothing to measure."""
    return [
        row.runs,
        row.succeeded,
        "" if row.success_rate is None else f"{row.success_rate:.1f}",
        "" if row.avg_seconds is None else f"{row.avg_seconds:.1f}",
        f"{row.hours_saved:.2f}",
        f"{row.money_saved:.2f}",
    ]
