from django.urls import path

from . import views

urlpatterns = [
    path("integrations/pagerduty/", views.PagerDutyWebhookView.as_view(), name="api-pagerduty-webhook"),
]
