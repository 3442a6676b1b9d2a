from django.urls import path

from . import views

urlpatterns = [
    path("automation/executions/", views.ExecutionView.as_view(), name="api-automation-executions"),
    path("automation/roi/", views.RoiView.as_view(), name="api-automation-roi"),
]
