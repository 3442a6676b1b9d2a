from datetime import timedelta

from django.db import models
from django.utils.translation import gettext_lazy as _


class MaintenanceStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    IN_PROGRESS = "in_progress", _("In progress")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


# Shown on `/` and `/status/`; beat moves these forward at their start and end.
ACTIVE_STATUSES = (MaintenanceStatus.SCHEDULED, MaintenanceStatus.IN_PROGRESS)


class MaintenanceEvent(models.TextChoices):
    """What an email tells subscribers; each is sent once per maintenance and recipient."""

    SCHEDULED = "scheduled", _("Scheduled")
    STARTED = "started", _("Started")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


TITLE_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 10_000
# A window longer than this is almost always a typo in the year or month.
MAX_WINDOW = timedelta(days=31)
# How far ahead `/` and `/status/` list upcoming maintenance.
UPCOMING_DAYS = 30
