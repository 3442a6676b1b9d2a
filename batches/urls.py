from django.urls import path

from . import views

app_name = "batches"

urlpatterns = [
    path("", views.MonitoringView.as_view(), name="monitoring"),
    path("<slug:slug>/", views.ClientView.as_view(), name="client"),
]
