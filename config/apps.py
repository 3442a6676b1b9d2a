from django.contrib.admin.apps import AdminConfig


class BeaconAdminConfig(AdminConfig):
    """The admin, served by ``config.admin.BeaconAdminSite`` (access through ``can``)."""

    default_site = "config.admin.BeaconAdminSite"
