"""Bookkeeping of incidents taken in from other tools. The incidents themselves live in ``incidents``."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from incidents.models import Service


class ImportCursor(models.Model):
    """Where the scheduled import of one source resumes: the end of its last successful run."""

    source = models.CharField(_("source"), max_length=30, unique=True)
    last_until = models.DateTimeField(_("imported up to"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last successful run"), null=True, blank=True)
    last_summary = models.TextField(_("last result"), blank=True)
    # Set while a run is under way, so beat skips a turn instead of running two at once.
    running_since = models.DateTimeField(_("running since"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("import cursor")

    def __str__(self):
        return f"{self.source} up to {self.last_until or '—'}"


class WebhookEvent(models.Model):
    """A webhook delivery already applied: the same event id delivered again changes nothing."""

    source = models.CharField(_("source"), max_length=30)
    event_id = models.CharField(_("event id"), max_length=200)
    event_type = models.CharField(_("event type"), max_length=100)
    incident_ref = models.CharField(_("incident"), max_length=200, blank=True)
    outcome = models.CharField(_("outcome"), max_length=200, blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook event")
        constraints = [models.UniqueConstraint(fields=["source", "event_id"], name="one_webhook_event_per_id")]
        indexes = [models.Index(fields=["received_at"])]

    def __str__(self):
        return f"{self.source} {self.event_type} {self.event_id}"


class ServiceLink(models.Model):
    """An outside tool's service and the Beacon service its incidents affect.

    Created on first sight (matching a Beacon service of the same name, or a new one);
    staff may point it at another service in the admin, and a rename in PagerDuty keeps it.
    """

    source = models.CharField(_("source"), max_length=30)
    external_id = models.CharField(_("external id"), max_length=100)
    external_name = models.CharField(_("external name"), max_length=200, blank=True)
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="+", verbose_name=_("service"))

    class Meta:
        verbose_name = _("service link")
        constraints = [models.UniqueConstraint(fields=["source", "external_id"], name="one_link_per_external_service")]

    def __str__(self):
        return f"{self.source}:{self.external_name or self.external_id} → {self.service}"
