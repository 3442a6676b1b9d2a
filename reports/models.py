from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .choices import JobStatus, ReviewState, Trigger


def report_upload_to(instance: "MonthlyReport", filename: str) -> str:
    folder = instance.period or f"{instance.month:%Y-%m}"
    if instance.group:
        folder += f"-{instance.group}"
    return f"reports/{folder}/{filename}"


class ServiceGroup(models.Model):
    """A named set of services reported together (e.g. "Customer front ends"), with its own recipients.

    ``recipients`` get the group's scheduled report; empty means the group has no scheduled
    send of its own (the all-services report still goes to ``LEADERSHIP_EMAILS``).
    """

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    services = models.ManyToManyField("incidents.Service", related_name="report_groups", blank=True)
    recipients = models.TextField(
        _("recipients"), blank=True, help_text=_("Comma-separated addresses that receive this group's monthly report.")
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def recipient_list(self) -> list[str]:
        return [e.strip() for e in self.recipients.replace(";", ",").split(",") if e.strip()]


class MonthlyReport(models.Model):
    """One generated version of a month's availability report: the exact PDF and its SHA-256.

    Versions are never overwritten: regenerating adds a row and a file, so the document
    leadership received in an email stays downloadable byte for byte. ``summary`` keeps
    the per-service numbers as they were when the PDF was made, so the preview can say
    when the live data has moved on since.
    """

    month = models.DateField(help_text="First day of the period, in the reporting time zone")
    # The period reported on: YYYY-MM, YYYY-QN or YYYY; and the service group ("" = all services).
    period = models.CharField(max_length=7, default="", db_index=True)
    group = models.CharField(max_length=50, blank=True, default="")
    version = models.PositiveIntegerField()
    pdf = models.FileField(upload_to=report_upload_to, max_length=255)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    time_zone = models.CharField(max_length=64)
    complete = models.BooleanField(default=True, help_text="The month had ended when this version was made")
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    generated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    generated_at = models.DateTimeField()
    summary = models.JSONField(default=list, blank=True)
    # Set when the record behind the month changed after this version was made (a correction,
    # a back-dated change, an import of history): the PDF no longer tells the truth.
    out_of_date_since = models.DateTimeField(null=True, blank=True)
    # Review before sending (REPORT_REVIEW_REQUIRED): a scheduled version waits as a draft
    # until a reader approves it; only then is it emailed.
    review_state = models.CharField(max_length=10, choices=ReviewState.choices, default=ReviewState.NONE)
    recipients = models.JSONField(default=list, blank=True, help_text="Who the scheduled send goes to once approved")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-month", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["period", "group", "version"], name="one_report_version_per_period")
        ]

    def __str__(self):
        group = f" [{self.group}]" if self.group else ""
        return f"Availability report {self.month_key}{group} v{self.version}"

    @property
    def month_key(self) -> str:
        """The period key (kept under its old name: months were the only period once)."""
        return self.period or f"{self.month:%Y-%m}"

    @property
    def is_draft(self) -> bool:
        return self.review_state == ReviewState.DRAFT

    @property
    def filename(self) -> str:
        group = f"-{self.group}" if self.group else ""
        return f"beacon-availability-{self.month_key}{group}-v{self.version}.pdf"


class ReportJob(models.Model):
    """A queued PDF rendering: the page shows its progress and links the version it made."""

    period = models.CharField(max_length=7)
    group = models.CharField(max_length=50, blank=True, default="")
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done")
    step = models.CharField(max_length=100, blank=True)
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    requested_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    email = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    report = models.ForeignKey(MonthlyReport, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-requested_at", "-pk"]
        indexes = [models.Index(fields=["period", "group", "status"], name="reports_job_period_status")]

    def __str__(self):
        return f"{self.period}{'/' + self.group if self.group else ''} {self.status} {self.progress} %"

    @property
    def active(self) -> bool:
        return self.status in (JobStatus.QUEUED, JobStatus.RUNNING)


class ReportEmail(models.Model):
    """A version was emailed: to whom, when, and the checksum of the attached bytes."""

    report = models.ForeignKey(MonthlyReport, on_delete=models.CASCADE, related_name="emails")
    recipients = models.JSONField(default=list)
    sha256 = models.CharField(max_length=64)
    sent_at = models.DateTimeField()
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-sent_at"]

    def __str__(self):
        return f"{self.report} → {', '.join(self.recipients)}"
