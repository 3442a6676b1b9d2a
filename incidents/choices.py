from django.db import models
from django.utils.translation import gettext_lazy as _


class Severity(models.IntegerChoices):
    CRITICAL = 1, "Sev 1 – critical"
    MAJOR = 2, "Sev 2 – major"
    MINOR = 3, "Sev 3 – minor"
    LOW = 4, "Sev 4 – low"


# Time at these severities is downtime in the availability report.
OUTAGE_SEVERITIES = (Severity.CRITICAL, Severity.MAJOR)


class Status(models.TextChoices):
    INVESTIGATING = "investigating", "Investigating"
    IDENTIFIED = "identified", "Identified"
    MONITORING = "monitoring", "Monitoring"
    RESOLVED = "resolved", "Resolved"


OPEN_STATUSES = (Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING)


class UpdateKind(models.TextChoices):
    OPENED = "opened", "Opened"
    UPDATED = "updated", "Updated"
    EDITED = "edited", "Edited"
    RESOLVED = "resolved", "Resolved"
    REOPENED = "reopened", "Reopened"
    CORRECTED = "corrected", "Corrected"


class ServiceStatus(models.TextChoices):
    OPERATIONAL = "operational", "Operational"
    DEGRADED = "degraded", "Degraded"
    OUTAGE = "outage", "Outage"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Visibility(models.TextChoices):
    """Who reads an update: ``public`` is emailed and on ``/status/``; ``internal`` is for signed-in users only."""

    PUBLIC = "public", _("Public")
    INTERNAL = "internal", _("Internal note")


TICKET_PREFIX = "INC-"

# Size limits of text fields (characters), the same for forms, API and imports. A 10 MB
# description once made a 21.8 MB email per recipient; these keep an email under ~100 kB.
TITLE_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 20_000
MESSAGE_MAX_LENGTH = 10_000
