"""Schema of one batch run for the OpenAPI docs. Parsing and validation live once in
``batches.services.run_clean`` (shared with the CSV import), not here."""

from rest_framework import serializers

from config.api import AwareDateTimeField

from ..choices import RunStatus


class BatchRunInSerializer(serializers.Serializer):
    client = serializers.SlugField(help_text="Client slug; an unknown slug registers the client.")
    run_id = serializers.CharField(max_length=100, help_text="The producer's id; re-sending it updates the run.")
    run_date = serializers.DateField(required=False, help_text="Business date; default: started_at's date.")
    started_at = AwareDateTimeField(help_text="ISO 8601 with offset.")
    finished_at = AwareDateTimeField(required=False, help_text="Required unless status is running.")
    duration_seconds = serializers.FloatField(required=False, help_text="Instead of finished_at.")
    status = serializers.ChoiceField(choices=RunStatus.choices)
    records_processed = serializers.IntegerField(required=False, min_value=0)
    client_name = serializers.CharField(required=False)
    instance_size = serializers.CharField(required=False)
    average_daily_volume = serializers.IntegerField(required=False, min_value=0)


class IngestResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class RowErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="0-based position in the posted list.")
    run_id = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class IngestErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    rows = RowErrorSerializer(many=True)
