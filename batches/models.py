"""Clients whose batch jobs we watch, their runs, and the alert state that makes
notifications fire once per transition instead of on every check.

``Client`` carries a few denormalised fields (``latest_run``, ``baseline_*``) that the
ingest service keeps current. They let ``/batches/`` judge 500 clients from one query
instead of scanning hundreds of thousands of runs on every page view.
"""

from datetime import timedelta

from django.db import models

from .choices import AlertKind, RunStatus, Transition


class Client(models.Model):
    """A customer whose data is processed by a batch job at a regular interval."""

    slug = models.SlugField(max_length=100, unique=True, help_text="Stable name used by the API and CSV import.")
    name = models.CharField(max_length=200)
    instance_size = models.CharField(max_length=50, blank=True, help_text="e.g. m5.xlarge")
    average_daily_volume = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Records (sales) the client sends on an average day."
    )
    expected_interval = models.DurationField(
        default=timedelta(days=1), help_text="How often a run should start (default one day)."
    )
    grace = models.DurationField(
        default=timedelta(hours=2), help_text="Extra time allowed before a missing run counts as stale."
    )
    is_active = models.BooleanField(default=True, help_text="Inactive clients are neither shown nor alerted on.")
    created_at = models.DateTimeField(auto_now_add=True)

    # Maintained by services.client_stats_refresh on every ingest; never edited by hand.
    latest_run = models.ForeignKey(
        "BatchRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    baseline_mean_seconds = models.FloatField(
        null=True, blank=True, editable=False, help_text="Mean duration of the succeeded runs before the latest."
    )
    baseline_runs = models.PositiveIntegerField(default=0, editable=False)
    stats_updated_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("batches:client", args=[self.slug])


class BatchRun(models.Model):
    """One execution of a client's batch job. ``run_id`` is the producer's id: posting it
    again updates the same row, so retries and re-imports never duplicate."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="runs")
    run_id = models.CharField(max_length=100)
    run_date = models.DateField(help_text="Business date the run processed.")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration = models.DurationField(null=True, blank=True, help_text="finished_at − started_at; empty while running.")
    status = models.CharField(max_length=10, choices=RunStatus.choices)
    records_processed = models.PositiveBigIntegerField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["client", "run_id"], name="one_run_per_client_run_id"),
            models.CheckConstraint(
                condition=models.Q(finished_at__isnull=True) | models.Q(finished_at__gte=models.F("started_at")),
                name="run_finishes_after_it_starts",
            ),
        ]
        indexes = [
            models.Index(fields=["client", "started_at"]),
            models.Index(fields=["status", "started_at"]),
        ]

    def __str__(self):
        return f"{self.client_id}:{self.run_id} ({self.status})"

    @property
    def duration_seconds(self) -> float | None:
        return self.duration.total_seconds() if self.duration is not None else None


class BatchAlert(models.Model):
    """Whether a condition (stale, long, short) currently holds for a client.

    The periodic check flips ``active`` with a conditional UPDATE, so of two checks racing
    only one sees the transition and only one notification is sent.
    """

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=10, choices=AlertKind.choices)
    active = models.BooleanField(default=False)
    raised_at = models.DateTimeField(null=True, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "kind"], name="one_alert_state_per_client_kind")]
        indexes = [models.Index(fields=["active"])]

    def __str__(self):
        return f"{self.client_id} {self.kind} ({'active' if self.active else 'clear'})"


class BatchAlertEvent(models.Model):
    """One transition of an alert, and whether its email and chat message went out.

    Recipients are fixed when the event is recorded, so a retry sends to the same list.
    """

    alert = models.ForeignKey(BatchAlert, on_delete=models.CASCADE, related_name="events")
    transition = models.CharField(max_length=10, choices=Transition.choices)
    at = models.DateTimeField()
    message = models.TextField()
    recipients = models.JSONField(default=list, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    chatted_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.alert} {self.transition} at {self.at:%Y-%m-%d %H:%M}"
