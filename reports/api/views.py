from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors
from ..uptime import BadMonth, BadPeriod, Month, parse_period


class UptimeView(APIView):
    """Per-service availability for a period: the numbers of the report, page and PDF alike.

    ``period`` is ``YYYY-MM``, ``YYYY-QN`` or ``YYYY``; ``month=YYYY-MM`` still works. The default
    is the last complete month in ``REPORT_TIME_ZONE``. ``group=<slug>`` limits it to a service group.
    """

    @extend_schema(
        parameters=[
            OpenApiParameter("period", OpenApiTypes.STR, description="YYYY-MM, YYYY-QN or YYYY (default: last month)"),
            OpenApiParameter("month", OpenApiTypes.STR, description="YYYY-MM (the older spelling of period)"),
            OpenApiParameter("group", OpenApiTypes.STR, description="Service group slug"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        params = request.query_params
        if "period" in params and "month" in params:
            raise ValidationError({"period": ["Give either period or month, not both."]})
        if "period" in params:
            try:
                period = parse_period(params["period"])
            except BadPeriod as exc:
                raise ValidationError({"period": [str(exc)]}) from None
        elif "month" in params:
            try:
                period = Month.parse(params["month"])
            except BadMonth as exc:
                raise ValidationError({"month": [str(exc)]}) from None
        else:
            period = selectors.last_complete_month()
        try:
            group = selectors.service_group(params.get("group", ""))
        except selectors.UnknownGroup as exc:
            raise NotFound({"group": [str(exc)]}) from None
        try:
            report = selectors.report_preview(month=period, group=group)
        except selectors.FutureMonth as exc:
            raise NotFound({"period" if "period" in params else "month": [str(exc)]}) from None
        rows = [
            {**row, "trend": [_trend_point(p) for p in report.trends.get(service.id, [])]}
            for row, service in zip(report.api_rows(), report.services, strict=True)
        ]
        body = {
            "period": str(period),
            "kind": period.kind,
            "group": group.slug if group else None,
            "time_zone": report.time_zone,
            "start": report.start,
            "end": report.end,
            "complete": report.complete,
            "computed_at": report.computed_at,
            "summary": report.executive_summary,
            "count": len(rows),
            "results": rows,
        }
        if period.kind == "month":
            body = {"month": str(period), **body}
        return Response(body)


def _trend_point(point) -> dict:
    return {
        "month": str(point.month),
        "uptime_percent": point.uptime_percent,
        "downtime_seconds": None if point.downtime_seconds is None else round(point.downtime_seconds),
        "incident_count": point.incidents,
        "mttr_seconds": None if point.mttr_seconds is None else round(point.mttr_seconds),
    }
