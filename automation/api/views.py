from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import BulkErrorSerializer, BulkRowsInvalid, bulk_row

from .. import services
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
