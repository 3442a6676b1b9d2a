from django.urls import path

from . import feeds, views

app_name = "dashboard"

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("status/", views.StatusPageView.as_view(), name="status"),
    path("status/feed.atom", feeds.StatusFeed(), name="status-feed"),
]
