"""Sign-in backends. The protocols are the libraries' (mozilla-django-oidc, django-auth-ldap,
Django's RemoteUserBackend); Beacon only maps the provider's groups to roles, through
``accounts.services.roles_sync``, at every sign-in."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.backends import BaseBackend, RemoteUserBackend
from django.core.exceptions import SuspiciousOperation
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from .oidc import oidc_setting
from .services import roles_sync

logger = logging.getLogger(__name__)


class BeaconOIDCBackend(OIDCAuthenticationBackend):
    """Users are matched and created by the username claim; roles from the groups claim."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args, **kwargs):
        # Endpoints are read when a sign-in needs them (see accounts.oidc), not whenever
        # Django instantiates backends, e.g. for a password sign-in.
        from django.contrib.auth import get_user_model

        self.UserModel = get_user_model()
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self):  # noqa: N802 - the parent's attribute names
        return oidc_setting("OIDC_OP_TOKEN_ENDPOINT")

    @property
    def OIDC_OP_USER_ENDPOINT(self):  # noqa: N802
        return oidc_setting("OIDC_OP_USER_ENDPOINT")

    @property
    def OIDC_OP_JWKS_ENDPOINT(self):  # noqa: N802
        return oidc_setting("OIDC_OP_JWKS_ENDPOINT")

    def get_userinfo(self, access_token, id_token, payload):
        """The ID token's claims, completed by the userinfo endpoint when there is one
        (some providers put groups only in the ID token, others only in userinfo)."""
        claims = dict(payload)
        if self.OIDC_OP_USER_ENDPOINT:
            claims.update(super().get_userinfo(access_token, id_token, payload))
        return claims

    def _username(self, claims) -> str:
        return str(claims.get(settings.OIDC_USERNAME_CLAIM) or claims.get("email") or claims.get("sub") or "")[:150]

    def verify_claims(self, claims):
        return bool(self._username(claims))

    def describe_user_by_claims(self, claims):
        return f"username {self._username(claims)}"

    def filter_users_by_claims(self, claims):
        return self.UserModel.objects.filter(username__iexact=self._username(claims))

    def _groups(self, claims) -> list[str]:
        groups = claims.get(settings.OIDC_GROUPS_CLAIM) or []
        if isinstance(groups, str):
            groups = [groups]
        return [str(g) for g in groups]

    def create_user(self, claims):
        user = self.UserModel.objects.create_user(self._username(claims), email=claims.get("email") or "")
        return self.update_user(user, claims)

    def update_user(self, user, claims):
        if not user.is_active:
            raise SuspiciousOperation(f"{user.get_username()} is deactivated in Beacon")
        changed = []
        for field, claim in (("email", "email"), ("first_name", "given_name"), ("last_name", "family_name")):
            value = (claims.get(claim) or "")[:150]
            if value and getattr(user, field) != value:
                setattr(user, field, value)
                changed.append(field)
        if changed:
            user.save(update_fields=changed)
        roles_sync(user=user, groups=self._groups(claims))
        return user


try:
    from django_auth_ldap.backend import LDAPBackend
except ImportError:  # python-ldap not installed: LDAP sign-in stays off (settings check LDAP_ENABLED)
    LDAPBackend = None

if LDAPBackend is not None:

    class BeaconLDAPBackend(LDAPBackend):
        """Bind, user search and group search by django-auth-ldap; roles from the groups."""

        def authenticate_ldap_user(self, ldap_user, password):
            user = super().authenticate_ldap_user(ldap_user, password)
            if user is not None:
                groups = [*ldap_user.group_dns, *ldap_user.group_names]
                roles_sync(user=user, groups=groups)
            return user


class TrustedProxyBackend(RemoteUserBackend):
    """The user named by a trusted proxy's header (see ``TrustedProxyUserMiddleware``)."""

    create_unknown_user = True

    def authenticate(self, request, remote_user=None, groups=None):
        user = super().authenticate(request, remote_user)
        if user is not None and groups is not None:
            roles_sync(user=user, groups=groups)
        return user


# Apps whose objects staff configure in /admin/ (users, groups, tokens and the audit trail
# stay with superusers).
STAFF_CONFIGURES = {"incidents", "metrics", "batches", "automation", "maintenance", "reports", "intake"}


class StaffConfigurationBackend(BaseBackend):
    """Staff may configure Beacon in the admin without per-model permissions, so a
    staff role given by the identity provider is enough (``config.roles.can``)."""

    def authenticate(self, request, **credentials):
        return None

    def _staff(self, user_obj) -> bool:
        from config.roles import can

        return can(user_obj, "staff", write=True)

    def has_perm(self, user_obj, perm, obj=None):
        return self._staff(user_obj) and perm.split(".", 1)[0] in STAFF_CONFIGURES

    def has_module_perms(self, user_obj, app_label):
        return self._staff(user_obj) and app_label in STAFF_CONFIGURES
