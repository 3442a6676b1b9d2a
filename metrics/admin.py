from django.contrib import admin

from .models import AlertGroup, MetricSeries, MetricSource, PollResult, SeriesAlarm


class SeriesInline(admin.TabularInline):
    model = MetricSeries
    fields = ["key", "label", "role", "service", "unit", "enabled"]
    extra = 0
    show_change_link = True


@admin.register(MetricSource)
class MetricSourceAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "environment", "region", "enabled"]
    list_filter = ["kind", "environment", "enabled"]
    search_fields = ["name", "region", "base_url"]
    inlines = [SeriesInline]
    fieldsets = [
        (None, {"fields": ["name", "kind", "environment", "region", "enabled"]}),
        (
            "AWS CloudWatch",
            {
                "fields": ["endpoint_url", "aws_profile", "role_arn"],
                "description": "Credentials come from the AWS chain (environment, profile, instance role); "
                "never stored here.",
            },
        ),
        (
            "Prometheus / HTTP JSON",
            {
                "fields": ["base_url", "auth_env_var", "json_values_path", "json_timestamps_path", "json_ts_key",
                           "json_value_key"],
            },
        ),
    ]  # fmt: skip


@admin.register(MetricSeries)
class MetricSeriesAdmin(admin.ModelAdmin):
    list_display = ["key", "label", "source", "role", "service", "unit", "enabled", "opens_incidents"]
    list_filter = ["role", "source", "enabled", "opens_incidents", "service"]
    search_fields = ["key", "label", "metric_name", "query"]
    list_select_related = ["source", "service"]
    autocomplete_fields = ["service"]
    fieldsets = [
        (None, {"fields": ["key", "label", "source", "role", "service", "environment", "unit", "enabled"]}),
        ("CloudWatch query", {"fields": ["namespace", "metric_name", "dimensions", "statistic", "period_seconds"]}),
        ("PromQL or URL", {"fields": ["query"]}),
        ("Thresholds", {"fields": ["warning_threshold", "critical_threshold", "threshold_direction"]}),
        (
            "Incidents from the critical threshold",
            {
                "fields": ["opens_incidents", "incident_after_polls"],
                "description": "When on, this many polls in a row past the critical threshold open an incident for "
                "the series' service (or join the one open); as many good polls resolve it. Polls without data "
                "count neither way.",
            },
        ),
    ]


@admin.register(PollResult)
class PollResultAdmin(admin.ModelAdmin):
    list_display = ["series", "status", "window_start", "window_end", "samples", "attempts", "polled_at"]
    list_filter = ["status", "series__source"]
    list_select_related = ["series"]
    date_hierarchy = "polled_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SeriesAlarm)
class SeriesAlarmAdmin(admin.ModelAdmin):
    """Read-only: the state is written by polling only."""

    list_display = ["series", "in_alarm", "bad_polls", "good_polls", "last_value", "last_ts", "incident"]
    list_filter = ["in_alarm"]
    list_select_related = ["series", "incident"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AlertGroup)
class AlertGroupAdmin(admin.ModelAdmin):
    """Read-only: Alertmanager groups and the incident each drives."""

    list_display = ["group_key", "receiver", "incident", "episodes", "updated_at"]
    search_fields = ["group_key", "receiver"]
    list_select_related = ["incident"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
