from django.contrib import admin

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the trail is appended by Beacon and never edited or deleted."""

    list_display = ["at", "actor_name", "action", "object_type", "object_repr", "summary"]
    list_filter = ["action"]
    search_fields = ["actor_name", "object_repr", "summary"]
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        return {}
