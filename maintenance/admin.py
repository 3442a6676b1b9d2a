from django.contrib import admin

from .models import Maintenance, MaintenanceDelivery


class DeliveryInline(admin.TabularInline):
    model = MaintenanceDelivery
    extra = 0
    can_delete = False
    fields = ["event", "email", "status", "attempts", "sent_at", "last_error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Maintenance)
class MaintenanceAdmin(admin.ModelAdmin):
    """Read-only here: maintenance changes through `/maintenance/` and the API, which email subscribers."""

    list_display = ["title", "status", "starts_at", "ends_at", "source_ref"]
    list_filter = ["status", "services"]
    search_fields = ["title", "description", "source_ref"]
    date_hierarchy = "starts_at"
    inlines = [DeliveryInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(MaintenanceDelivery)
class MaintenanceDeliveryAdmin(admin.ModelAdmin):
    """Failed maintenance emails are listed here (filter by status) and can be retried."""

    list_display = ["email", "maintenance", "event", "status", "attempts", "sent_at", "last_error"]
    list_filter = ["status", "event"]
    search_fields = ["email", "maintenance__title"]
    list_select_related = ["maintenance"]
    actions = ["retry"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Retry the selected failed emails")
    def retry(self, request, queryset):
        from .tasks import deliver_maintenance

        failed = queryset.filter(status="failed")
        pairs = set(failed.values_list("maintenance_id", "event"))
        failed.update(status="pending", claimed_until=None)
        for maintenance_id, event in pairs:
            deliver_maintenance.delay(maintenance_id, event)
        self.message_user(request, f"Re-queued emails of {len(pairs)} maintenance event(s).")
