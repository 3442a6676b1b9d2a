"""Metric sources, the series polled from them, their samples and every poll's outcome.

Secrets never live here: CloudWatch uses the AWS credential chain (environment, profile,
instance role, optionally an assumed ``role_arn``); HTTP sources name an environment
variable that holds their ``Authorization`` header.
"""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from .choices import PollStatus, SeriesRole, SourceKind, Statistic, ThresholdDirection


class MetricSource(models.Model):
    """Where numbers come from: one CloudWatch account/region, a Prometheus, or an HTTP JSON API."""

    kind = models.CharField(max_length=20, choices=SourceKind.choices)
    name = models.CharField(max_length=100, unique=True)
    environment = models.CharField(
        max_length=40, default="production", help_text="Label such as production or staging; pages group by it."
    )
    region = models.CharField(max_length=40, blank=True, help_text="AWS region (CloudWatch) or a free label.")
    # CloudWatch
    endpoint_url = models.URLField(blank=True, help_text="Optional CloudWatch endpoint (VPC endpoint, test server).")
    aws_profile = models.CharField(
        max_length=100, blank=True, help_text="Named profile from the AWS config files; empty = default chain."
    )
    role_arn = models.CharField(max_length=200, blank=True, help_text="Optional IAM role to assume for this account.")
    # Prometheus / HTTP JSON
    base_url = models.URLField(blank=True, help_text="Prometheus base URL, or the HTTP JSON API's base URL.")
    auth_env_var = models.CharField(
        max_length=100,
        blank=True,
        help_text="Name of an environment variable holding the Authorization header value (never the value).",
    )
    json_values_path = models.CharField(
        max_length=200,
        blank=True,
        help_text="HTTP JSON: dotted path to the list of points, e.g. data.result.0.values or result.0.data.0.values.",
    )
    json_timestamps_path = models.CharField(
        max_length=200,
        blank=True,
        help_text="HTTP JSON: dotted path to a parallel list of timestamps (Dynatrace style); empty for pairs.",
    )
    json_ts_key = models.CharField(max_length=40, default="ts", help_text="HTTP JSON: timestamp key of object points.")
    json_value_key = models.CharField(
        max_length=40, default="value", help_text="HTTP JSON: value key of object points."
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["environment", "region", "name"]

    def __str__(self):
        return self.name

    def clean(self):
        errors = {}
        if self.kind == SourceKind.CLOUDWATCH and not self.region:
            errors["region"] = "CloudWatch sources need a region."
        if self.kind in (SourceKind.PROMETHEUS, SourceKind.HTTP_JSON) and not self.base_url:
            errors["base_url"] = "This kind of source needs a base URL."
        if self.kind == SourceKind.HTTP_JSON and not self.json_values_path:
            errors["json_values_path"] = "HTTP JSON sources need the path to their list of points."
        if errors:
            raise ValidationError(errors)


class MetricSeries(models.Model):
    """One time series: a query against a source, with its meaning (role) and thresholds."""

    key = models.SlugField(max_length=100, unique=True, help_text="Stable name used by the API and commands.")
    label = models.CharField(max_length=120)
    source = models.ForeignKey(MetricSource, on_delete=models.PROTECT, related_name="series")
    # CloudWatch query
    namespace = models.CharField(max_length=200, blank=True, help_text="CloudWatch namespace, e.g. AWS/ApplicationELB")
    metric_name = models.CharField(max_length=200, blank=True)
    dimensions = models.JSONField(
        default=dict, blank=True, help_text='CloudWatch dimensions, e.g. {"LoadBalancer": "app/web/1"}'
    )
    statistic = models.CharField(max_length=20, choices=Statistic.choices, default=Statistic.AVERAGE)
    period_seconds = models.PositiveIntegerField(default=60, help_text="CloudWatch period / Prometheus step.")
    # Prometheus: PromQL. HTTP JSON: path and query string appended to the source's base URL;
    # {start} {end} (epoch s), {start_ms} {end_ms}, {start_iso} {end_iso} and {step} are filled in.
    query = models.TextField(blank=True)
    unit = models.CharField(max_length=20, blank=True, help_text="Shown after values, e.g. ms, %, hosts.")
    environment = models.CharField(max_length=40, blank=True, help_text="Empty = the source's environment.")
    service = models.ForeignKey(
        "incidents.Service", null=True, blank=True, on_delete=models.SET_NULL, related_name="metric_series"
    )
    role = models.CharField(max_length=20, choices=SeriesRole.choices, default=SeriesRole.CUSTOM)
    warning_threshold = models.FloatField(null=True, blank=True)
    critical_threshold = models.FloatField(null=True, blank=True)
    threshold_direction = models.CharField(
        max_length=10, choices=ThresholdDirection.choices, default=ThresholdDirection.ABOVE
    )
    enabled = models.BooleanField(default=True)
    # Threshold incidents (metrics.services.alerting): off unless switched on per series.
    opens_incidents = models.BooleanField(
        default=False,
        help_text="Open (or join) an incident for the series' service when it stays past its critical threshold.",
    )
    incident_after_polls = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Consecutive polls past the critical threshold that open the incident, "
        "and consecutive good polls that resolve it.",
    )

    # The newest sample, kept by samples_upsert so /metrics/ never scans a series' history.
    latest_ts = models.DateTimeField(null=True, blank=True, editable=False)
    latest_value = models.FloatField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["key"]
        verbose_name_plural = "metric series"
        indexes = [models.Index(fields=["role", "service"], name="metrics_series_role_service")]

    def __str__(self):
        return self.label or self.key

    @property
    def env_label(self) -> str:
        return self.environment or self.source.environment

    def clean(self):
        errors = {}
        kind = self.source.kind if self.source_id else None
        if kind == SourceKind.CLOUDWATCH and not (self.namespace and self.metric_name):
            errors["metric_name"] = "CloudWatch series need a namespace and a metric name."
        if kind in (SourceKind.PROMETHEUS, SourceKind.HTTP_JSON) and not self.query:
            errors["query"] = "Prometheus and HTTP JSON series need a query."
        if self.opens_incidents and self.critical_threshold is None:
            errors["critical_threshold"] = "Set a critical threshold for this series to open incidents."
        if self.opens_incidents and not self.service_id:
            errors["service"] = "Choose the service whose incidents this series opens."
        if not isinstance(self.dimensions, dict) or not all(isinstance(v, str) for v in self.dimensions.values()):
            errors["dimensions"] = 'Dimensions must be a JSON object of strings, e.g. {"LoadBalancer": "app/web/1"}.'
        if errors:
            raise ValidationError(errors)


