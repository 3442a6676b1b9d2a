from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"

    def ready(self):
        # Not business logic: only tells the /status/ page cache that its data changed.
        from . import status_cache

        status_cache.connect_signals()
