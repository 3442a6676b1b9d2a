from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import ListAPIView
from rest_framework.response import Response

from config.api import Conflict

from .. import selectors, services
from ..models import Incident
from . import serializers as s


def parse_filters(request) -> selectors.IncidentFilters:
    params = s.IncidentFilterSerializer(data=request.query_params)
    params.is_valid(raise_exception=True)
    data = params.validated_data
    return selectors.IncidentFilters(
        start=data.get("start"),
        end=data.get("end"),
        service=data.get("service", ""),
        severity=data.get("severity"),
        status=data.get("status", ""),
        q=data.get("q", ""),
    )


class IncidentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Incidents by ticket number. Writes go through the same services as the forms."""

    lookup_field = "ticket"
    filter_backends: list = []
    serializer_class = s.IncidentReadSerializer

    def get_queryset(self):
        if self.action == "list":
            return selectors.incident_list(filters=parse_filters(self.request))
        return Incident.objects.all()

    def get_object(self):
        ticket = self.kwargs["ticket"]
        try:
            return selectors.incident_detail(ticket=ticket)
        except Incident.DoesNotExist:
            get_object_or_404(Incident, ticket=ticket)  # raises the standard 404

    def _target(self) -> Incident:
        """The incident a write acts on: its row only (the service locks and re-reads it;
        the answer is read afresh by ``_detail``), not the whole log ``get_object`` loads."""
        return get_object_or_404(Incident, ticket__iexact=self.kwargs["ticket"].strip())

    def get_serializer_class(self):
        return s.IncidentDetailSerializer if self.action == "retrieve" else s.IncidentReadSerializer

    @extend_schema(parameters=[s.IncidentFilterSerializer])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def _detail(self, ticket, code=status.HTTP_200_OK):
        incident = selectors.incident_detail(ticket=ticket)
        return Response(s.IncidentDetailSerializer(incident, context={"request": self.request}).data, status=code)

    @extend_schema(request=s.IncidentCreateSerializer, responses={201: s.IncidentDetailSerializer})
    def create(self, request):
        data = _validated(s.IncidentCreateSerializer, request)
        incident = services.incident_open(by=request.user, **data)
        return self._detail(incident.ticket, status.HTTP_201_CREATED)

    @extend_schema(request=s.IncidentPatchSerializer, responses=s.IncidentDetailSerializer)
    def partial_update(self, request, ticket=None):
        incident = self._target()
        data = _validated(s.IncidentPatchSerializer, request, partial=True)
        version = data.pop("version", None)
        message = data.pop("message", "")
        with _conflict():
            if incident.is_open:
                only_for_corrections = {"resolved_at", "reason", "effective_at"} & set(data)
                if only_for_corrections:
                    raise ValidationError(
                        {name: "Only a resolved incident's record is corrected; close it first." for name in
                         only_for_corrections}
                    )  # fmt: skip
                services.incident_edit(
                    incident=incident, by=request.user, expected_version=version, message=message, **data
                )
            else:
                if data.pop("status", "resolved") != "resolved":
                    raise ValidationError({"status": "Reopen the incident to change its status."})
                services.incident_correct(
                    incident=incident,
                    by=request.user,
                    expected_version=version,
                    reason=data.pop("reason", "") or message,
                    **data,
                )
        return self._detail(incident.ticket)

    @extend_schema(request=s.UpdateWriteSerializer, responses={201: s.IncidentDetailSerializer})
    @action(detail=True, methods=["post"])
    def updates(self, request, ticket=None):
        incident = self._target()
        data = _validated(s.UpdateWriteSerializer, request)
        with _conflict():
            services.incident_update(
                incident=incident,
                by=request.user,
                message=data["message"],
                status=data.get("status"),
                severity=data.get("severity"),
                effective_at=data.get("effective_at"),
                notify=data["notify"],
                visibility=data["visibility"],
                expected_version=data.get("version"),
            )
        return self._detail(incident.ticket, status.HTTP_201_CREATED)

    @extend_schema(request=s.CloseSerializer, responses=s.IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request, ticket=None):
        incident = self._target()
        data = _validated(s.CloseSerializer, request)
        with _conflict():
            services.incident_resolve(
                incident=incident,
                by=request.user,
                message=data["message"],
                resolved_at=data.get("resolved_at"),
                expected_version=data.get("version"),
                notify=data["notify"],
            )
        return self._detail(incident.ticket)

    @extend_schema(request=s.ReopenSerializer, responses=s.IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request, ticket=None):
        incident = self._target()
        data = _validated(s.ReopenSerializer, request)
        with _conflict():
            services.incident_reopen(
                incident=incident,
                by=request.user,
                message=data["message"],
                severity=data.get("severity"),
                expected_version=data.get("version"),
                notify=data["notify"],
            )
        return self._detail(incident.ticket)


def _validated(serializer_class, request, partial=False) -> dict:
    serializer = serializer_class(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class _conflict:
    """Turn ``StaleVersion`` into a 409 that says what happened."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is services.StaleVersion:
            raise Conflict(str(exc)) from exc
        return False


class ServiceListView(ListAPIView):
    """Services with their current status from open incidents."""

    serializer_class = s.ServiceSerializer
    pagination_class = None
    filter_backends: list = []

    def list(self, request, *args, **kwargs):
        rows = []
        for service, state in selectors.services_with_status():
            service.status = state
            rows.append(service)
        return Response(self.get_serializer(rows, many=True).data)
