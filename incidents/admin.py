from django.contrib import admin
from django.utils import timezone

from .models import ChatChannel, ChatDelivery, Delivery, Incident, IncidentOptOut, IncidentUpdate, Service, Subscriber


class SubscriberInline(admin.TabularInline):
    model = Subscriber
    extra = 1


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "slo_target", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [SubscriberInline]


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    """Addresses and distribution lists staff manage; rows with a user were added by that user."""

    list_display = ["email", "name", "service", "user"]
    list_filter = ["service", ("user", admin.EmptyFieldListFilter)]
    search_fields = ["email", "name", "user__username"]
    raw_id_fields = ["user"]


@admin.register(IncidentOptOut)
class IncidentOptOutAdmin(admin.ModelAdmin):
    """Addresses that used an email's unsubscribe link for one incident."""

    list_display = ["email", "incident", "created_at"]
    search_fields = ["email", "incident__ticket"]
    raw_id_fields = ["incident"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Incidents change only through Beacon's forms and API, so every change leaves a trace."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


class UpdateInline(admin.TabularInline):
    model = IncidentUpdate
    extra = 0
    can_delete = False
    fields = ["created_at", "kind", "visibility", "notify", "status", "severity", "author", "message"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    list_display = ["ticket", "title", "severity", "status", "started_at", "resolved_at"]
    list_filter = ["status", "severity", "services"]
    search_fields = ["ticket", "title"]
    inlines = [UpdateInline]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    """Failed deliveries are listed here for staff (filter by status)."""

    list_display = ["email", "ticket", "status", "attempts", "sent_at", "last_error"]
    list_filter = ["status"]
    search_fields = ["email", "update__incident__ticket"]
    list_select_related = ["update__incident"]
    actions = ["retry"]

    @admin.display(description="Ticket")
    def ticket(self, obj):
        return obj.update.incident.ticket

    @admin.action(description="Retry the selected failed deliveries")
    def retry(self, request, queryset):
        from .tasks import deliver_update

        update_ids = set(queryset.filter(status="failed").values_list("update_id", flat=True))
        # A retried delivery gets a fresh retry window (NOTIFY_RETRY_FOR_SECONDS from now).
        queryset.filter(status="failed").update(status="pending", claimed_until=None, created_at=timezone.now())
        for update_id in update_ids:
            deliver_update.delay(update_id)
        self.message_user(request, f"Re-queued deliveries of {len(update_ids)} update(s).")


@admin.register(ChatDelivery)
class ChatDeliveryAdmin(ReadOnlyAdmin):
    """Incident events per chat channel or webhook; failed ones are listed and retryable like emails."""

    list_display = ["channel", "ticket", "status", "attempts", "sent_at", "last_error"]
    list_filter = ["status", "channel"]
    search_fields = ["update__incident__ticket", "channel__name"]
    list_select_related = ["update__incident", "channel"]
    actions = ["retry"]

    @admin.display(description="Ticket")
    def ticket(self, obj):
        return obj.update.incident.ticket

    @admin.action(description="Retry the selected failed chat deliveries")
    def retry(self, request, queryset):
        from .tasks import post_incident_event

        failed = queryset.filter(status="failed")
        update_ids = set(failed.values_list("update_id", flat=True))
        failed.update(status="pending", claimed_until=None, created_at=timezone.now())
        for update_id in update_ids:
            post_incident_event.delay(update_id)
        self.message_user(request, f"Re-queued chat deliveries of {len(update_ids)} update(s).")


@admin.register(ChatChannel)
class ChatChannelAdmin(admin.ModelAdmin):
    list_display = ["name", "incident_events", "metrics_digest", "batch_alerts", "is_active"]


# --- Postmortems (written on /incidents/<ticket>/postmortem/; admin is for staff fixes) ---
from .models import ActionItem, Postmortem  # noqa: E402


class ActionItemInline(admin.TabularInline):
    model = ActionItem
    extra = 0
    fields = ["title", "owner", "due_date", "done"]


@admin.register(Postmortem)
class PostmortemAdmin(admin.ModelAdmin):
    list_display = ["incident", "author", "version", "updated_at"]
    search_fields = ["incident__ticket", "summary"]
    list_select_related = ["incident", "author"]
    raw_id_fields = ["incident"]
    readonly_fields = ["version", "created_at", "updated_at"]
    inlines = [ActionItemInline]


@admin.register(ActionItem)
class ActionItemAdmin(admin.ModelAdmin):
    list_display = ["title", "owner", "due_date", "done", "postmortem"]
    list_filter = ["done"]
    search_fields = ["title", "postmortem__incident__ticket"]
    list_select_related = ["owner", "postmortem__incident"]
