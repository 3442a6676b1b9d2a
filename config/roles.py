"""Roles are Django groups (created by a migration). One place decides who may do what.

Superusers may do everything. A logged-in user without the right group gets 403.
"""

from collections.abc import Iterable

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _
from rest_framework.permissions import BasePermission

HELPDESK = "helpdesk"
ENGINEER = "engineer"
LEADERSHIP = "leadership"
ALL_ROLES = (HELPDESK, ENGINEER, LEADERSHIP)

# Who may do what. Engineers do everything help desk does.
FILE_INCIDENTS = (HELPDESK, ENGINEER)
READ_INCIDENTS = (HELPDESK, ENGINEER, LEADERSHIP)
WRITE_POSTMORTEMS = (ENGINEER,)
CORRECT_RECORDS = (ENGINEER,)
READ_REPORTS = (ENGINEER, LEADERSHIP)
READ_OPERATIONS = (HELPDESK, ENGINEER, LEADERSHIP)
# Planned maintenance: engineers (and staff) schedule it, every role reads it.
WRITE_MAINTENANCE = (ENGINEER,)
READ_MAINTENANCE = (HELPDESK, ENGINEER, LEADERSHIP)


def user_roles(user) -> set[str]:
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_beacon_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._beacon_roles = cached
    return cached


def has_role(user, roles: Iterable[str], *, allow_staff: bool = False) -> bool:
    """True for superusers, members of one of ``roles`` and, with ``allow_staff``, staff users."""
    if not user.is_authenticated:
        return False
    if user.is_superuser or (allow_staff and user.is_staff):
        return True
    return bool(user_roles(user) & set(roles))


def roles_context(request):
    user = request.user
    return {
        "can_file": has_role(user, FILE_INCIDENTS),
        "can_postmortem": has_role(user, WRITE_POSTMORTEMS),
        "can_correct": has_role(user, CORRECT_RECORDS),
        "can_read_reports": has_role(user, READ_REPORTS),
        "can_read_maintenance": has_role(user, READ_MAINTENANCE, allow_staff=True),
        "can_write_maintenance": has_role(user, WRITE_MAINTENANCE, allow_staff=True),
    }


class RoleRequiredMixin(LoginRequiredMixin):
    """Anonymous users go to the login page; logged-in users without a role get 403."""

    roles: tuple[str, ...] = ()
    allow_staff = False  # staff users pass too (they run Beacon), e.g. for planned maintenance

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not has_role(request.user, self.roles, allow_staff=self.allow_staff):
            raise PermissionDenied(_("Your account does not have access to this page."))
        return super().dispatch(request, *args, **kwargs)


def role_permission(*roles: str, write_roles: tuple[str, ...] | None = None, allow_staff: bool = False):
    """A DRF permission class: ``roles`` may read, ``write_roles`` (default ``roles``) may write;
    with ``allow_staff``, staff users may do both."""

    class HasRole(BasePermission):
        message = "Your account does not have the role needed for this call."

        def has_permission(self, request, view):
            if request.method in ("GET", "HEAD", "OPTIONS"):
                return has_role(request.user, roles, allow_staff=allow_staff)
            return has_role(request.user, write_roles or roles, allow_staff=allow_staff)

    HasRole.__name__ = f"HasRole_{'_'.join(roles)}"
    return HasRole
