"""Fixed-window rate limits in the database (``RateCounter``), shared by all processes."""

import ipaddress
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import RateCounter


def _window() -> timedelta:
    return timedelta(seconds=settings.RATE_LIMIT_WINDOW_SECONDS)


def hit(key: str) -> int:
    """Count one hit of ``key`` in the current window and return the count so far."""
    now = timezone.now()
    with transaction.atomic():
        counter, created = RateCounter.objects.select_for_update().get_or_create(
            key=key[:200], defaults={"window_start": now, "count": 1}
        )
        if created:
            return 1
        if counter.window_start + _window() <= now:
            counter.window_start, counter.count = now, 1
        else:
            counter.count += 1
        counter.save(update_fields=["window_start", "count"])
        return counter.count


def exceeded(key: str, limit: int) -> bool:
    """True when ``key`` already has ``limit`` hits in the current window."""
    counter = RateCounter.objects.filter(key=key[:200]).first()
    if counter is None or counter.window_start + _window() <= timezone.now():
        return False
    return counter.count >= limit


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def client_address(request) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or behind a proxy listed in
    ``TRUSTED_PROXY_IPS`` the nearest address in ``X-Forwarded-For`` that is not one of them
    (the left part of that header is whatever the client wrote). Also django-axes' source
    (``AXES_CLIENT_IP_CALLABLE``), so lockouts and rate limits count the same addresses."""
    address = request.META.get("REMOTE_ADDR") or None  # None for requests made up in code (force_login)
    trusted = set(settings.TRUSTED_PROXY_IPS)
    if address in trusted:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        for hop in reversed(hops):
            if hop not in trusted:
                return hop if _is_ip(hop) else address  # a malformed hop names nobody: the proxy counts
    return address
