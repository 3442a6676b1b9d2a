from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import services
from . import serializers as s

MAX_BATCH = 5000


def _rejected(errors: list[dict], total: int) -> Response:
    return Response(
        {
            "detail": f"{len(errors)} of {total} execution(s) are invalid; nothing was saved. "
            "Fix the rows listed in `errors` and send the batch again.",
            "errors": errors,
        },
        status=status.HTTP_400_BAD_REQUEST,
    )


class ExecutionPushView(APIView):
    """Executions pushed by a job's last step: one object or a list, all-or-nothing, idempotent."""

    @extend_schema(
        request=s.ExecutionInSerializer(many=True),
        responses={201: s.RecordResultSerializer, 200: s.RecordResultSerializer},
        description="One execution object or a list of them. Sending the same `external_id` again updates "
        "that execution instead of adding one. If any row is invalid, nothing is saved and each bad row is "
        "listed in `errors` with its index (`row`), `external_id` and a message per field.",
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
            return _rejected(errors, len(rows))
        try:
            result = services.executions_record(
                rows=[services.ExecutionRow(**row) for row in serializer.validated_data]
            )
        except services.ExecutionRowsInvalid as exc:
            return _rejected(exc.errors, len(rows))
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response({"created": result.created, "updated": result.updated}, status=code)
