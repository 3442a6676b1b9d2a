from django.conf import settings
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import BulkErrorSerializer, BulkRowsInvalid, bulk_row

from .. import services
from . import serializers as s


class BatchRunIngestView(APIView):
    """Record batch runs: one object or a list, idempotent on (client, run_id).

    All or nothing: when any row is invalid the response is 400 with the errors of every
    bad row (``BulkError``, by position) and no run is saved, so a producer can fix and
    resend the batch.
    """

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
