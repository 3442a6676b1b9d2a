from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

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
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

handler400 = "config.views.bad_request"
handler403 = "config.views.permission_denied"
handler404 = "config.views.page_not_found"
handler500 = "config.views.server_error"
