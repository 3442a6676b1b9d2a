from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter(trailing_slash=True)
router.register("maintenances", views.MaintenanceViewSet, basename="maintenance")

urlpatterns = router.urls
