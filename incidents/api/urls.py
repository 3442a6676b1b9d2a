from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter(trailing_slash=True)
router.register("incidents", views.IncidentViewSet, basename="incident")

urlpatterns = [
    path("services/", views.ServiceListView.as_view(), name="api-services"),
    *router.urls,
]
