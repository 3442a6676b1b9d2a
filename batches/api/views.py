from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from config.api import BulkErrorSerializer, BulkRowsInvalid, bulk_row
from config.bi import CsvRenderer

from .. import services
from . import serializers as s


class BatchRunIngestView(APIView):  # GET comes from BatchRunReadMixin below
    """Record batch runs: one object or a list, idempotent on (client, run_id).

    All or nothing: when any row is invalid the response is 400 with the errors of every
    bad row (``BulkError``, by position) and no run is saved, so a producer can fix and
    resend the batch.
    """

    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, CsvRenderer]

    @extend_schema(
        request=s.BatchRunInSerializer(many=True),
        responses={200: s.IngestResultSerializer, 201: s.IngestResultSerializer, 400: BulkErrorSerializer},
        examples=[
            OpenApiExample(
                "One run",
                value={
                    "client": "acme",
                    "run_id": "2024-03-01",
                    "started_at": "2024-03-01T02:00:00+00:00",
                    "finished_at": "2024-03-01T02:41:10+00:00",
                    "status": "succeeded",
                    "records_processed": 120000,
                },
                request_only=True,
            )
        ],
    )
    def post(self, request):
        rows = [request.data] if isinstance(request.data, dict) else request.data
        if not isinstance(rows, list) or not rows:
            return Response({"detail": "Send one run object or a non-empty list of runs."}, status.HTTP_400_BAD_REQUEST)
        if len(rows) > settings.BATCH_API_MAX_ROWS:
            return Response(
                {"detail": f"At most {settings.BATCH_API_MAX_ROWS} runs per call; split the batch."},
                status.HTTP_400_BAD_REQUEST,
            )
        result = services.batch_runs_ingest(rows=rows, atomic=True)
        if result.errors:
            raise BulkRowsInvalid([bulk_row(e.index, e.run_id, e.errors) for e in result.errors], len(rows))
        body = {"created": result.created, "updated": result.updated, "unchanged": result.unchanged}
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


RUN_COLUMNS = [
    "client",
    "run_id",
    "run_date",
    "started_at",
    "finished_at",
    "duration_seconds",
    "status",
    "records_processed",
]


def _run_rows(queryset):
    for run in queryset.iterator(chunk_size=2000) if not isinstance(queryset, list) else queryset:
        yield {
            "client": run.client.slug,
            "run_id": run.run_id,
            "run_date": run.run_date.isoformat(),
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "duration_seconds": run.duration_seconds,
            "status": run.status,
            "records_processed": run.records_processed,
        }


class BatchRunReadMixin:
    """``GET /api/v1/batch-runs/``: runs filtered by ``start``/``end`` (on ``started_at``), ``client``
    and ``status``; cursor-paginated JSON, or every row with ``format=csv``."""

    def get(self, request):
        from config import bi

        from ..models import BatchRun

        start, end = bi.time_range(request.query_params)
        runs = BatchRun.objects.select_related("client")
        if start:
            runs = runs.filter(started_at__gte=start)
        if end:
            runs = runs.filter(started_at__lt=end)
        if client := request.query_params.get("client"):
            slugs = [c for c in client.split(",") if c]
            from ..models import Client

            known = set(Client.objects.filter(slug__in=slugs).values_list("slug", flat=True))
            unknown = [c for c in slugs if c not in known]
            if unknown:
                from rest_framework.exceptions import NotFound

                raise NotFound({"client": [f"Unknown client {', '.join(map(repr, unknown))}."]})
            runs = runs.filter(client__slug__in=slugs)
        if run_status := request.query_params.get("status"):
            from ..choices import RunStatus

            if run_status not in RunStatus.values:
                from rest_framework.exceptions import ValidationError

                raise ValidationError({"status": [f"Choose one of {', '.join(RunStatus.values)}."]})
            runs = runs.filter(status=run_status)
        if bi.wants_csv(request):
            return bi.csv_response(
                "batch-runs.csv", RUN_COLUMNS, _run_rows(runs.order_by("started_at", "id")), bi.csv_value
            )
        paginator = bi.TimeCursorPagination()
        page = paginator.paginate_queryset(runs, request, view=self)
        return paginator.get_paginated_response(list(_run_rows(page)))


class BatchRunView(BatchRunReadMixin, BatchRunIngestView):
    """Read (GET, for BI tools) and write (POST) batch runs on one URL."""

    @extend_schema(
        parameters=[
            OpenApiParameter("start", OpenApiTypes.STR, description="Runs started at or after (date or ISO time)"),
            OpenApiParameter("end", OpenApiTypes.STR, description="Runs started before (a date includes that day)"),
            OpenApiParameter("client", OpenApiTypes.STR, description="Client slug(s), comma-separated"),
            OpenApiParameter("status", OpenApiTypes.STR),
            OpenApiParameter("cursor", OpenApiTypes.STR),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="Up to 5000 (default 500)"),
            OpenApiParameter("format", OpenApiTypes.STR, description="csv: every matching run as CSV"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        return super().get(request)
