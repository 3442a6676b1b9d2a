from rest_framework import serializers

from incidents.api.serializers import AwareDateTimeField
from incidents.models import Service

from ..choices import DESCRIPTION_MAX_LENGTH, TITLE_MAX_LENGTH, MaintenanceStatus
from ..models import Maintenance


class MaintenanceReadSerializer(serializers.ModelSerializer):
    services = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Maintenance
        fields = [
            "id",
            "title",
            "description",
            "services",
            "starts_at",
            "ends_at",
            "status",
            "created_by",
            "created_at",
            "updated_at",
            "version",
            "url",
        ]

    def get_url(self, obj) -> str:
        request = self.context.get("request")
        path = obj.get_absolute_url()
        return request.build_absolute_uri(path) if request else path


class MaintenanceCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=TITLE_MAX_LENGTH)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=DESCRIPTION_MAX_LENGTH)
    services = serializers.SlugRelatedField(
        slug_field="slug", many=True, queryset=Service.objects.filter(is_active=True), allow_empty=False
    )
    starts_at = AwareDateTimeField()
    ends_at = AwareDateTimeField()


class MaintenancePatchSerializer(MaintenanceCreateSerializer):
    services = serializers.SlugRelatedField(
        slug_field="slug", many=True, queryset=Service.objects.all(), allow_empty=False
    )
    status = serializers.ChoiceField(
        choices=MaintenanceStatus.choices,
        required=False,
        help_text="in_progress starts it now, completed ends an ongoing one now, cancelled cancels a scheduled one.",
    )
    version = serializers.IntegerField(required=False, min_value=1)


class MaintenanceFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=MaintenanceStatus.choices, required=False)
    service = serializers.SlugField(required=False)
