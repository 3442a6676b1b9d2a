from django.contrib import admin

from .models import MetricSeries, MetricSource, PollResult


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
    list_display = ["key", "label", "source", "role", "service", "unit", "enabled"]
    list_filter = ["role", "source", "enabled", "service"]
    search_fields = ["key", "label", "metric_name", "query"]
    list_select_related = ["source", "service"]
    autocomplete_fields = ["service"]
    fieldsets = [
        (None, {"fields": ["key", "label", "source", "role", "service", "environment", "unit", "enabled"]}),
        ("CloudWatch query", {"fields": ["namespace", "metric_name", "dimensions", "statistic", "period_seconds"]}),
        ("PromQL or URL", {"fields": ["query"]}),
        ("Thresholds", {"fields": ["warning_threshold", "critical_threshold", "threshold_direction"]}),
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
