from django.contrib import admin

from .models import BatchAlert, BatchAlertEvent, BatchRun, Client


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    """Clients are configured here (interval, grace, size); their stats are kept by ingest."""

    list_display = ["name", "slug", "instance_size", "average_daily_volume", "expected_interval", "grace", "is_active"]
    list_filter = ["is_active", "instance_size"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["latest_run", "baseline_mean_seconds", "baseline_runs", "stats_updated_at"]


class ReadOnly(admin.ModelAdmin):
    """Runs and alerts arrive through the API, import and check; the admin only shows them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(BatchRun)
class BatchRunAdmin(ReadOnly):
    list_display = ["client", "run_id", "run_date", "status", "started_at", "duration", "records_processed"]
    list_filter = ["status"]
    search_fields = ["run_id", "client__slug", "client__name"]
    list_select_related = ["client"]
    date_hierarchy = "started_at"
    raw_id_fields = ["client"]


@admin.register(BatchAlert)
class BatchAlertAdmin(ReadOnly):
    list_display = ["client", "kind", "active", "raised_at", "cleared_at", "detail"]
    list_filter = ["kind", "active"]
    list_select_related = ["client"]


@admin.register(BatchAlertEvent)
class BatchAlertEventAdmin(ReadOnly):
    list_display = ["alert", "transition", "at", "emailed_at", "chatted_at", "last_error"]
    list_filter = ["transition"]
    list_select_related = ["alert__client"]
