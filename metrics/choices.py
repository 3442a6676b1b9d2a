"""Named choices of the metrics app."""

from django.db import models


class SourceKind(models.TextChoices):
    CLOUDWATCH = "cloudwatch", "AWS CloudWatch"
    PROMETHEUS = "prometheus", "Prometheus HTTP API"
    HTTP_JSON = "http_json", "HTTP JSON (Grafana, Dynatrace-style)"


class SeriesRole(models.TextChoices):
    """What a series means to the rest of Beacon (the report sums ``http_5xx``)."""

    HTTP_5XX = "http_5xx", "HTTP 5xx responses"
    LATENCY_MS = "latency_ms", "Latency (ms)"
    HEALTHY_HOSTS = "healthy_hosts", "Healthy hosts"
    ERROR_RATE = "error_rate", "Error rate"
    CUSTOM = "custom", "Custom"


# Roles whose samples are counts: an hourly roll-up keeps their sum, others their mean.
COUNT_ROLES = frozenset({SeriesRole.HTTP_5XX})


class PollStatus(models.TextChoices):
    OK = "ok", "OK"
    NO_DATA = "no_data", "No data"
    ERROR = "error", "Error"


class Statistic(models.TextChoices):
    """CloudWatch statistics."""

    SUM = "Sum", "Sum"
    AVERAGE = "Average", "Average"
    MAXIMUM = "Maximum", "Maximum"
    MINIMUM = "Minimum", "Minimum"
    SAMPLE_COUNT = "SampleCount", "Sample count"


class ThresholdDirection(models.TextChoices):
    """Whether a value above (latency, 5xx) or below (healthy hosts) a threshold is bad."""

    ABOVE = "above", "Bad when above"
    BELOW = "below", "Bad when below"


class Breach(models.TextChoices):
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"
