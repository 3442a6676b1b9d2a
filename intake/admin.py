from django.contrib import admin

from .models import ImportCursor, ServiceLink, WebhookEvent


@admin.register(ServiceLink)
class ServiceLinkAdmin(admin.ModelAdmin):
    """Point a PagerDuty service at the Beacon service its incidents should count against."""

    list_display = ["external_name", "external_id", "source", "service"]
    list_filter = ["source"]
    search_fields = ["external_name", "external_id", "service__name"]
    readonly_fields = ["source", "external_id", "external_name"]

    def has_add_permission(self, request):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Written by the import and the webhook only; delete a cursor to import from the start again."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ImportCursor)
class ImportCursorAdmin(ReadOnlyAdmin):
    list_display = ["source", "last_until", "last_success_at", "running_since"]


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "source", "event_type", "incident_ref", "outcome", "event_id"]
    list_filter = ["source", "event_type"]
    search_fields = ["event_id", "incident_ref"]
    date_hierarchy = "received_at"
