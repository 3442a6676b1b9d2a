from django.db import models
from django.utils.translation import gettext_lazy as _


class Trigger(models.TextChoices):
    """What made a report version: shown in the list so readers know where a PDF came from."""

    MANUAL = "manual", "Generated from the page"
    DOWNLOAD = "download", "Generated on first download"
    SCHEDULED = "scheduled", "Monthly schedule"
    COMMAND = "command", "build_report command"


class ReviewState(models.TextChoices):
    """Review before sending: only scheduled versions under REPORT_REVIEW_REQUIRED are drafts."""

    NONE = "", _("No review needed")
    DRAFT = "draft", _("Draft, waiting for approval")
    APPROVED = "approved", _("Approved")


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Rendering")
    DONE = "done", _("Ready")
    FAILED = "failed", _("Failed")


# How many of a service's worst hours for 5xx outside incidents the report lists.
WORST_HOURS = 5
# The bar chart shows at most this many services (the ones with the most downtime).
CHART_MAX_SERVICES = 15
