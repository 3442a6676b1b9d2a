"""GET /api/v1/timeline/: the incidents overlapping a range, for the dashboard chart and scripts."""

from dataclasses import replace
from datetime import datetime, timedelta

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config import snapshots
from dashboard import selectors
from incidents.api.views import parse_filters

DEFAULT_SPAN = timedelta(days=7)


def iso(value: datetime | None, tz=None) -> str | None:
    """ISO 8601 in ``TIME_ZONE`` with its offset, as the rest of the API writes times."""
    if value is None:
        return None
    text = value.astimezone(tz or timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _iso_formatter():
    """A fast ``iso`` for many values. Database times arrive in UTC; when ``TIME_ZONE``
    is UTC too, converting each one (and looking the zone up per value) is wasted work."""
    tz = timezone.get_current_timezone()
    if timezone.get_current_timezone_name() == "UTC":

        def fmt(value):
            if value is None:
                return None
            if value.utcoffset():
                value = value.astimezone(tz)
            return value.isoformat()[:-6] + "Z"

        return fmt
    return lambda value: iso(value, tz)


_ROW_FIELDS = {
    "ticket": serializers.CharField(),
    "title": serializers.CharField(),
    "severity": serializers.IntegerField(),
    "status": serializers.CharField(),
    "services": serializers.ListField(child=serializers.SlugField()),
    "engineer": serializers.CharField(allow_null=True),
    "started_at": serializers.DateTimeField(),
    "resolved_at": serializers.DateTimeField(allow_null=True),
    "description": serializers.CharField(),
    "url": serializers.URLField(),
    "external_url": serializers.CharField(),
}


_MAINTENANCE_FIELDS = {
    "kind": serializers.CharField(help_text='Always "maintenance".'),
    "id": serializers.IntegerField(),
    "title": serializers.CharField(),
    "status": serializers.CharField(),
    "services": serializers.ListField(child=serializers.SlugField()),
    "starts_at": serializers.DateTimeField(),
    "ends_at": serializers.DateTimeField(),
    "description": serializers.CharField(),
    "url": serializers.URLField(),
}


class TimelineView(APIView):
    """Incidents that started before ``end`` and were not resolved before ``start``
    (ongoing ones included), newest first. ``start`` defaults to 7 days before ``end``,
    ``end`` to now. The range spans at most ``TIMELINE_MAX_DAYS``; at most
    ``TIMELINE_MAX_ROWS`` incidents come back and ``truncated`` says when more matched.

    ``maintenances`` lists the planned maintenance overlapping the range (not cancelled),
    apart from the incidents: it is not an incident and ``count`` does not include it.
    """

    @extend_schema(
        parameters=[
            OpenApiParameter("start", OpenApiTypes.DATETIME),
            OpenApiParameter("end", OpenApiTypes.DATETIME),
            OpenApiParameter("service", OpenApiTypes.STR, description="service slug"),
            OpenApiParameter("severity", OpenApiTypes.INT, enum=[1, 2, 3, 4]),
            OpenApiParameter("status", OpenApiTypes.STR, description="a status, or 'open'"),
            OpenApiParameter("q", OpenApiTypes.STR, description="text in title or description, or a ticket"),
        ],
        responses=inline_serializer(
            "Timeline",
            {
                "start": serializers.DateTimeField(),
                "end": serializers.DateTimeField(),
                "count": serializers.IntegerField(),
                "truncated": serializers.BooleanField(),
                "results": inline_serializer("TimelineIncident", _ROW_FIELDS, many=True),
                "maintenances": inline_serializer("TimelineMaintenance", _MAINTENANCE_FIELDS, many=True),
            },
        ),
    )
    def get(self, request):
        filters = parse_filters(request)
        root = request.build_absolute_uri("/").rstrip("/")
        if request.accepted_renderer.format != "json":  # the browsable API, for people
            return Response(self._body(filters, root))
        # The same JSON for every caller (``config.snapshots``), encoded once and reused for
        # TIMELINE_REUSE_SECONDS: tools and screens poll it during an outage.
        key = snapshots.request_key("timeline-api", request, root)
        body = snapshots.recent(key, lambda: request.accepted_renderer.render(self._body(filters, root)))
        return HttpResponse(body, content_type="application/json")

    @staticmethod
    def _body(filters, root: str) -> dict:
        end = filters.end or timezone.now()
        start = filters.start or (end - DEFAULT_SPAN)
        filters = replace(filters, start=start, end=end)
        result = selectors.timeline(filters=filters, limit=settings.TIMELINE_MAX_ROWS)  # checks the range
        incidents, maintenance = selectors.timeline_rows(result)
        fmt = _iso_formatter()
        results = [
            {
                "ticket": row.ticket,
                "title": row.title,
                "severity": row.severity,
                "status": row.status,
                "services": row.services,
                "engineer": row.engineer,
                "started_at": fmt(row.started_at),
                "resolved_at": fmt(row.resolved_at),
                "description": row.description,
                "url": root + row.url,
                "external_url": row.external_url,
            }
            for row in incidents
        ]
        maintenances = [
            {
                "kind": "maintenance",
                "id": row.id,
                "title": row.title,
                "status": row.status,
                "services": row.services,
                "starts_at": fmt(row.starts_at),
                "ends_at": fmt(row.ends_at),
                "description": row.description,
                "url": root + row.url,
            }
            for row in maintenance
        ]
        return {
            "start": iso(start),
            "end": iso(end),
            "count": len(results),
            "truncated": result.truncated,
            "results": results,
            "maintenances": maintenances,
        }
