from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from incidents.choices import DeliveryStatus
from incidents.models import Service

from .choices import TITLE_MAX_LENGTH, MaintenanceEvent, MaintenanceStatus


class Maintenance(models.Model):
    """A planned window of work on some services. Changed only through ``maintenance.services``.

    Beat moves it from ``scheduled`` to ``in_progress`` at ``starts_at`` and to
    ``completed`` at ``ends_at``. Its time is never downtime: the report shows it beside
    the uptime. ``version`` grows with every change so two people editing at once cannot
    silently overwrite each other.
    """

    title = models.CharField(_("title"), max_length=TITLE_MAX_LENGTH)
    description = models.TextField(_("description"), blank=True)
    services = models.ManyToManyField(Service, related_name="maintenances", verbose_name=_("services"))
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    status = models.CharField(
        _("status"), max_length=20, choices=MaintenanceStatus.choices, default=MaintenanceStatus.SCHEDULED
    )
    # False for imported history: nobody is emailed about it, now or at later transitions.
    notify = models.BooleanField(default=True)
    # Where an imported maintenance came from (e.g. "statuspage:<id>"), so re-imports are no-ops.
    source_ref = models.CharField(max_length=200, null=True, blank=True, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-starts_at", "-id"]
        verbose_name = _("planned maintenance")
        verbose_name_plural = _("planned maintenance")
        indexes = [
            models.Index(fields=["status", "starts_at"]),
            models.Index(fields=["starts_at"]),
            models.Index(fields=["ends_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="maintenance_ends_after_start"
            ),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("maintenance:detail", args=[self.pk])

    @property
    def is_active(self) -> bool:
        return self.status in (MaintenanceStatus.SCHEDULED, MaintenanceStatus.IN_PROGRESS)


class MaintenanceDelivery(models.Model):
    """One email about one event of a maintenance to one recipient: the unit of exactly-once sending."""

    maintenance = models.ForeignKey(Maintenance, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=20, choices=MaintenanceEvent.choices)
    email = models.EmailField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("maintenance email")
        verbose_name_plural = _("maintenance emails")
        constraints = [
            models.UniqueConstraint(fields=["maintenance", "event", "email"], name="one_maintenance_email_per_event")
        ]
        indexes = [models.Index(fields=["status", "claimed_until"])]

    def __str__(self):
        return f"{self.maintenance} {self.event} → {self.email} ({self.status})"
