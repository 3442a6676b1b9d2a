from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api import AwareDateTimeField

from ..choices import DESCRIPTION_MAX_LENGTH, MESSAGE_MAX_LENGTH, TITLE_MAX_LENGTH, Severity, Status, Visibility
from ..models import Incident, IncidentUpdate, Service

User = get_user_model()


@extend_schema_field({"type": "array", "items": {"type": "string", "format": "email", "maxLength": 254}})
class EmailListField(serializers.Field):
    """A list of address strings, checked for shape only (the service validates each address
    once). DRF's ``ListField(child=CharField())`` spent ~9 µs per item: 90 ms for 10,000."""

    default_error_messages = {
        "not_a_list": "Expected a list of email addresses.",
        "item": "Item {index} is not an email address of at most 254 characters.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list")
        for index, item in enumerate(data):
            if not isinstance(item, str) or len(item) > 254:
                self.fail("item", index=index)
        return data

    def to_representation(self, value):
        return list(value)


class ServiceSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True)

    class Meta:
        model = Service
        fields = ["slug", "name", "status", "slo_target"]


class UpdateReadSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = IncidentUpdate
        fields = [
            "created_at",
            "effective_at",
            "kind",
            "author",
            "status",
            "severity",
            "message",
            "changes",
            "version",
            "visibility",
            "notify",
        ]


class IncidentReadSerializer(serializers.ModelSerializer):
    services = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    engineer = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Incident
        fields = [
            "ticket",
            "title",
            "description",
            "severity",
            "status",
            "services",
            "engineer",
            "external_url",
            "started_at",
            "resolved_at",
            "extra_recipients",
            "source",
            "created_at",
            "updated_at",
            "version",
            "url",
        ]
        read_only_fields = ["source"]

    def get_url(self, obj) -> str:
        request = self.context.get("request")
        path = obj.get_absolute_url()
        return request.build_absolute_uri(path) if request else path


class IncidentDetailSerializer(IncidentReadSerializer):
    updates = UpdateReadSerializer(many=True, read_only=True)

    class Meta(IncidentReadSerializer.Meta):
        fields = [*IncidentReadSerializer.Meta.fields, "updates"]


class _IncidentFields(serializers.Serializer):
    title = serializers.CharField(max_length=TITLE_MAX_LENGTH)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=DESCRIPTION_MAX_LENGTH)
    severity = serializers.ChoiceField(choices=Severity.choices)
    services = serializers.SlugRelatedField(
        slug_field="slug", many=True, queryset=Service.objects.filter(is_active=True), allow_empty=False
    )
    engineer = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.filter(is_active=True), required=False, allow_null=True
    )
    external_url = serializers.URLField(required=False, allow_blank=True, default="", max_length=500)
    started_at = AwareDateTimeField(required=False, allow_null=True, help_text="When impact began; default now.")
    # Addresses are checked (and de-duplicated, lower-cased) once, by the service's rule;
    # checking each of a thousand addresses here too doubled the work of a big request.
    extra_recipients = EmailListField(required=False, default=list, help_text="Email addresses")


class IncidentCreateSerializer(_IncidentFields):
    message = serializers.CharField(required=False, allow_blank=True, default="", max_length=MESSAGE_MAX_LENGTH)


class IncidentPatchSerializer(_IncidentFields):
    """A change to an open incident, or a correction of a resolved one (then ``reason`` is required)."""

    started_at = AwareDateTimeField(required=False)
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    version = serializers.IntegerField(required=False, min_value=1)
    message = serializers.CharField(required=False, allow_blank=True, default="", max_length=MESSAGE_MAX_LENGTH)
    resolved_at = AwareDateTimeField(required=False, help_text="Correction of a resolved incident only.")
    effective_at = AwareDateTimeField(
        required=False, help_text="Correction: from when the given severity applied (with severity)."
    )
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=MESSAGE_MAX_LENGTH,
        help_text="Why a resolved incident's record is corrected; required then.",
    )


class UpdateWriteSerializer(serializers.Serializer):
    message = serializers.CharField(max_length=MESSAGE_MAX_LENGTH)
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    version = serializers.IntegerField(required=False, min_value=1)
    effective_at = AwareDateTimeField(
        required=False, allow_null=True, help_text="When the change really happened; default now."
    )
    notify = serializers.BooleanField(required=False, default=True, help_text="Email the affected parties.")
    visibility = serializers.ChoiceField(
        choices=Visibility.choices,
        required=False,
        default=Visibility.PUBLIC,
        help_text="internal: for signed-in users only, never emailed, never on /status/.",
    )


class CloseSerializer(serializers.Serializer):
    message = serializers.CharField(max_length=MESSAGE_MAX_LENGTH)
    notify = serializers.BooleanField(required=False, default=True, help_text="Email the affected parties.")
    resolved_at = AwareDateTimeField(required=False, allow_null=True, help_text="When impact ended; default now.")
    version = serializers.IntegerField(required=False, min_value=1)


class ReopenSerializer(serializers.Serializer):
    message = serializers.CharField(max_length=MESSAGE_MAX_LENGTH)
    notify = serializers.BooleanField(required=False, default=True, help_text="Email the affected parties.")
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    version = serializers.IntegerField(required=False, min_value=1)


class IncidentFilterSerializer(serializers.Serializer):
    """Query parameters of the list and timeline calls."""

    start = AwareDateTimeField(required=False)
    end = AwareDateTimeField(required=False)
    service = serializers.SlugField(required=False)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    status = serializers.ChoiceField(choices=[("open", "Open"), *Status.choices], required=False)
    q = serializers.CharField(required=False, allow_blank=True)

    def validate(self, attrs):
        if attrs.get("start") and attrs.get("end") and attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": "end must be after start."})
        return attrs
