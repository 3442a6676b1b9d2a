from rest_framework import serializers

from config.api import AwareDateTimeField


class SampleRowSerializer(serializers.Serializer):
    """Documents one row of the bulk body (validation itself is plain Python in ``samples_ingest``)."""

    series = serializers.CharField(help_text="Series key")
    ts = AwareDateTimeField(help_text="ISO 8601 with offset")
    value = serializers.FloatField()


class SampleIngestResultSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    stored = serializers.IntegerField(help_text="Rows new or changed; 0 when the batch was already stored")


class MetricSeriesSerializer(serializers.Serializer):
    key = serializers.CharField(source="series.key")
    label = serializers.CharField(source="series.label")
    role = serializers.CharField(source="series.role")
    unit = serializers.CharField(source="series.unit")
    environment = serializers.CharField(source="series.env_label")
    region = serializers.CharField(source="series.source.region")
    source = serializers.CharField(source="series.source.name")
    service = serializers.CharField(
        source="series.service.slug", allow_null=True, default=None, help_text="Service slug"
    )
    latest_value = serializers.FloatField(source="latest", allow_null=True)
    latest_ts = serializers.DateTimeField(allow_null=True)
    previous_hour_value = serializers.FloatField(source="previous", allow_null=True)
    breach = serializers.CharField(allow_null=True)
    last_poll_status = serializers.CharField(source="last_poll.status", allow_null=True, default=None)
    last_poll_message = serializers.CharField(source="last_poll.message", allow_null=True, default=None)


class AlertmanagerAlertSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="firing or resolved")
    labels = serializers.DictField(child=serializers.CharField(), help_text="`service` (slug) and `severity` matter.")
    annotations = serializers.DictField(child=serializers.CharField(), required=False)
    startsAt = AwareDateTimeField()
    endsAt = AwareDateTimeField(required=False)
    generatorURL = serializers.URLField(required=False)
    fingerprint = serializers.CharField(required=False)


class AlertmanagerPayloadSerializer(serializers.Serializer):
    """The Alertmanager webhook payload, version 4 (documentation only; parsed by integrations.alertmanager)."""

    version = serializers.CharField(default="4")
    groupKey = serializers.CharField()
    truncatedAlerts = serializers.IntegerField(required=False)
    status = serializers.CharField(help_text="firing or resolved")
    receiver = serializers.CharField(required=False)
    groupLabels = serializers.DictField(child=serializers.CharField(), required=False)
    commonLabels = serializers.DictField(child=serializers.CharField(), required=False)
    commonAnnotations = serializers.DictField(child=serializers.CharField(), required=False)
    externalURL = serializers.URLField(required=False)
    alerts = AlertmanagerAlertSerializer(many=True)


class AlertmanagerResultSerializer(serializers.Serializer):
    action = serializers.CharField(help_text="opened, updated, resolved or unchanged")
    duplicate = serializers.BooleanField(help_text="The same notification was already handled.")
    incident = serializers.CharField(allow_null=True, help_text="Ticket of the group's incident")
    status = serializers.CharField(allow_null=True)
    severity = serializers.IntegerField(allow_null=True)
