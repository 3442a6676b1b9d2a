from rest_framework import serializers

from config.api import AwareDateTimeField

from ..choices import ExecutionStatus


class ExecutionInSerializer(serializers.Serializer):
    """One execution as a job's last step reports it. Domain rules are checked in the service."""

    job = serializers.CharField(max_length=200, help_text="The job's external id (as known to Beacon)")
    external_id = serializers.CharField(max_length=200, help_text="The execution's id; sending it again updates it")
    status = serializers.ChoiceField(choices=ExecutionStatus.choices)
    started_at = AwareDateTimeField()
    ended_at = AwareDateTimeField()
    hours_saved = serializers.DecimalField(
        max_digits=10,
        decimal_places=4,
        required=False,
        allow_null=True,
        help_text="This run's ROI value; when absent the job's minutes saved per run apply",
    )


class RecordResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
