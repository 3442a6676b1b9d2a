from django.contrib import admin

from .models import AutomationJob, Execution, ImportCursor, ImportRun, Tag


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]


@admin.register(AutomationJob)
class AutomationJobAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "group", "minutes_saved", "cost_per_hour", "external_id"]
    list_editable = ["minutes_saved", "cost_per_hour"]
    list_filter = ["project", "tags"]
    search_fields = ["name", "external_id", "project", "group"]
    filter_horizontal = ["tags"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):
    list_display = ["external_id", "job", "status", "started_at", "ended_at", "hours_saved", "source"]
    list_filter = ["status", "source", "job__project"]
    search_fields = ["external_id", "job__name", "job__external_id"]
    date_hierarchy = "started_at"
    list_select_related = ["job"]
    raw_id_fields = ["job"]
    readonly_fields = ["duration_seconds", "created_at", "updated_at"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Import bookkeeping is written by the importer only; people read it, or delete a cursor to re-import."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ImportCursor)
class ImportCursorAdmin(ReadOnlyAdmin):
    list_display = ["job", "in_progress", "next_offset", "safe_execution_id", "last_completed_at", "server"]
    list_select_related = ["job"]


@admin.register(ImportRun)
class ImportRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "finished_at", "status", "jobs", "pages", "executions_created", "message"]
    list_filter = ["status"]
