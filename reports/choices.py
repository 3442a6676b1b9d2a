from django.db import models


class Trigger(models.TextChoices):
    """What made a report version: shown in the list so readers know where a PDF came from."""

    MANUAL = "manual", "Generated from the page"
    DOWNLOAD = "download", "Generated on first download"
    SCHEDULED = "scheduled", "Monthly schedule"
    COMMAND = "command", "build_report command"


# How many of a service's worst hours for 5xx outside incidents the report lists.
WORST_HOURS = 5
# The bar chart shows at most this many services (the ones with the most downtime).
CHART_MAX_SERVICES = 15
