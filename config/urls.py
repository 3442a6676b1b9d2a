from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from . import views

api_v1 = [
    path("", include("incidents.api.urls")),
    path("", include("dashboard.api.urls")),
    path("", include("reports.api.urls")),
    path("", include("metrics.api.urls")),
    path("", include("batches.api.urls")),
    path("", include("automation.api.urls")),
    path("", include("maintenance.api.urls")),
    path("", include("intake.api.urls")),
]

urlpatterns = [
    path("", include("dashboard.urls")),
    path("incidents/", include("incidents.urls")),
    path("reports/", include("reports.urls")),
    path("metrics/", include("metrics.urls")),
    path("batches/", include("batches.urls")),
    path("automation/", include("automation.urls")),
    path("maintenance/", include("maintenance.urls")),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file: no inline script under the CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("i18n/language/", views.set_language, name="set-language"),
    path("i18n/js/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
]

handler403 = "config.views.permission_denied"
handler404 = "config.views.page_not_found"
