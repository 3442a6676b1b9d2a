"""`/` (the dashboard) and `/status/` (the public status page): thin views over selectors."""

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers
from django.utils.html import json_script
from django.utils.text import Truncator
from django.utils.timesince import timesince
from django.utils.translation import gettext
from django.views import View

from config import snapshots
from config.formatting import when_formatter
from config.views import filter_status
from dashboard.templatetags.people import person
from incidents import postmortems
from incidents import selectors as incident_selectors
from incidents.choices import Status
from maintenance import selectors as maintenance_selectors

from . import selectors, status_cache
from .forms import PRESETS, TimelineForm

LIST_PAGE_SIZE = 20
FLAG_LIMIT = 5


def _ms(value) -> int | None:
    return int(value.timestamp() * 1000) if value else None


def chart_payload(result: selectors.Timeline, *, now, services: dict[str, str] | None = None) -> dict:
    """What the page's chart script needs, embedded with json_script (no second request).

    Times are epoch milliseconds for Chart.js plus labels already formatted in
    ``TIME_ZONE``, so tooltips show the same clock as every other page. ``services``
    (slug -> name) are the rows to draw even when they have no bar in the range.
    """
    names = dict(services or {})
    names.update(result.service_names)
    incidents, maintenances = selectors.timeline_rows(result)
    status_labels = {value: str(label) for value, label in Status.choices}
    _label = when_formatter("datetime", zone=True)  # language and zone looked up once, not per time
    return {
        "start": _ms(result.start),
        "end": _ms(result.end),
        "now": _ms(now),
        "truncated": result.truncated,
        "services": names,
        "empty_services": sorted(slug for slug in names if slug not in result.service_names),
        "incidents": [
            {
                "ticket": row.ticket,
                "title": row.title,
                "severity": row.severity,
                "status": row.status,
                "status_label": status_labels.get(row.status, row.status),
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


def ongoing_rows(incidents, *, now) -> list[dict]:
    """The dashboard's ongoing incidents as ready text: during an outage the list is long
    and every row was ~1,800 template calls (badges, durations, names, links)."""
    statuses = {value: str(label) for value, label in Status.choices}
    severities: dict[int, str] = {}
    rows = []
    for incident in incidents:
        if incident.severity not in severities:
            severities[incident.severity] = gettext("Sev %(n)s") % {"n": incident.severity}
        last = None
        if incident.last_update_at:
            last = {
                "label": gettext("Last update %(duration)s ago:")
                % {"duration": timesince(incident.last_update_at, now)},
                "message": Truncator(incident.last_update_message or "").chars(160),
            }
        rows.append(
            {
                "severity": incident.severity,
                "severity_label": severities[incident.severity],
                "url": incident.get_absolute_url(),
                "ticket": incident.ticket,
                "title": incident.title,
                "status": statuses.get(incident.status, incident.status),
                "duration": gettext("for %(duration)s") % {"duration": timesince(incident.started_at, now)},
                "engineer": person(incident.engineer) if incident.engineer else None,
                "services": ", ".join(s.name for s in incident.services.all()),
                "last_update": last,
            }
        )
    return rows


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
    """The dashboard. Its content is the same for everyone who may read it, so one rendering
    per query, language and time zone serves every reader for ``TIMELINE_REUSE_SECONDS``
    (``config.snapshots``): during an outage every help-desk screen shows it and refreshes it."""

    def get(self, request):
        form = TimelineForm(request.GET or None)
        content = snapshots.recent(snapshots.request_key("dashboard", request), lambda: self.content(request.GET, form))
        return render(request, "dashboard/home.html", {"content": content}, status=filter_status(form))

    @staticmethod
    def content(params, form: TimelineForm) -> str:
        now = timezone.now()
        # An invalid range shows its error and the default view rather than a blank page.
        effective = form if form.is_bound and form.is_valid() else TimelineForm()
        filters = effective.filters(now)
        statuses = incident_selectors.services_with_status()
        # One timeline row per service the filter covers, with or without incidents.
        rows = {s.slug: s.name for s, _ in statuses if not filters.service or s.slug == filters.service}
        result = selectors.timeline(filters=filters, limit=settings.TIMELINE_MAX_ROWS)
        chart_json = json_script(chart_payload(result, now=now, services=rows), "timeline-data")
        page = Paginator(incident_selectors.incident_list(filters=filters), LIST_PAGE_SIZE).get_page(params.get("page"))
        due = postmortems.postmortems_due(now=now)
        overdue = postmortems.action_items_overdue(today=timezone.localdate(now))
        due_rows = list(due[: FLAG_LIMIT + 1])
        overdue_rows = list(overdue[: FLAG_LIMIT + 1])
        presets = [(key, label, _query(params, range=key, start=None, end=None)) for key, (label, _) in PRESETS.items()]
        return render_to_string(
            "dashboard/_home.html",
            {
                "now": now,
                "open_incidents": ongoing_rows(selectors.ongoing_incidents(), now=now),
                "maintenance": maintenance_selectors.planned(now=now),
                "services": [(service, state, _query(params, service=service.slug)) for service, state in statuses],
                "form": form,
                "preset": effective.preset,
                "presets": presets,
                "range_start": filters.start,
                "range_end": filters.end,
                "timeline": result,
                "chart_json": chart_json,
                # One row per service (the script adds lanes for overlaps); room for the axis.
                "chart_height": 70 + 30 * max(1, len(rows) + len(result.service_names.keys() - rows.keys())),
                "more_postmortems_url": f"{reverse('incidents:list')}?flag=postmortem-due",
                "more_action_items_url": f"{reverse('incidents:list')}?flag=action-items-overdue",
                "page": page,
                "page_query": _query(params),
                "postmortems_due": due_rows[:FLAG_LIMIT],
                "postmortems_due_more": due.count() - FLAG_LIMIT if len(due_rows) > FLAG_LIMIT else 0,
                "postmortem_due_days": settings.POSTMORTEM_DUE_DAYS,
                "time_zone": settings.TIME_ZONE,
                "action_items_overdue": overdue_rows[:FLAG_LIMIT],
                "action_items_overdue_more": overdue.count() - FLAG_LIMIT if len(overdue_rows) > FLAG_LIMIT else 0,
            },
        )


class StatusPageView(View):
    """Public (no login) and read-only; ``STATUS_PAGE_ENABLED=false`` makes it a 404.

    Anonymous requests are served from ``status_cache`` (with an ETag, so a repeat
    request gets a 304); signed-in users get a fresh page with their own navigation.
    """

    def get(self, request):
        if not settings.STATUS_PAGE_ENABLED:
            raise Http404("The status page is switched off.")
        shared = status_cache.is_shared(request)
        language = translation.get_language() or settings.LANGUAGE_CODE
        if shared:
            entry = status_cache.get(language) or status_cache.render_once(language, lambda: self._shared_body(request))
            if entry:
                return status_cache.respond(request, *entry)
        response = self.render_page(request)
        response["Cache-Control"] = "private, no-cache"
        patch_vary_headers(response, ("Accept-Language", "Cookie"))
        return response

    def _shared_body(self, request) -> bytes | None:
        response = self.render_page(request)
        return response.content if response.status_code == 200 else None

    def render_page(self, request):
        now = timezone.now()
        data = selectors.status_page(now=now)
        maintenance = maintenance_selectors.planned(now=now)
        return render(
            request,
            "dashboard/status.html",
            {
                "status": data,
                "maintenance": maintenance,
                "under_maintenance": maintenance.service_ids(),
                "refresh": settings.STATUS_PAGE_REFRESH_SECONDS,
                # js/beacon.js swaps in fresh data (no meta refresh: WCAG 2.2.1, and it pauses in hidden tabs).
                "live_refresh_seconds": settings.STATUS_PAGE_REFRESH_SECONDS,
                "site_name": settings.SITE_NAME,
                "outage_severities": selectors.PUBLIC_OUTAGE_SEVERITIES,
            },
        )
