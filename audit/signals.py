"""Audit entries for changes that have no service to record them: configuration edited in
``/admin/`` (services and their SLO targets, subscribers, metric sources and series, chat
channels, PagerDuty service links) and role changes (groups, staff and superuser flags), whether made in the admin
or by the role mapping at sign-in. Each entry carries the old and the new values."""

from __future__ import annotations

from decimal import Decimal

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from .choices import Action
from .services import audit_record

CONFIGURATION_MODELS = (
    "incidents.Service",
    "incidents.Subscriber",
    "incidents.ChatChannel",
    "metrics.MetricSource",
    "metrics.MetricSeries",
    "intake.ServiceLink",  # PagerDuty service → Beacon service
)
# Values of these fields are secrets (webhook URLs carry tokens): the trail says they changed.
SECRET_MARKERS = ("url", "secret", "token", "password", "key", "header")
USER_FLAGS = ("is_staff", "is_superuser", "is_active")


def _secret(field_name: str) -> bool:
    return any(marker in field_name.lower() for marker in SECRET_MARKERS)


def _plain(value):
    if isinstance(value, (int, float, bool, type(None))):
        return value
    if isinstance(value, Decimal):
        # 99.900 (as stored) and 99.9 (as typed) are the same target.
        return format(value.normalize(), "f")
    return str(value)


def _values(instance) -> dict:
    values = {}
    for field in instance._meta.concrete_fields:
        value = getattr(instance, field.attname)
        if isinstance(value, str) and isinstance(field, models.DecimalField):
            value = Decimal(value)
        values[field.name] = _plain(value)
    return values


def _diff(old: dict, new: dict) -> dict:
    changes = {}
    for name in new:
        if old.get(name) != new[name]:
            changes[name] = ["(hidden)", "(hidden)"] if _secret(name) else [old.get(name), new[name]]
    return changes


def _before_save(sender, instance, **kwargs):
    old = sender._default_manager.filter(pk=instance.pk).first() if instance.pk else None
    instance._audit_old = _values(old) if old is not None else None


def _after_save(sender, instance, created, **kwargs):
    old = getattr(instance, "_audit_old", None)
    new = _values(instance)
    if created or old is None:
        changes = {name: [None, "(hidden)" if _secret(name) else value] for name, value in new.items()}
        audit_record(action=Action.CONFIG_CREATE, target=instance, changes=changes)
        return
    changes = _diff(old, new)
    if changes:
        audit_record(action=Action.CONFIG_CHANGE, target=instance, changes=changes)


def _after_delete(sender, instance, **kwargs):
    changes = {name: ["(hidden)" if _secret(name) else value, None] for name, value in _values(instance).items()}
    audit_record(action=Action.CONFIG_DELETE, target=instance, changes=changes)


for label in CONFIGURATION_MODELS:
    model = apps.get_model(label)
    pre_save.connect(_before_save, sender=model, dispatch_uid=f"audit-pre-{label}")
    post_save.connect(_after_save, sender=model, dispatch_uid=f"audit-post-{label}")
    post_delete.connect(_after_delete, sender=model, dispatch_uid=f"audit-delete-{label}")


User = get_user_model()


def _user_before_save(sender, instance, **kwargs):
    old = sender._default_manager.filter(pk=instance.pk).values(*USER_FLAGS).first() if instance.pk else None
    instance._audit_flags = old


def _user_after_save(sender, instance, created, **kwargs):
    old = getattr(instance, "_audit_flags", None)
    if created or old is None:
        if instance.is_staff or instance.is_superuser:
            changes = {flag: [None, getattr(instance, flag)] for flag in USER_FLAGS}
            audit_record(action=Action.ROLE_CHANGE, target=instance, changes=changes)
        return
    changes = {
        flag: [old[flag], getattr(instance, flag)] for flag in USER_FLAGS if old[flag] != getattr(instance, flag)
    }
    if changes:
        audit_record(action=Action.ROLE_CHANGE, target=instance, changes=changes)


def _groups_changed(sender, instance, action, reverse, model, pk_set, **kwargs):
    if action not in ("post_add", "post_remove", "pre_clear") or reverse:
        # Changes made from the group's side (group.user_set) are rare; recorded per user only.
        return
    if action == "pre_clear":
        names = sorted(instance.groups.values_list("name", flat=True))
        if names:
            audit_record(action=Action.ROLE_CHANGE, target=instance, changes={"groups removed": [names, []]})
        return
    names = sorted(model._default_manager.filter(pk__in=pk_set or ()).values_list("name", flat=True))
    if not names:
        return
    key = "groups added" if action == "post_add" else "groups removed"
    before, after = ([], names) if action == "post_add" else (names, [])
    audit_record(action=Action.ROLE_CHANGE, target=instance, changes={key: [before, after]})


pre_save.connect(_user_before_save, sender=User, dispatch_uid="audit-user-pre")
post_save.connect(_user_after_save, sender=User, dispatch_uid="audit-user-post")
m2m_changed.connect(_groups_changed, sender=User.groups.through, dispatch_uid="audit-user-groups")
