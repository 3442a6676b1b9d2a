from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("two-factor/", views.TwoFactorView.as_view(), name="two-factor"),
    path("tokens/", views.TokenListView.as_view(), name="tokens"),
    path("tokens/<int:pk>/revoke/", views.TokenRevokeView.as_view(), name="token-revoke"),
]
