from django.urls import path

from . import views

urlpatterns = [
    path("uptime/", views.UptimeView.as_view(), name="api-uptime"),
]
