"""Sending one alert event by email and to chat, each exactly once.

The event row records when its email and its chat message went out; a retry after a
chat failure therefore does not email again, and a task delivered twice sends nothing
the second time. Recipients were fixed on the event when it was recorded.
"""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from incidents.models import ChatChannel

from .choices import Transition
from .models import BatchAlertEvent

logger = logging.getLogger(__name__)


def event_text(event: BatchAlertEvent) -> tuple[str, str]:
    alert = event.alert
    client = alert.client
    verb = "ALERT" if event.transition == Transition.RAISED else "Cleared"
    title = f"[Beacon] {verb}: {client.name} – {alert.get_kind_display().lower()}"
    url = f"{settings.SITE_URL}{client.get_absolute_url()}"
    when = timezone.localtime(event.at).strftime("%Y-%m-%d %H:%M %Z")
    body = f"{event.message}\n\nChecked at {when}.\nInvestigate: {url}\nAll batch clients: {settings.SITE_URL}/batches/"
    return title, body


def alert_event_send(event_id: int) -> list[str]:
    """Send what has not been sent yet; return error messages (empty when all went out)."""
    from integrations.chat import ChatError, chat_send

    event = BatchAlertEvent.objects.select_related("alert__client").get(pk=event_id)
    title, body = event_text(event)
    errors: list[str] = []
    if event.emailed_at is None:
        if event.recipients:
            try:
                send_mail(title, body, settings.DEFAULT_FROM_EMAIL, event.recipients)
            except OSError as exc:  # SMTP and socket errors
                errors.append(f"email: {exc}")
            else:
                _mark(event_id, emailed_at=timezone.now())
        else:
            _mark(event_id, emailed_at=timezone.now())
    if event.chatted_at is None:
        secrets = dict(ChatChannel.objects.subscribed_to("batch_alerts").values_list("url", "secret"))
        try:
            if secrets:
                chat_send(list(secrets), title=title, body=body, secrets=secrets)
        except ChatError as exc:
            errors.append(f"chat: {exc}")
        else:
            _mark(event_id, chatted_at=timezone.now())
    if errors:
        BatchAlertEvent.objects.filter(pk=event_id).update(last_error="; ".join(errors)[:2000])
        logger.warning("Batch alert %s not fully sent: %s", event_id, errors)
    return errors


def _mark(event_id: int, **fields) -> None:
    with transaction.atomic():
        BatchAlertEvent.objects.filter(pk=event_id).update(last_error="", **fields)
