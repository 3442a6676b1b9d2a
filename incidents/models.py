from django.conf import settings
from django.db import models
from django.urls import reverse

from .choices import DeliveryStatus, ServiceStatus, Severity, Status, UpdateKind, Visibility


class Service(models.Model):
    """Something users depend on; incidents affect services, the report measures them."""

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    slo_target = models.DecimalField(
        max_digits=6, decimal_places=3, default=99.9, help_text="Availability target in percent, e.g. 99.9"
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Subscriber(models.Model):
    """An email address told about every incident affecting a service.

    Staff add addresses and distribution lists in the admin (``user`` empty); a signed-in
    user subscribes themselves at ``/subscriptions/`` (``user`` set, ``email`` theirs).
    """

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="subscribers")
    email = models.EmailField()
    name = models.CharField(max_length=120, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="subscriptions",
        help_text="Set when the user subscribed themselves; empty for addresses staff manage.",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["service", "email"], name="unique_subscriber")]
        ordering = ["service", "email"]

    def __str__(self):
        return f"{self.email} → {self.service}"


class Incident(models.Model):
    """The record of one outage. Changed only through ``incidents.services``.

    ``version`` grows by one with every change; a write based on an older version is
    refused, so two people saving at once cannot silently overwrite each other.
    """

    ticket = models.CharField(max_length=20, unique=True, editable=False)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    severity = models.PositiveSmallIntegerField(choices=Severity.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.INVESTIGATING)
    services = models.ManyToManyField(Service, related_name="incidents")
    engineer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    external_url = models.URLField(blank=True, max_length=500)
    started_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    extra_recipients = models.JSONField(default=list, blank=True)
    # Where an imported incident came from (e.g. "statuspage:<id>"), so re-imports are no-ops.
    source_ref = models.CharField(max_length=200, null=True, blank=True, unique=True)
    # The tool that opened it ("pagerduty", "alertmanager", "threshold", "statuspage"; empty when typed).
    source = models.CharField(max_length=30, blank=True, default="")
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["started_at"]),
            models.Index(fields=["resolved_at"]),
            models.Index(fields=["status"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(resolved_at__isnull=True) | models.Q(resolved_at__gte=models.F("started_at")),
                name="resolved_after_started",
            ),
        ]

    def __str__(self):
        return f"{self.ticket} {self.title}"

    def get_absolute_url(self):
        return reverse("incidents:detail", args=[self.ticket])

    @property
    def is_open(self) -> bool:
        return self.status != Status.RESOLVED


class IncidentUpdate(models.Model):
    """One append-only entry of an incident's log: what it looked like after a change.

    ``effective_at`` is when the change really happened (the start of impact for the opening
    entry, the resolution time for a close); it may be earlier than ``created_at``, when it
    was typed. ``sets_severity`` is the severity this entry puts in force from
    ``effective_at`` on (empty when it leaves severity alone). Replaying the entries in
    effective order (``incidents.history``) gives the severity history the report measures.
    """

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="updates")
    kind = models.CharField(max_length=20, choices=UpdateKind.choices)
    status = models.CharField(max_length=20, choices=Status.choices)
    severity = models.PositiveSmallIntegerField(choices=Severity.choices)
    message = models.TextField(blank=True)
    changes = models.JSONField(default=dict, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    effective_at = models.DateTimeField()
    created_at = models.DateTimeField()
    sets_severity = models.PositiveSmallIntegerField(choices=Severity.choices, null=True, blank=True)
    version = models.PositiveIntegerField()
    source_ref = models.CharField(max_length=200, blank=True)
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC)
    # Emails were asked for; ``recipients_at`` is when the worker wrote their delivery rows
    # (the request only sets ``notify``, so it costs the same for 10 or 10,000 recipients).
    notify = models.BooleanField(default=False)
    recipients_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["incident", "id"]
        indexes = [
            models.Index(fields=["incident", "id"]),
            models.Index(
                fields=["created_at"],
                condition=models.Q(notify=True, recipients_at__isnull=True),
                name="update_recipients_pending",
            ),
        ]

    def __str__(self):
        return f"{self.incident.ticket} {self.kind} v{self.version}"

    @property
    def is_public(self) -> bool:
        return self.visibility == Visibility.PUBLIC

    @property
    def is_backdated(self) -> bool:
        """Typed more than a minute after it took effect (the log then shows both times)."""
        return (self.created_at - self.effective_at).total_seconds() > 60


