"""`manage.py seed_demo` loads demo data and is harmless to run again."""

from django.contrib.auth import get_user_model
from django.core.management import call_command

from incidents.models import Delivery, Incident, IncidentUpdate, Service, Subscriber


def snapshot() -> dict[str, int]:
    return {
        "services": Service.objects.count(),
        "subscribers": Subscriber.objects.count(),
        "users": get_user_model().objects.count(),
        "incidents": Incident.objects.count(),
        "updates": IncidentUpdate.objects.count(),
        "deliveries": Delivery.objects.count(),
    }


def test_seed_demo_loads_people_services_and_incidents_and_a_second_run_changes_nothing(db):
    call_command("seed_demo", "--incidents", "20", stdout=open("/dev/null", "w"))  # noqa: SIM115
    first = snapshot()
    assert first["services"] == 8 and first["incidents"] == 20
    assert first["updates"] > first["incidents"]  # incidents come with their update log
    assert first["deliveries"] == 0  # demo history sends no email
    users = get_user_model().objects
    for username, group in (("helpdesk", "helpdesk"), ("engineer", "engineer"), ("leadership", "leadership")):
        assert users.get(username=username).groups.filter(name=group).exists()
    assert users.get(username="admin").is_superuser
    assert Incident.objects.filter(resolved_at__isnull=True).count() == 2  # something is broken right now

    call_command("seed_demo", "--incidents", "20", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert snapshot() == first
