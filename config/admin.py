from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .roles import can


class BeaconAdminSite(admin.AdminSite):
    """Django's admin with Beacon's access rule: the ``staff`` rule of ``config.roles``."""

    site_header = _("Beacon administration")
    site_title = _("Beacon")

    def has_permission(self, request):
        return can(request.user, "staff", write=request.method not in ("GET", "HEAD", "OPTIONS"))
