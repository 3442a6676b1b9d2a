from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from accounts import oidc
from accounts import views as account_views

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
    path("subscriptions/", include("incidents.subscription_urls")),
    path("healthz", views.healthz, name="healthz"),
    path("audit/", include("audit.urls")),
    # One sign-in page (throttled, two-factor, single sign-on) for the site and the admin.
    path("admin/login/", RedirectView.as_view(url="/accounts/login/", query_string=True), name="admin-login"),
    path("admin/", admin.site.urls),
    path("accounts/login/", account_views.SignInView.as_view(), name="login"),
    path("accounts/password_reset/", account_views.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("accounts/", include("accounts.urls")),
    path("oidc/authenticate/", oidc.SignInRequestView.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", oidc.SignInCallbackView.as_view(), name="oidc_authentication_callback"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file: no inline script under the CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("i18n/language/", views.set_language, name="set-language"),
    path("i18n/js/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
]

handler400 = "config.views.bad_request"
handler403 = "config.views.permission_denied"
handler404 = "config.views.page_not_found"
handler500 = "config.views.server_error"
