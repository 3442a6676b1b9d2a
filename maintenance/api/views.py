from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from config.api import Conflict

from .. import selectors, services
from ..models import Maintenance
from . import serializers as s


class MaintenanceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Planned maintenance by id. Writes go through the same services as the pages."""

    serializer_class = s.MaintenanceReadSerializer
    filter_backends: list = []
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        if self.action == "list":
            params = s.MaintenanceFilterSerializer(data=self.request.query_params)
            params.is_valid(raise_exception=True)
            return selectors.maintenance_list(
                status=params.validated_data.get("status", ""), service=params.validated_data.get("service", "")
            )
        return selectors.maintenance_list()

    @extend_schema(parameters=[s.MaintenanceFilterSerializer])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def _read(self, pk, code=status.HTTP_200_OK):
        maintenance = selectors.maintenance_detail(pk=pk)
        return Response(s.MaintenanceReadSerializer(maintenance, context={"request": self.request}).data, status=code)

    @extend_schema(request=s.MaintenanceCreateSerializer, responses={201: s.MaintenanceReadSerializer})
    def create(self, request):
        serializer = s.MaintenanceCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        maintenance = services.maintenance_schedule(by=request.user, **serializer.validated_data)
        return self._read(maintenance.pk, status.HTTP_201_CREATED)

    @extend_schema(request=s.MaintenancePatchSerializer, responses=s.MaintenanceReadSerializer)
    def partial_update(self, request, pk=None):
        maintenance = get_object_or_404(Maintenance, pk=pk)
        serializer = s.MaintenancePatchSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        version = data.pop("version", None)
        try:
            services.maintenance_edit(maintenance=maintenance, by=request.user, expected_version=version, **data)
        except services.StaleVersion as exc:
            raise Conflict(str(exc)) from exc
        return self._read(maintenance.pk)
