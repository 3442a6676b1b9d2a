from django.contrib import admin
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import services
from .models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Superusers see every token and may revoke them; keys are never shown (only hashes are kept)."""

    list_display = ["name", "user", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__username", "prefix"]
    readonly_fields = ["user", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # made on /accounts/tokens/ or by `manage.py create_token`, which show the key once

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead, so the trail keeps the token

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        for token in queryset:
            services.token_revoke(token=token, by=request.user)


# django-otp's own TOTP admin has config/QR pages that answer an unknown id with a 500 and
# would show a user's secret to another; superusers only need to see and remove devices
# (a person who lost their phone sets a new one up at the next sign-in).
admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(admin.ModelAdmin):
    list_display = ["user", "name", "confirmed", "last_used_at"]
    search_fields = ["user__username"]
    fields = ["user", "name", "confirmed", "last_used_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
