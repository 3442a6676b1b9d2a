"""Writes of the accounts app: API tokens and the roles that identity providers grant."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.choices import Action
from audit.services import audit_record
from config.roles import ALL_ROLES

from .models import ApiToken, key_hash

KEY_BYTES = 30  # 40 URL-safe characters


def token_create(*, user, name: str, expires_days: int | None = None, by=None) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns it with its key, which is shown this once only."""
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = "Give the token a name, e.g. what will use it."
    elif len(name) > 100:
        errors["name"] = "At most 100 characters."
    if expires_days is not None and not (1 <= int(expires_days) <= 3650):
        errors["expires_days"] = "Between 1 and 3650 days, or leave empty for no expiry."
    if errors:
        raise ValidationError(errors)
    key = secrets.token_urlsafe(KEY_BYTES)
    now = timezone.now()
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=key[:8],
            key_hash=key_hash(key),
            created_at=now,
            expires_at=now + timedelta(days=int(expires_days)) if expires_days else None,
        )
        audit_record(
            action=Action.TOKEN_CREATE,
            actor=by or user,
            target=token,
            summary=f"for {user.get_username()}"
            + (f", expires {token.expires_at:%Y-%m-%d}" if token.expires_at else ", no expiry"),
        )
    return token, key


def token_revoke(*, token: ApiToken, by) -> ApiToken:
    """Revoke at once; a revoked token never works again. Revoking twice changes nothing."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit_record(action=Action.TOKEN_REVOKE, actor=by, target=token)
    return token


def token_authenticate(key: str) -> ApiToken | None:
    """The active token with this key (its last use stamped), or None."""
    now = timezone.now()
    token = ApiToken.objects.select_related("user").filter(key_hash=key_hash(key)).first()
    if token is None or not token.is_active_at(now):
        return None
    # Stamp at most once a minute: a busy pusher should not write on every call.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


# --- roles from the identity provider -------------------------------------------------


def _normalise(names: Iterable[str]) -> set[str]:
    found = set()
    for name in names:
        name = (name or "").strip().lower()
        if not name:
            continue
        found.add(name)
        if "=" in name and "," in name:  # an LDAP DN: its first RDN value counts too (cn=engineers,…)
            found.add(name.split(",", 1)[0].split("=", 1)[1].strip())
    return found


def roles_from_groups(groups: Iterable[str]) -> tuple[set[str], bool]:
    """(Beacon roles, staff?) for the identity provider's group names, by ``ROLE_GROUPS``."""
    have = _normalise(groups)
    mapping = settings.ROLE_GROUPS
    roles = {role for role in ALL_ROLES if have & _normalise(mapping.get(role, []))}
    staff = bool(have & _normalise(mapping.get("staff", [])))
    return roles, staff


def roles_sync(*, user, groups: Iterable[str]) -> None:
    """Make the user's Beacon roles and staff flag what the provider's groups say, now.

    Called at every single sign-in: a person removed from a group loses the role at their
    next sign-in. Groups that are not Beacon roles are left alone; so is ``is_superuser``.
    Without any ``ROLE_GROUPS_*`` variable set, nothing is changed.
    Changes reach the audit trail through ``audit.signals``.
    """
    if not any(settings.ROLE_GROUPS.values()):
        return  # no mapping configured: roles are managed by hand in /admin/
    roles, staff = roles_from_groups(groups)
    with transaction.atomic():
        current = set(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
        if current - roles:
            user.groups.remove(*Group.objects.filter(name__in=current - roles))
        if roles - current:
            user.groups.add(*[Group.objects.get_or_create(name=name)[0] for name in sorted(roles - current)])
        if user.is_staff != staff:
            user.is_staff = staff
            user.save(update_fields=["is_staff"])
    user._beacon_roles = None
    if hasattr(user, "_beacon_roles"):
        del user._beacon_roles
