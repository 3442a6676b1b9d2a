"""Maintenance factories (through the service layer) and API clients per persona."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from maintenance import services as svc
from maintenance.models import Maintenance, MaintenanceDelivery
from tests.conftest import api_key


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)


@pytest.fixture
def schedule(services, engineer_user, now):
    """Schedule a maintenance the way the form and API do (emails are recorded, not sent)."""

    def make(**overrides):
        fields = {
            "title": "Database upgrade",
            "description": "Writes pause for a minute.",
            "services": [services["web"]],
            "starts_at": now + timedelta(days=1),
            "ends_at": now + timedelta(days=1, hours=2),
            "by": engineer_user,
            "now": now,
        }
        fields.update(overrides)
        return svc.maintenance_schedule(**fields)

    return make


def counts() -> dict[str, int]:
    return {"maintenance": Maintenance.objects.count(), "deliveries": MaintenanceDelivery.objects.count()}


@pytest.fixture
def api():
    """``api.as_user(user)`` authenticates with a token, as a script would."""
    client = APIClient()

    def as_user(user):
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_key(user)}")
        return client

    client.as_user = as_user
    return client
