from django.urls import path

from . import views

urlpatterns = [
    path("batch-runs/", views.BatchRunView.as_view(), name="api-batch-runs"),
]
