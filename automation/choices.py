from django.db import models


class ExecutionStatus(models.TextChoices):
    """Finished outcomes only: a running execution has no end yet and saves nothing yet."""

    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    ABORTED = "aborted", "Aborted"
    TIMEDOUT = "timedout", "Timed out"
    OTHER = "other", "Other"


class ExecutionSource(models.TextChoices):
    PUSHED = "pushed", "Pushed through the API"
    IMPORTED = "imported", "Imported from Rundeck"
    DEMO = "demo", "Demo data"


class ImportStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Period(models.TextChoices):
    HOUR = "1h", "1 h"
    DAY = "24h", "24 h"
    TWO_WEEKS = "14d", "14 d"
    MONTH = "30d", "30 d"
    CUSTOM = "custom", "Custom"


DEFAULT_PERIOD = Period.MONTH
