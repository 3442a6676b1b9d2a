from django.urls import path, re_path

from . import views

app_name = "reports"

# Periods (YYYY-MM, YYYY-QN, YYYY) are matched loosely and checked in the view, so "2025-13"
# or "2026-Q5" gets a 404 that says why.
MONTH = r"(?P<month>[0-9]{4}-[0-9]{1,2}|[^/.]+)"

urlpatterns = [
    path("", views.ReportListView.as_view(), name="list"),
    path("jobs/<int:job_id>/", views.ReportJobView.as_view(), name="job"),
    re_path(rf"^{MONTH}\.pdf$", views.ReportPdfView.as_view(), name="pdf"),
    re_path(rf"^{MONTH}\.csv$", views.ReportCsvView.as_view(), name="csv"),
    re_path(rf"^{MONTH}/v(?P<version>[0-9]+)\.pdf$", views.ReportVersionPdfView.as_view(), name="version-pdf"),
    re_path(rf"^{MONTH}/v(?P<version>[0-9]+)/approve/$", views.ReportApproveView.as_view(), name="approve"),
    re_path(rf"^{MONTH}/generate/$", views.ReportGenerateView.as_view(), name="generate"),
    re_path(rf"^{MONTH}/email/$", views.ReportEmailView.as_view(), name="email"),
    re_path(rf"^{MONTH}/$", views.ReportDetailView.as_view(), name="detail"),
]
