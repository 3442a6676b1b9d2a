from django.contrib import admin

from .models import MonthlyReport, ReportEmail


class ReportEmailInline(admin.TabularInline):
    model = ReportEmail
    extra = 0
    can_delete = False
    readonly_fields = ("recipients", "sha256", "sent_at", "sent_by")


@admin.register(MonthlyReport)
class MonthlyReportAdmin(admin.ModelAdmin):
    """Read-only: versions are made by the report service so the stored checksum stays true."""

    list_display = ("month", "version", "trigger", "generated_by", "generated_at", "size", "sha256")
    list_filter = ("trigger",)
    readonly_fields = [f.name for f in MonthlyReport._meta.fields]
    inlines = [ReportEmailInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
