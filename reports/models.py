from django.conf import settings
from django.db import models

from .choices import Trigger


def report_upload_to(instance: "MonthlyReport", filename: str) -> str:
    return f"reports/{instance.month:%Y-%m}/{filename}"


class MonthlyReport(models.Model):
    """One generated version of a month's availability report: the exact PDF and its SHA-256.

    Versions are never overwritten: regenerating adds a row and a file, so the document
    leadership received in an email stays downloadable byte for byte. ``summary`` keeps
    the per-service numbers as they were when the PDF was made, so the preview can say
    when the live data has moved on since.
    """

    month = models.DateField(help_text="First day of the month, in the reporting time zone")
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

    class Meta:
        ordering = ["-month", "-version"]
        constraints = [models.UniqueConstraint(fields=["month", "version"], name="one_report_version_per_month")]

    def __str__(self):
        return f"Availability report {self.month:%Y-%m} v{self.version}"

    @property
    def month_key(self) -> str:
        return f"{self.month:%Y-%m}"

    @property
    def filename(self) -> str:
        return f"beacon-availability-{self.month_key}-v{self.version}.pdf"


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
