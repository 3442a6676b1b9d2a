from django.urls import path

from . import views

urlpatterns = [
    path("automation/executions/", views.ExecutionPushView.as_view(), name="api-automation-executions"),
]
