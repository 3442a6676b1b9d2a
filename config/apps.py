from django.contrib.admin.apps import AdminConfig


class BeaconAdminConfig(AdminConfig):
    """The admin, served by ``config.admin.BeaconAdminSite`` (access through ``can``)."""

    default_site = "config.admin.BeaconAdminSite"

    def ready(self):
        super().ready()
        from config import startup  # noqa: F401 - registers the SECRET_KEY system check
