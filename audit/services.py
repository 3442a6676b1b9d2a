"""Writing to the audit trail: ``audit_record`` is the only writer."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from django.db import models

from .choices import Action
from .context import current_request
from .models import AuditEntry

logger = logging.getLogger(__name__)


def _ip(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None


def audit_record(
    *,
    action: Action | str,
    actor=None,
    actor_name: str = "",
    target: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    summary: str = "",
    changes: dict[str, Any] | None = None,
    request=None,
) -> AuditEntry:
    """Append one entry. ``actor`` defaults to the user of the current request (if any)."""
    request = request if request is not None else current_request.get()
    if actor is None:
        actor = getattr(request, "user", None)
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    if target is not None:
        object_type = object_type or target._meta.label
        object_id = object_id or str(target.pk)
        object_repr = object_repr or str(target)
    ip = request.META.get("REMOTE_ADDR") if request is not None else None
    return AuditEntry.objects.create(
        actor=actor,
        actor_name=(actor.get_username() if actor is not None else actor_name)[:150],
        action=action,
        object_type=object_type[:100],
        object_id=str(object_id)[:100],
        object_repr=str(object_repr)[:300],
        summary=str(summary)[:500],
        changes=changes or {},
        ip_address=_ip(ip),
    )
