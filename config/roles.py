"""Who may do what: roles, the named rules, and ``can``, the one decision.

Roles are Django groups (created by a migration and, with single sign-on, kept in step
with the identity provider's groups at every sign-in, see ``accounts.services.roles_sync``). Staff is
the ``is_staff`` flag. Superusers may do everything.

``can(user, rule, write=...)`` is the only place that answers "may this user do this?".
Pages (``AccessMiddleware``), the API (``UrlRulePermission``, DRF's default permission),
the admin (``BeaconAdminSite.has_permission``) and templates (``roles_context``) all ask
it, with the rule that ``config.access.URL_RULES`` declares for the URL being served.

Staff count as readers everywhere (they run Beacon) and may push ingest data (service
accounts); they do not file or correct incidents unless they also hold that role.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import SAFE_METHODS, BasePermission

HELPDESK = "helpdesk"
ENGINEER = "engineer"
LEADERSHIP = "leadership"
ALL_ROLES = (HELPDESK, ENGINEER, LEADERSHIP)

# Pseudo-roles a rule may name besides the groups.
STAFF = "staff"  # user.is_staff
SIGNED_IN = "signed-in"  # any authenticated user
ANYONE = "anyone"  # anonymous visitors too

# Sets of roles, reused by rules (and kept for code that names them).
FILE_INCIDENTS = (HELPDESK, ENGINEER)
READ_INCIDENTS = (HELPDESK, ENGINEER, LEADERSHIP)
WRITE_POSTMORTEMS = (ENGINEER,)
CORRECT_RECORDS = (ENGINEER,)
READ_REPORTS = (ENGINEER, LEADERSHIP)
READ_OPERATIONS = (HELPDESK, ENGINEER, LEADERSHIP)
WRITE_MAINTENANCE = (ENGINEER,)
READ_MAINTENANCE = (HELPDESK, ENGINEER, LEADERSHIP)


@dataclass(frozen=True)
class Rule:
    """Who may read (GET, HEAD, OPTIONS) and who may write (any other method)."""

    read: frozenset[str]
    write: frozenset[str]
    description: str = ""


def _rule(read: Iterable[str], write: Iterable[str], description: str) -> Rule:
    return Rule(frozenset(read), frozenset(write), description)


# The named rules. ``config.access.URL_RULES`` gives every URL one of these names.
RULES: dict[str, Rule] = {
    "public": _rule({ANYONE}, {ANYONE}, "anyone, signed in or not"),
    # Webhooks that prove themselves with an HMAC signature over the body, checked by the view.
    "signature": _rule({ANYONE}, {ANYONE}, "anyone with a valid signature (checked by the view)"),
    "signed_in": _rule({SIGNED_IN}, {SIGNED_IN}, "any signed-in user"),
    "staff": _rule({STAFF}, {STAFF}, "staff"),
    "read_incidents": _rule({*READ_INCIDENTS, STAFF}, FILE_INCIDENTS, "every role reads; helpdesk and engineers write"),
    "file_incidents": _rule(FILE_INCIDENTS, FILE_INCIDENTS, "helpdesk and engineers"),
    "postmortems": _rule({*READ_INCIDENTS, STAFF}, WRITE_POSTMORTEMS, "every role reads; engineers write"),
    "correct_records": _rule(CORRECT_RECORDS, CORRECT_RECORDS, "engineers"),
    "read_reports": _rule({*READ_REPORTS, STAFF}, {*READ_REPORTS, STAFF}, "engineers, leadership and staff"),
    "operations": _rule({*READ_OPERATIONS, STAFF}, {ENGINEER, STAFF}, "every role reads; engineers and staff push"),
    "batch_runs": _rule({*READ_OPERATIONS, STAFF}, {*FILE_INCIDENTS, STAFF}, "pushed by helpdesk, engineers, staff"),
    "maintenance": _rule({*READ_MAINTENANCE, STAFF}, {*WRITE_MAINTENANCE, STAFF}, "all read; engineers, staff write"),
    "maintenance_forms": _rule({*WRITE_MAINTENANCE, STAFF}, {*WRITE_MAINTENANCE, STAFF}, "engineers and staff"),
    "alert_webhook": _rule(FILE_INCIDENTS, FILE_INCIDENTS, "a token of a helpdesk or engineer user"),
}  # fmt: skip


def user_roles(user) -> set[str]:
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_beacon_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._beacon_roles = cached
    return cached


def can(user, rule: str, *, write: bool = False) -> bool:
    """The one decision: may ``user`` read (or, with ``write``, change) what ``rule`` guards?

    An unknown rule name is a programming error and raises ``KeyError``, never "allowed".
    """
    allowed = RULES[rule].write if write else RULES[rule].read
    if ANYONE in allowed:
        return True
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser or SIGNED_IN in allowed:
        return True
    if STAFF in allowed and user.is_staff:
        return True
    return bool(user_roles(user) & allowed)


def has_role(user, roles: Iterable[str], *, allow_staff: bool = False) -> bool:
    """True for superusers, members of one of ``roles`` and, with ``allow_staff``, staff users.

    For choices inside a view (e.g. whom to offer as engineer); access itself is ``can``.
    """
    if not user.is_authenticated:
        return False
    if user.is_superuser or (allow_staff and user.is_staff):
        return True
    return bool(user_roles(user) & set(roles))


def roles_context(request):
    user = request.user
    return {
        "can_file": can(user, "file_incidents", write=True),
        "can_postmortem": can(user, "postmortems", write=True),
        "can_correct": can(user, "correct_records", write=True),
        "can_read_reports": can(user, "read_reports"),
        "can_read_maintenance": can(user, "maintenance"),
        "can_write_maintenance": can(user, "maintenance", write=True),
        "can_audit": can(user, "staff"),
    }


# --- enforcement -------------------------------------------------------------------


def is_write(method: str) -> bool:
    return method.upper() not in SAFE_METHODS


def rule_for_request(request) -> str | None:
    from .access import rule_for

    return rule_for(getattr(request, "resolver_match", None))


def _denied(request, rule: str, reason=None):
    from .views import permission_denied

    response = permission_denied(
        request, PermissionDenied(reason or _("Your account does not have access to this page."))
    )
    # Says which rule refused (the permission-matrix test tells it from a view's own 403).
    response["X-Access-Rule"] = rule or "undeclared"
    return response


class AccessMiddleware:
    """Applies the declared rule of the URL to every page (DRF views are left to
    ``UrlRulePermission``, which runs after token authentication). A URL without a
    declared rule is refused: a new page is closed until someone says who may see it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        from rest_framework.views import APIView  # here: DRF's views import its settings, which name this module

        cls = getattr(view_func, "cls", None)
        if isinstance(cls, type) and issubclass(cls, APIView):
            return None
        rule = rule_for_request(request)
        if rule is None:
            return _denied(request, "", _("No access rule is declared for this page."))
        if can(request.user, rule, write=is_write(request.method)):
            return None
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return _denied(request, rule)


class UrlRulePermission(BasePermission):
    """DRF's default permission: the declared rule of the URL, through ``can``."""

    message = _("Your account does not have the role needed for this call.")

    def has_permission(self, request, view):
        rule = rule_for_request(request)
        if rule is None:
            return False
        return can(request.user, rule, write=is_write(request.method))


class RoleRequiredMixin:
    """Kept so views written before the access table still import; ``AccessMiddleware``
    and ``config.access.URL_RULES`` decide access, not attributes on the view."""


def role_permission(*roles, **options):
    """Kept for imports: the declared URL rule decides, whatever the arguments say."""
    return UrlRulePermission
