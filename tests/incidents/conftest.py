"""Incident-specific helpers: a factory that goes through the service layer, API clients
for each persona, and a snapshot of row counts to prove that a refused write left nothing.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from incidents import services as svc
from incidents.models import Delivery, Incident, IncidentUpdate
from tests.conftest import api_key


@pytest.fixture
def open_incident(services, helpdesk_user, engineer_user):
    """A factory for incidents opened the way the form and API open them (no emails sent)."""

    def make(**overrides):
        fields = {
            "title": "Checkout returns 502",
            "severity": 2,
            "services": [services["web"]],
            "engineer": engineer_user,
            "description": "A share of users cannot pay.",
            "started_at": timezone.now() - timedelta(minutes=30),
            "by": helpdesk_user,
            "notify": False,
        }
        fields.update(overrides)
        return svc.incident_open(**fields)

    return make


@pytest.fixture
def incident(open_incident):
    return open_incident()


def counts() -> dict[str, int]:
    """How many incidents, updates and deliveries exist: unchanged after a refused write."""
    return {
        "incidents": Incident.objects.count(),
        "updates": IncidentUpdate.objects.count(),
        "deliveries": Delivery.objects.count(),
    }


@pytest.fixture
def api():
    """An API client; ``api.as_user(user)`` logs it in through a token, as a script would."""

    client = APIClient()

    def as_user(user, *, token=True):
        if token:
            key = api_key(user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        else:
            client.force_login(user)
        return client

    client.as_user = as_user
    return client
