from django.urls import path

from . import views

urlpatterns = [
    path("metrics/samples/", views.SampleIngestView.as_view(), name="api-metric-samples"),
    path("metrics/series/", views.SeriesListView.as_view(), name="api-metric-series"),
]
