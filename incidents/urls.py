from django.urls import path

from . import postmortem_views, views

app_name = "incidents"

urlpatterns = [
    path("", views.IncidentListView.as_view(), name="list"),
    path("new/", views.IncidentCreateView.as_view(), name="new"),
    path("<str:ticket>/", views.IncidentDetailView.as_view(), name="detail"),
    path("<str:ticket>/update/", views.IncidentUpdateView.as_view(), name="update"),
    path("<str:ticket>/close/", views.IncidentCloseView.as_view(), name="close"),
    path("<str:ticket>/reopen/", views.IncidentReopenView.as_view(), name="reopen"),
    path("<str:ticket>/edit/", views.IncidentEditView.as_view(), name="edit"),
    path("<str:ticket>/correct/", views.IncidentCorrectView.as_view(), name="correct"),
    path("<str:ticket>/postmortem/", postmortem_views.PostmortemView.as_view(), name="postmortem"),
]
