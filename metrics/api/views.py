from django.conf import settings
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import BulkErrorSerializer, StrictJSONParser, json_loads_strict, read_body
from config.authentication import BearerOrTokenAuthentication
from integrations import alertmanager

from .. import selectors, services
from ..services import alerting
from . import serializers as s


class SampleIngestView(APIView):
    """Bulk, idempotent push of samples: ``[{"series": key, "ts": ISO 8601, "value": number}, …]``.

    All or nothing: bad rows get a 400 naming each (``BulkError``) and nothing is stored.
    """

    parser_classes = [StrictJSONParser]

    @extend_schema(
        request=s.SampleRowSerializer(many=True),
        responses={200: s.SampleIngestResultSerializer, 400: BulkErrorSerializer},
    )
    def post(self, request):
        rows = _read_json(request)
        # Problems with the request as a whole are {"detail"}, like the other bulk APIs.
        limit = settings.METRICS_INGEST_MAX_ROWS
        if not isinstance(rows, list):
            return Response({"detail": 'Send a JSON list of {"series", "ts", "value"} objects.'}, status=400)
        if len(rows) > limit:
            return Response({"detail": f"At most {limit} rows per request; got {len(rows)}."}, status=400)
        result = services.samples_ingest(rows=rows)
        return Response({"received": result.received, "stored": result.stored})


class SeriesListView(APIView):
    """Every enabled series with its latest value, the value an hour before and its last poll."""

    @extend_schema(responses=s.MetricSeriesSerializer(many=True))
    def get(self, request):
        groups = selectors.series_snapshots(now=timezone.now(), with_chart=False)
        rows = [row for group in groups for row in group.rows]
        return Response(s.MetricSeriesSerializer(rows, many=True).data)


class AlertmanagerWebhookView(APIView):
    """Alertmanager / Grafana webhook (payload version 4): one incident per alert group.

    Authenticated with a Beacon API token, ``Authorization: Bearer <key>`` (what
    Alertmanager's ``http_config.authorization`` sends) or ``Token <key>``; the token's
    user needs a role that may file incidents. The request only writes to the database;
    emails to subscribers are queued after commit.
    """

    authentication_classes = [BearerOrTokenAuthentication]
    parser_classes = [StrictJSONParser]  # for the schema: the body is read raw and parsed by integrations.alertmanager

    @extend_schema(request=s.AlertmanagerPayloadSerializer, responses=s.AlertmanagerResultSerializer)
    def post(self, request):
        try:
            body = request._request.body
        except RequestDataTooBig:
            raise ValidationError({"body": ["The notification is larger than this server accepts."]}) from None
        try:
            notification = alertmanager.notification_parse(body)
        except alertmanager.PayloadError as exc:
            raise ValidationError({exc.field: [exc.message]}) from None
        outcome = alerting.alertmanager_notify(notification=notification, by=request.user)
        incident = outcome.incident
        return Response(
            {
                "action": outcome.action,
                "duplicate": outcome.duplicate,
                "incident": incident.ticket if incident else None,
                "status": incident.status if incident else None,
                "severity": incident.severity if incident else None,
            }
        )


def _read_json(request):
    """The JSON body, read straight from the stream with its own size cap.

    Bulk pushes are larger than Django's form-oriented ``DATA_UPLOAD_MAX_MEMORY_SIZE``
    (a 50,000-row batch is ~4 MB), so this endpoint reads the raw stream up to
    ``METRICS_INGEST_MAX_BYTES`` (413 beyond) and parses it with the API's strict rules.
    """
    if not request._request.content_type.startswith("application/json"):
        raise UnsupportedMediaType(request._request.content_type, "Send the samples as application/json.")
    return json_loads_strict(read_body(request, settings.METRICS_INGEST_MAX_BYTES))
