"""Self-service subscriptions and one-click unsubscribe (writes; the rules live here once).

A signed-in user subscribes their own address to services (``Subscriber`` rows with
``user`` set); staff keep managing other addresses and distribution lists in the admin.
An email's unsubscribe link carries a signed token (``notifications.unsubscribe_token``):
it works without signing in, removes the address from the services the email was about
and, for an incident email, also stops further emails about that incident (an address
named on the incident rather than subscribed).
"""

from dataclasses import dataclass, field

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction

from .models import Incident, IncidentOptOut, Service, Subscriber
from .notifications import UNSUBSCRIBE_SALT


def subscriptions_of(user) -> set[int]:
    """Ids of the services the user's address is subscribed to (by them or by staff)."""
    email = (user.email or "").strip()
    if not email:
        return set()
    return set(Subscriber.objects.filter(email__iexact=email).values_list("service_id", flat=True))


def subscriptions_set(*, user, services: list[Service]) -> tuple[int, int]:
    """Make the user's address subscribed to exactly ``services``. Returns (added, removed)."""
    email = (user.email or "").strip().lower()
    if not email:
        raise ValidationError(
            {"services": "Your account has no email address; ask an administrator to add one, then subscribe."}
        )
    wanted = {service.pk for service in services}
    with transaction.atomic():
        current = Subscriber.objects.select_for_update().filter(email__iexact=email)
        removed, _ = current.exclude(service_id__in=wanted).delete()
        have = set(current.values_list("service_id", flat=True))
        name = user.get_full_name() or user.get_username()
        Subscriber.objects.bulk_create(
            [Subscriber(service_id=pk, email=email, name=name[:120], user=user) for pk in sorted(wanted - have)],
            ignore_conflicts=True,
        )
    return len(wanted - have), removed


@dataclass
class Unsubscription:
    """What a token unsubscribes (shown on the confirmation page) and what was done."""

    email: str
    services: list[Service] = field(default_factory=list)
    incident: Incident | None = None


def unsubscription_from_token(token: str) -> Unsubscription:
    """Read a token; ``ValidationError`` when it is not one Beacon signed."""
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        raise ValidationError(
            {"token": "This unsubscribe link is not valid (it may have been cut or changed)."}
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("e"), str):
        raise ValidationError({"token": "This unsubscribe link is not valid."})
    incident = Incident.objects.filter(pk=data["i"]).first() if isinstance(data.get("i"), int) else None
    service_ids = [pk for pk in data.get("s") or [] if isinstance(pk, int)]
    if incident is not None:
        service_ids += list(incident.services.values_list("pk", flat=True))
    services = list(Service.objects.filter(pk__in=service_ids).order_by("name"))
    return Unsubscription(email=data["e"], services=services, incident=incident)


def unsubscribe(*, token: str) -> Unsubscription:
    """Remove the token's address from its services (and mute its incident). Idempotent."""
    found = unsubscription_from_token(token)
    with transaction.atomic():
        Subscriber.objects.filter(email__iexact=found.email, service__in=found.services).delete()
        if found.incident is not None:
            IncidentOptOut.objects.get_or_create(incident=found.incident, email=found.email)
    return found
