"""`/` (the dashboard) and `/status/` (the public status page): thin views over selectors."""

from django.conf import settings
from django.core.cache import cache
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import get_language
from django.views import View

from incidents import postmortems
from incidents import selectors as incident_selectors
from maintenance import selectors as maintenance_selectors

from . import selectors
from .forms import PRESETS, TimelineForm

LIST_PAGE_SIZE = 20
FLAG_LIMIT = 5


def _ms(value) -> int | None:
    return int(value.timestamp() * 1000) if value else None


def _label(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M %Z") if value else ""


def chart_payload(result: selectors.Timeline, *, now) -> dict:
    """What the page's chart script needs, embedded with json_script (no second request).

    Times are epoch milliseconds for Chart.js plus labels already formatted in
    ``TIME_ZONE``, so tooltips show the same clock as every other page.
    """
    incidents, maintenances = selectors.timeline_rows(result)
    return {
        "start": _ms(result.start),
        "end": _ms(result.end),
        "now": _ms(now),
        "truncated": result.truncated,
        "services": result.service_names,
        "incidents": [
            {
                "ticket": row.ticket,
                "title": row.title,
                "severity": row.severity,
                "status": row.status,
                "services": row.services,
                "engineer": row.engineer_name,
                "start": _ms(row.started_at),
                "end": _ms(row.resolved_at),
                "start_label": _label(row.started_at),
                "end_label": _label(row.resolved_at),
                "description": row.description[:300],
                "url": row.url,
                "external_url": row.external_url,
            }
            for row in incidents
        ],
        "maintenances": [
            {
                "id": row.id,
                "title": row.title,
                "status": row.status,
                "services": row.services,
                "start": _ms(row.starts_at),
                "end": _ms(row.ends_at),
                "start_label": _label(row.starts_at),
                "end_label": _label(row.ends_at),
                "description": row.description[:300],
                "url": row.url,
            }
            for row in maintenances
        ],
    }


def _query(params, **changes) -> str:
    """The current query string with some parameters replaced (None removes one)."""
    query = params.copy()
    query.pop("page", None)
    for key, value in changes.items():
        query.pop(key, None)
        if value is not None:
            query[key] = value
    return query.urlencode()


class HomeView(View):
    def get(self, request):
        now = timezone.now()
        form = TimelineForm(request.GET or None)
        # An invalid range shows its error and the default view rather than a blank page.
        effective = form if form.is_bound and form.is_valid() else TimelineForm()
        filters = effective.filters(now)
        result = selectors.timeline(filters=filters, limit=settings.TIMELINE_MAX_ROWS)
        page = Paginator(incident_selectors.incident_list(filters=filters), LIST_PAGE_SIZE).get_page(
            request.GET.get("page")
        )
        due = postmortems.postmortems_due(now=now)
        overdue = postmortems.action_items_overdue(today=timezone.localdate(now))
        due_rows = list(due[: FLAG_LIMIT + 1])
        overdue_rows = list(overdue[: FLAG_LIMIT + 1])
        presets = [
            (key, label, _query(request.GET, range=key, start=None, end=None)) for key, (label, _) in PRESETS.items()
        ]
        return render(
            request,
            "dashboard/home.html",
            {
                "now": now,
                "open_incidents": list(selectors.ongoing_incidents()),
                "maintenance": maintenance_selectors.planned(now=now),
                "services": [
                    (service, state, _query(request.GET, service=service.slug))
                    for service, state in incident_selectors.services_with_status()
                ],
                "form": form,
                "preset": effective.preset,
                "presets": presets,
                "range_start": filters.start,
                "range_end": filters.end,
                "timeline": result,
                "chart": chart_payload(result, now=now),
                # One row per service with a bar in range; room for the time axis below.
                "chart_height": 70 + 30 * max(1, len(result.service_names)),
                "page": page,
                "page_query": _query(request.GET),
                "postmortems_due": due_rows[:FLAG_LIMIT],
                "postmortems_due_more": due.count() - FLAG_LIMIT if len(due_rows) > FLAG_LIMIT else 0,
                "postmortem_due_days": settings.POSTMORTEM_DUE_DAYS,
                "action_items_overdue": overdue_rows[:FLAG_LIMIT],
                "action_items_overdue_more": overdue.count() - FLAG_LIMIT if len(overdue_rows) > FLAG_LIMIT else 0,
            },
        )


class StatusPageView(View):
    """Public (no login) and read-only; ``STATUS_PAGE_ENABLED=false`` makes it a 404."""

    def get(self, request):
        if not settings.STATUS_PAGE_ENABLED:
            raise Http404("The status page is switched off.")
        # Rendering 90 days of every service costs most of a second; anonymous viewers all
        # see the same page, so they share a copy for STATUS_PAGE_CACHE_SECONDS.
        shared = settings.STATUS_PAGE_CACHE_SECONDS > 0 and not request.user.is_authenticated
        key = f"status-page:{get_language()}"
        if shared:
            content = cache.get(key)
            if content is not None:
                return self._headers(HttpResponse(content))
        now = timezone.now()
        data = selectors.status_page(services_with_status=incident_selectors.services_with_status(), now=now)
        maintenance = maintenance_selectors.planned(now=now)
        response = render(
            request,
            "dashboard/status.html",
            {
                "status": data,
                "maintenance": maintenance,
                "under_maintenance": maintenance.service_ids(),
                "refresh": settings.STATUS_PAGE_REFRESH_SECONDS,
                "site_name": settings.SITE_NAME,
            },
        )
        if shared:
            cache.set(key, response.content, settings.STATUS_PAGE_CACHE_SECONDS)
        return self._headers(response)

    @staticmethod
    def _headers(response):
        # Many screens poll this page; let them share a short-lived cached copy.
        response["Cache-Control"] = "public, max-age=30"
        return response
