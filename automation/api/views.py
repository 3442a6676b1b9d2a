from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from config import bi
from config.api import BulkErrorSerializer, BulkRowsInvalid, bulk_row

from .. import services
from ..models import AutomationJob, Execution, Tag
from ..selectors import aggregates
from ..selectors import hours_saved_expression as hours_expr
from . import serializers as s

MAX_BATCH = 5000


def _rejected(errors: list[dict], rows: list[dict]):
    """``errors`` as ``{"row", "external_id", field: [messages]}`` → the shared bulk error."""
    found = []
    for error in errors:
        problems = {k: v for k, v in error.items() if k != "row" and isinstance(v, list)}
        key = rows[error["row"]].get("external_id")
        found.append(bulk_row(error["row"], key if isinstance(key, str) else None, problems))
    raise BulkRowsInvalid(found, len(rows))


class ExecutionPushView(APIView):
    """Executions pushed by a job's last step: one object or a list, all-or-nothing, idempotent."""

    @extend_schema(
        request=s.ExecutionInSerializer(many=True),
        responses={201: s.RecordResultSerializer, 200: s.RecordResultSerializer, 400: BulkErrorSerializer},
        description="One execution object or a list of them. Sending the same `external_id` again updates "
        "that execution instead of adding one. If any row is invalid, nothing is saved and each bad row is "
        "listed in `rows` with its `index`, `key` (the external_id) and messages per field.",
    )
    def post(self, request):
        data = request.data
        rows = data if isinstance(data, list) else [data]
        if not rows or not all(isinstance(row, dict) for row in rows):
            return Response(
                {"detail": "Send one execution object or a non-empty list of them."}, status.HTTP_400_BAD_REQUEST
            )
        if len(rows) > MAX_BATCH:
            return Response({"detail": f"Send at most {MAX_BATCH} executions per call."}, status.HTTP_400_BAD_REQUEST)
        serializer = s.ExecutionInSerializer(data=rows, many=True)
        if not serializer.is_valid():
            # DRF reports per-row errors as a list, or (3.16+) as a dict keyed by row index.
            found = serializer.errors
            pairs = sorted(found.items()) if isinstance(found, dict) else enumerate(found)
            errors = [
                {"row": int(index), "external_id": rows[int(index)].get("external_id"), **problems}
                for index, problems in pairs
                if problems
            ]
            _rejected(errors, rows)
        try:
            result = services.executions_record(
                rows=[services.ExecutionRow(**row) for row in serializer.validated_data]
            )
        except services.ExecutionRowsInvalid as exc:
            _rejected(exc.errors, rows)
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response({"created": result.created, "updated": result.updated}, status=code)


EXECUTION_COLUMNS = ["job", "job_name", "external_id", "status", "started_at", "ended_at", "hours_saved"]
ROI_COLUMNS = ["job", "job_name", "runs", "succeeded", "hours_saved", "money_saved"]

READ_PARAMETERS = [
    OpenApiParameter("start", OpenApiTypes.STR, description="Started at or after (date or ISO 8601 time)"),
    OpenApiParameter("end", OpenApiTypes.STR, description="Started before (a date includes that day)"),
    OpenApiParameter("job", OpenApiTypes.STR, description="Job external id(s), comma-separated"),
    OpenApiParameter("tag", OpenApiTypes.STR, description="Tag name"),
    OpenApiParameter("format", OpenApiTypes.STR, description="csv: every matching row as CSV"),
]


def _filtered(request):
    """Executions in the time range, of the given jobs and tag; a bad or unknown value is a 4xx naming it."""
    start, end = bi.time_range(request.query_params)
    runs = Execution.objects.all()
    if start:
        runs = runs.filter(started_at__gte=start)
    if end:
        runs = runs.filter(started_at__lt=end)
    if job := request.query_params.get("job"):
        ids = [j for j in job.split(",") if j]
        known = set(AutomationJob.objects.filter(external_id__in=ids).values_list("external_id", flat=True))
        if unknown := [j for j in ids if j not in known]:
            raise NotFound({"job": [f"Unknown job {', '.join(map(repr, unknown))}."]})
        runs = runs.filter(job__external_id__in=ids)
    if tag := request.query_params.get("tag"):
        if not Tag.objects.filter(name=tag).exists():
            raise NotFound({"tag": [f"Unknown tag {tag!r}."]})
        runs = runs.filter(job__tags__name=tag)
    return runs


class ExecutionView(ExecutionPushView):
    """GET: executions for BI tools (cursor-paginated, or ``format=csv``); POST: push them.

    ``hours_saved`` is what the run saved as the dashboard counts it: its own value, else its
    job's minutes per run; 0 for a run that did not succeed.
    """

    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, bi.CsvRenderer]

    @extend_schema(parameters=[*READ_PARAMETERS, OpenApiParameter("cursor", OpenApiTypes.STR)],
                   responses={200: OpenApiTypes.OBJECT})  # fmt: skip
    def get(self, request):
        runs = _filtered(request).select_related("job").annotate(saved=hours_expr())
        if bi.wants_csv(request):
            rows = (_execution_row(e) for e in runs.order_by("started_at", "id").iterator(chunk_size=2000))
            return bi.csv_response("automation-executions.csv", EXECUTION_COLUMNS, rows, bi.csv_value)
        paginator = bi.TimeCursorPagination()
        page = paginator.paginate_queryset(runs, request, view=self)
        return paginator.get_paginated_response([_execution_row(e) for e in page])


def _execution_row(execution) -> dict:
    return {
        "job": execution.job.external_id,
        "job_name": execution.job.name,
        "external_id": execution.external_id,
        "status": execution.status,
        "started_at": execution.started_at,
        "ended_at": execution.ended_at,
        "hours_saved": round(float(execution.saved or 0), 4),
    }


class RoiView(APIView):
    """Per job over the time range: ``runs``, ``succeeded``, ``hours_saved``, ``money_saved`` (as on /automation/)."""

    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, bi.CsvRenderer]

    @extend_schema(parameters=READ_PARAMETERS, responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        rows = list(_filtered(request).values("job_id").annotate(**aggregates()).order_by())
        jobs = AutomationJob.objects.in_bulk([row["job_id"] for row in rows])
        results = sorted(
            (
                {
                    "job": jobs[row["job_id"]].external_id,
                    "job_name": jobs[row["job_id"]].name,
                    "runs": row["runs"],
                    "succeeded": row["succeeded"],
                    "hours_saved": round(float(row["saved_hours"] or 0), 2),
                    "money_saved": round(float(row["saved_money"] or 0), 2),
                }
                for row in rows
            ),
            key=lambda r: (-r["hours_saved"], r["job"]),
        )
        if bi.wants_csv(request):
            return bi.csv_response("automation-roi.csv", ROI_COLUMNS, results, bi.csv_value)
        return Response({"count": len(results), "currency": settings.AUTOMATION_CURRENCY, "results": results})
