from django.urls import path

from . import views

app_name = "automation"

urlpatterns = [
    path("", views.AutomationDashboardView.as_view(), name="dashboard"),
    path("export.csv", views.AutomationExportView.as_view(), name="export"),
]