class MetricSample(models.Model):
    """One value at one time. Unique per (series, ts): re-polling or re-pushing upserts."""

    # No index of its own: the unique (series, ts) index serves every lookup by series, and a
    # second index on series alone tempted the planner into scanning a series' whole history
    # for a one-hour range (and cost every insert an extra index write).
    series = models.ForeignKey(MetricSeries, on_delete=models.CASCADE, related_name="samples", db_index=False)
    ts = models.DateTimeField()
    value = models.FloatField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["series", "ts"], name="metrics_sample_unique_series_ts")]

    def __str__(self):
        return f"{self.series_id} @ {self.ts:%Y-%m-%d %H:%M}: {self.value}"


class MetricHourly(models.Model):
    """Exact per-hour (UTC) aggregate of the raw samples currently stored for a series.

    Rewritten from the raw rows by ``samples_upsert`` for every hour a write touches, so it
    always equals ``SUM/COUNT/MIN/MAX`` over ``MetricSample`` in that hour. The report reads
    it for hours no incident touches and raw samples only for the hours one does. Hours
    pruned by retention move to ``MetricRollup`` and leave this table.
    """

    # No index of its own: the unique (series, hour) index serves every lookup by series, and
    # on PostgreSQL a covering copy of it (migration 0005) answers sums without the table.
    series = models.ForeignKey(MetricSeries, on_delete=models.CASCADE, related_name="hourly", db_index=False)
    hour = models.DateTimeField()
    count = models.PositiveIntegerField()
    total = models.FloatField()
    minimum = models.FloatField()
    maximum = models.FloatField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["series", "hour"], name="metrics_hourly_unique_series_hour")]
        indexes = [models.Index(fields=["hour"], name="metrics_hourly_hour")]

    def __str__(self):
        return f"{self.series_id} {self.hour:%Y-%m-%d %H}:00 Σ{self.total} ×{self.count}"


