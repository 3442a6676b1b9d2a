from django.urls import path

from . import views

urlpatterns = [
    path("metrics/samples/", views.SampleIngestView.as_view(), name="api-metric-samples"),
    path("integrations/alertmanager/", views.AlertmanagerWebhookView.as_view(), name="api-integrations-alertmanager"),
    path("metrics/series/", views.SeriesListView.as_view(), name="api-metric-series"),
]
