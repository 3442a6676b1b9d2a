"""Automation ROI: jobs that save time, their executions, and the import bookkeeping.

Hours saved are computed when read, not stored per execution: a job's ``minutes_saved``
or ``cost_per_hour`` corrected in the admin then applies to its whole history at once.
Only an execution's own ROI value (``hours_saved``, from the server's ROI metrics data or
the push API) is stored, because it is a fact about that run.
"""

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models

from .choices import ExecutionSource, ExecutionStatus, ImportStatus


class Tag(models.Model):
    """A label on jobs (Rundeck job tags); the dashboard aggregates per tag."""

    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class AutomationJob(models.Model):
    """A runbook job whose successful runs save people's time."""

    external_id = models.CharField(max_length=200, unique=True, help_text="The job's id on the automation server")
    name = models.CharField(max_length=200)
    project = models.CharField(max_length=200, blank=True)
    group = models.CharField(max_length=300, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="jobs")
    minutes_saved = models.DecimalField(
        max_digits=8,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Minutes of manual work each successful run saves (an execution's own ROI value overrides it)",
    )
    cost_per_hour = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="What an hour of the saved manual work costs, for the money view",
    )
    url = models.URLField(blank=True, max_length=500, help_text="Link to the job on the automation server")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Execution(models.Model):
    """One finished run of a job. ``external_id`` makes pushes and imports idempotent."""

    job = models.ForeignKey(AutomationJob, on_delete=models.CASCADE, related_name="executions")
    external_id = models.CharField(max_length=200, unique=True)
    status = models.CharField(max_length=20, choices=ExecutionStatus.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    # Stored at write time so averages need no date arithmetic in SQL (SQLite and PostgreSQL alike).
    duration_seconds = models.FloatField()
    hours_saved = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="This run's own ROI value; empty means the job's minutes saved apply",
    )
    source = models.CharField(max_length=20, choices=ExecutionSource.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["started_at"], name="automation_exec_started"),
            models.Index(fields=["job", "started_at"], name="automation_exec_job_started"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ended_at__gte=models.F("started_at")), name="exec_end_after_start"
            ),
            models.CheckConstraint(
                condition=models.Q(hours_saved__isnull=True) | models.Q(hours_saved__gte=0),
                name="exec_hours_not_negative",
            ),
        ]

    def __str__(self):
        return f"{self.job} #{self.external_id}"


class ImportCursor(models.Model):
    """Where the import of one job's executions stands, so a stopped import resumes.

    Rundeck lists a job's executions newest first. While a pass is ``in_progress``,
    ``next_offset`` is the first page not yet stored; a rerun starts there (new runs that
    arrived meanwhile only push older ones to higher offsets, so nothing is skipped, and
    the unique ``external_id`` absorbs the re-read rows). After a complete pass,
    ``safe_execution_id`` is the highest id below which every execution was finished and
    stored: the next pass stops at the first page that lies wholly below it.
    """

    job = models.OneToOneField(AutomationJob, on_delete=models.CASCADE, related_name="import_cursor")
    server = models.CharField(max_length=300, blank=True)
    in_progress = models.BooleanField(default=False)
    next_offset = models.PositiveIntegerField(default=0)
    pass_max_execution_id = models.BigIntegerField(null=True, blank=True)
    pass_min_unfinished_id = models.BigIntegerField(null=True, blank=True)
    safe_execution_id = models.BigIntegerField(null=True, blank=True)
    last_completed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        state = f"resumes at offset {self.next_offset}" if self.in_progress else "idle"
        return f"{self.job}: {state}"


class ImportRun(models.Model):
    """One run of ``import_automation``: what it did, or why it stopped."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=ImportStatus.choices, default=ImportStatus.RUNNING)
    server = models.CharField(max_length=300, blank=True)
    jobs = models.PositiveIntegerField(default=0)
    pages = models.PositiveIntegerField(default=0)
    executions_seen = models.PositiveIntegerField(default=0)
    executions_created = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        return f"Import {self.started_at:%Y-%m-%d %H:%M} ({self.status})"
