"""Postmortems ("autopsies") and their action items: every write goes through here.

A postmortem is saved as a whole (text and the full list of action items) in one
transaction, so a form that fails validation on one item writes nothing. Like incidents,
a postmortem carries a ``version``: a save based on an older version is refused with
``StaleVersion`` instead of silently overwriting another engineer's work.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from .choices import OUTAGE_SEVERITIES, Status
from .models import ActionItem, Incident, IncidentUpdate, Postmortem

TEXT_FIELDS = ("summary", "impact", "root_cause", "lessons")


class StaleVersion(Exception):
    """The postmortem was saved by someone else since the caller read it."""

    def __init__(self, postmortem: Postmortem, expected: int):
        self.postmortem = postmortem
        self.expected = expected
        if not expected:
            super().__init__(
                f"A colleague wrote the postmortem of {postmortem.incident.ticket} while you were typing. "
                "Your text is kept below: compare it with theirs, then save again to replace it."
            )
            return
        super().__init__(
            f"The postmortem of {postmortem.incident.ticket} was saved by someone else (you edited version "
            f"{expected}, it is now at version {postmortem.version}). Reload it and apply your change again."
        )


@dataclass
class ActionItemInput:
    """One action item as submitted: ``id`` is None for a new item; ``delete`` removes it."""

    title: str
    owner: object | None = None
    due_date: date | None = None
    done: bool = False
    id: int | None = None
    delete: bool = False


def postmortem_save(
    *,
    incident: Incident,
    by,
    summary: str,
    impact: str = "",
    root_cause: str = "",
    lessons: str = "",
    action_items: list[ActionItemInput] | None = None,
    expected_version: int | None = None,
    source_ref: str = "",
    now: datetime | None = None,
) -> Postmortem:
    """Create or update the incident's postmortem and replace its action items as given.

    ``action_items=None`` leaves the items alone; a list is the complete new state: items
    with an ``id`` are changed (or deleted), items without one are added.
    """
    now = now or timezone.now()
    errors: dict[str, list[str]] = {}
    if not (summary or "").strip():
        errors["summary"] = ["Write a short summary of what happened."]
    items = list(action_items or [])
    for index, item in enumerate(items, start=1):
        if not item.delete and not (item.title or "").strip():
            errors.setdefault("action_items", []).append(f"Action item {index} needs a title.")
    if errors:
        raise ValidationError(errors)

    with transaction.atomic():
        # The incident's row lock serialises first saves too: with no postmortem row yet
        # there is nothing else to lock, and two creators would otherwise both insert.
        Incident.objects.select_for_update().filter(pk=incident.pk).first()
        postmortem = Postmortem.objects.select_for_update().filter(incident=incident).first()
        if postmortem is None:
            postmortem = Postmortem(incident=incident, author=by, source_ref=source_ref)
        elif expected_version is not None and int(expected_version) != postmortem.version:
            # ``expected_version=0`` means "I saw no postmortem": a colleague's first save won.
            raise StaleVersion(postmortem, int(expected_version))
        else:
            postmortem.version += 1
        postmortem.summary = summary.strip()
        postmortem.impact = (impact or "").strip()
        postmortem.root_cause = (root_cause or "").strip()
        postmortem.lessons = (lessons or "").strip()
        if postmortem.author_id is None and by is not None:
            postmortem.author = by
        try:
            with transaction.atomic():
                postmortem.save()
        except IntegrityError:
            # A first save that slipped past the lock (a database without row locks).
            raise StaleVersion(Postmortem.objects.get(incident=incident), int(expected_version or 0)) from None
        if action_items is not None:
            _save_items(postmortem, items, now=now)
    return postmortem


def _save_items(postmortem: Postmortem, items: list[ActionItemInput], *, now: datetime) -> None:
    existing = {item.pk: item for item in postmortem.action_items.all()}
    for item in items:
        if item.id is not None and item.id not in existing:
            raise ValidationError({"action_items": [f"Action item {item.id} does not belong to this postmortem."]})
    for item in items:
        if item.id is not None:
            current = existing[item.id]
            if item.delete:
                current.delete()
                continue
            if item.done and not current.done:
                current.done_at = now
            elif not item.done:
                current.done_at = None
            current.title = item.title.strip()
            current.owner = item.owner
            current.due_date = item.due_date
            current.done = item.done
            current.save()
        elif not item.delete:
            ActionItem.objects.create(
                postmortem=postmortem,
                title=item.title.strip(),
                owner=item.owner,
                due_date=item.due_date,
                done=item.done,
                done_at=now if item.done else None,
            )


# --- the one rule: which incidents need a postmortem -------------------------------


def postmortem_required(*, worst_severity: int) -> bool:
    """An incident needs a postmortem when it was Sev 1–2 at any point (its worst severity)."""
    return worst_severity in OUTAGE_SEVERITIES


def postmortem_state(*, has_postmortem: bool, worst_severity: int, status: str) -> str:
    """``written``, ``not required``, ``pending`` (still open) or ``missing``: the report's
    column, by the same rule as ``postmortems_due`` (the dashboard's flag) in SQL."""
    if has_postmortem:
        return "written"
    if not postmortem_required(worst_severity=worst_severity):
        return "not required"
    if status != Status.RESOLVED:
        return "pending"
    return "missing"


def _was_outage() -> Q:
    """``postmortem_required`` as a filter: Sev 1–2 now, or in any update of the log."""
    logged = Exists(IncidentUpdate.objects.filter(incident=OuterRef("pk"), severity__in=OUTAGE_SEVERITIES))
    return Q(severity__in=OUTAGE_SEVERITIES) | Q(logged)


# --- reads the dashboard needs (kept beside the model they describe) ---------------


def postmortems_due(*, now: datetime | None = None, due_days: int | None = None) -> QuerySet:
    """Resolved incidents that were Sev 1–2 at any point and still lack a postmortem
    ``due_days`` (default ``POSTMORTEM_DUE_DAYS``) after their resolution, most recent first
    (the ones the team still remembers well enough to write up).

    "At any point" reads the append-only update log: an outage downgraded to Sev 3 just
    before closing still deserves its autopsy.
    """
    now = now or timezone.now()
    due_days = settings.POSTMORTEM_DUE_DAYS if due_days is None else due_days
    return (
        Incident.objects.filter(status=Status.RESOLVED, resolved_at__lte=now - timedelta(days=due_days))
        .filter(_was_outage())
        .filter(postmortem__isnull=True)
        .select_related("engineer")
        .order_by("-resolved_at", "-id")
    )


def action_items_overdue(*, today: date | None = None) -> QuerySet:
    """Open action items whose due date has passed, most overdue first."""
    today = today or timezone.localdate()
    return (
        ActionItem.objects.filter(done=False, due_date__lt=today)
        .select_related("owner", "postmortem__incident")
        .order_by("due_date", "id")
    )
