from django.db import models


class RunStatus(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    RUNNING = "running", "Running"


class AlertKind(models.TextChoices):
    STALE = "stale", "No recent run (likely failed)"
    LONG = "long", "Abnormally long run"
    SHORT = "short", "Abnormally short run"


class Transition(models.TextChoices):
    RAISED = "raised", "Raised"
    CLEARED = "cleared", "Cleared"


class DurationUnit(models.TextChoices):
    MINUTES = "minutes", "Minutes"
    HOURS = "hours", "Hours"
