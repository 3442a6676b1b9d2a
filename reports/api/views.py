from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors
from ..uptime import BadMonth, Month


class UptimeView(APIView):
    """Per-service availability for a month: the numbers of the report, page and PDF alike.

    ``month`` defaults to the last complete month in ``REPORT_TIME_ZONE``.
    """

    @extend_schema(
        parameters=[OpenApiParameter("month", OpenApiTypes.STR, description="YYYY-MM (default: last month)")],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        text = request.query_params.get("month")
        if text is None:
            month = selectors.last_complete_month()
        else:
            try:
                month = Month.parse(text)
            except BadMonth as exc:
                raise ValidationError({"month": [str(exc)]}) from None
        try:
            report = selectors.monthly_report(month=month)
        except selectors.FutureMonth as exc:
            raise NotFound({"month": [str(exc)]}) from None
        rows = report.api_rows()
        return Response(
            {
                "month": str(month),
                "time_zone": report.time_zone,
                "start": report.start,
                "end": report.end,
                "complete": report.complete,
                "computed_at": report.computed_at,
                "count": len(rows),
                "results": rows,
            }
        )
