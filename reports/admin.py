from django.contrib import admin

from .models import MonthlyReport, ReportEmail, ReportJob, ServiceGroup


class ReportEmailInline(admin.TabularInline):
    model = ReportEmail
    extra = 0
    can_delete = False
    readonly_fields = ("recipients", "sha256", "sent_at", "sent_by")


@admin.register(MonthlyReport)
class MonthlyReportAdmin(admin.ModelAdmin):
    """Read-only: versions are made by the report service so the stored checksum stays true."""

    list_display = ("period", "group", "version", "trigger", "review_state", "generated_at", "size", "sha256")
    list_filter = ("trigger", "review_state", "group")
    readonly_fields = [f.name for f in MonthlyReport._meta.fields]
    inlines = [ReportEmailInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ServiceGroup)
class ServiceGroupAdmin(admin.ModelAdmin):
    """Groups of services reported together (``?group=<slug>``), each with its own recipients."""

    list_display = ("name", "slug", "recipients")
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("services",)
    search_fields = ("name", "slug")


@admin.register(ReportJob)
class ReportJobAdmin(admin.ModelAdmin):
    list_display = ("period", "group", "status", "progress", "trigger", "requested_by", "requested_at", "finished_at")
    list_filter = ("status", "trigger")
    readonly_fields = [f.name for f in ReportJob._meta.fields]

    def has_add_permission(self, request):
        return False