class MetricRollup(models.Model):
    """Hourly summary of samples older than the retention period (raw samples are then pruned)."""

    series = models.ForeignKey(MetricSeries, on_delete=models.CASCADE, related_name="rollups")
    hour = models.DateTimeField()
    count = models.PositiveIntegerField()
    total = models.FloatField()
    minimum = models.FloatField()
    maximum = models.FloatField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["series", "hour"], name="metrics_rollup_unique_series_hour")]

    def __str__(self):
        return f"{self.series_id} {self.hour:%Y-%m-%d %H}:00 ×{self.count}"

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0


class PollResult(models.Model):
    """The outcome of polling one series over one window: what pages show as failed / no data."""

    series = models.ForeignKey(MetricSeries, on_delete=models.CASCADE, related_name="polls")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    status = models.CharField(max_length=10, choices=PollStatus.choices)
    message = models.TextField(blank=True)
    samples = models.PositiveIntegerField(default=0, help_text="Points the source returned.")
    attempts = models.PositiveSmallIntegerField(default=1)
    polled_at = models.DateTimeField()

    class Meta:
        ordering = ["-polled_at"]
        indexes = [
            models.Index(fields=["series", "-polled_at"], name="metrics_poll_series_latest"),
            models.Index(fields=["status", "window_start"], name="metrics_poll_status_window"),
        ]

    def __str__(self):
        return f"{self.series_id} {self.status} {self.window_start:%H:%M}–{self.window_end:%H:%M}"


class SeriesAlarm(models.Model):
    """Where one series stands against its critical threshold, poll by poll.

    ``bad_polls`` and ``good_polls`` count consecutive polls past / within the critical
    threshold; ``in_alarm`` flips only after ``incident_after_polls`` of them in a row, so a
    value hovering at the threshold cannot open and close incidents every poll. Polls with
    no data, errors, or no point newer than ``last_ts`` change nothing.
    """

    series = models.OneToOneField(MetricSeries, on_delete=models.CASCADE, related_name="alarm")
    in_alarm = models.BooleanField(default=False)
    bad_polls = models.PositiveIntegerField(default=0)
    good_polls = models.PositiveIntegerField(default=0)
    # Timestamp of the first point of the current run of bad (good) polls.
    bad_since = models.DateTimeField(null=True, blank=True)
    good_since = models.DateTimeField(null=True, blank=True)
    last_ts = models.DateTimeField(null=True, blank=True, help_text="Newest point already counted.")
    last_value = models.FloatField(null=True, blank=True)
    # The incident this alarm opened or joined (kept after recovery, for the record).
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.series} {'in alarm' if self.in_alarm else 'ok'} (bad {self.bad_polls}, good {self.good_polls})"


class AlertGroup(models.Model):
    """One Alertmanager / Grafana alert group (``groupKey``) and the incident it drives.

    ``alerts`` holds each alert's last known state by fingerprint; ``last_digest`` is the
    hash of the last notification handled, so a repeated delivery is recognised at once.
    A group that fires again after its incident was resolved opens a new incident;
    ``episodes`` counts them (the incident's ``source_ref`` ends with it).
    """

    key_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the groupKey.")
    group_key = models.TextField()
    receiver = models.CharField(max_length=200, blank=True)
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    episodes = models.PositiveIntegerField(default=0)
    alerts = models.JSONField(default=dict, blank=True)
    last_digest = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self):
        return self.group_key[:80]