class Delivery(models.Model):
    """One email for one update to one recipient: the unit of exactly-once sending."""

    update = models.ForeignKey(IncidentUpdate, on_delete=models.CASCADE, related_name="deliveries")
    email = models.EmailField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [models.UniqueConstraint(fields=["update", "email"], name="one_delivery_per_update_recipient")]
        indexes = [models.Index(fields=["status", "claimed_until"])]

    def __str__(self):
        return f"{self.update} → {self.email} ({self.status})"


class IncidentOptOut(models.Model):
    """An address that used an email's unsubscribe link: it hears nothing more about this incident."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="opt_outs")
    email = models.EmailField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["incident", "email"], name="one_opt_out_per_incident_email")]

    def __str__(self):
        return f"{self.email} ✕ {self.incident.ticket}"


class ChatChannelQuerySet(models.QuerySet):
    def subscribed_to(self, topic: str) -> "ChatChannelQuerySet":
        """Active channels that want ``topic``: "incident_events", "metrics_digest" or "batch_alerts"."""
        return self.filter(is_active=True, **{topic: True})


class ChatChannel(models.Model):
    """A chat destination (Slack, Teams, Google Chat, webhook…) as an Apprise URL."""

    name = models.CharField(max_length=100)
    url = models.CharField(
        max_length=500,
        help_text="Apprise URL, e.g. slack://T/B/C, msteams://…, gchat://…, json://host/path; "
        "or an http(s):// URL for an outbound webhook (signed JSON).",
    )
    secret = models.CharField(
        max_length=200,
        blank=True,
        help_text="Outbound webhooks: the shared secret of the X-Beacon-Signature HMAC-SHA256.",
    )
    incident_events = models.BooleanField(default=True)
    metrics_digest = models.BooleanField(default=True)
    batch_alerts = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)

    objects = ChatChannelQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class ChatDelivery(models.Model):
    """One incident event to one chat channel or webhook: the unit of exactly-once posting.

    Like ``Delivery`` for email: each channel is claimed, posted and marked alone, so a
    failing channel is retried without posting again to the healthy ones.
    """

    update = models.ForeignKey(IncidentUpdate, on_delete=models.CASCADE, related_name="chat_deliveries")
    channel = models.ForeignKey(ChatChannel, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "chat deliveries"
        constraints = [models.UniqueConstraint(fields=["update", "channel"], name="one_chat_delivery_per_event")]
        indexes = [models.Index(fields=["status", "claimed_until"])]

    def __str__(self):
        return f"{self.update} → {self.channel} ({self.status})"


def service_status_for(open_severities: list[int]) -> str:
    """Operational with no open incident, outage with an open Sev 1–2, degraded otherwise."""
    if not open_severities:
        return ServiceStatus.OPERATIONAL
    if min(open_severities) <= Severity.MAJOR:
        return ServiceStatus.OUTAGE
    return ServiceStatus.DEGRADED


class Postmortem(models.Model):
    """The "autopsy" written after an incident: what happened, why, and what we learned.

    One per incident. Written by engineers through ``incidents.postmortems``; ``version``
    grows with every save so two engineers editing at once cannot overwrite each other.
    """

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="postmortem")
    summary = models.TextField()
    impact = models.TextField(blank=True)
    root_cause = models.TextField(blank=True)
    lessons = models.TextField(blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    version = models.PositiveIntegerField(default=1)
    source_ref = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Postmortem of {self.incident.ticket}"

    def get_absolute_url(self):
        return reverse("incidents:postmortem", args=[self.incident.ticket])


class ActionItem(models.Model):
    """Follow-up work agreed in a postmortem; open items past their due date are flagged on ``/``."""

    postmortem = models.ForeignKey(Postmortem, on_delete=models.CASCADE, related_name="action_items")
    title = models.CharField(max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_date = models.DateField(null=True, blank=True)
    done = models.BooleanField(default=False)
    done_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["done", "due_date", "id"]
        indexes = [models.Index(fields=["done", "due_date"])]

    def __str__(self):
        return self.title
