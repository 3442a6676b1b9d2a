"""maintenance_import: what the Statuspage importer (and seed_demo) call. Idempotent, emails nobody."""

import io
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from maintenance import services as svc
from maintenance.models import Maintenance, MaintenanceDelivery


@pytest.fixture
def imported(services, now):
    def run(**overrides):
        fields = {
            "source_ref": "statuspage:abc123",
            "title": "Scheduled database maintenance",
            "description": "We will be upgrading our database.",
            "services": [services["web"]],
            "starts_at": now - timedelta(days=20),
            "ends_at": now - timedelta(days=20, hours=-2),
            "status": "completed",
            "now": now,
        }
        fields.update(overrides)
        return svc.maintenance_import(**fields)

    return run


def test_importing_the_same_maintenance_twice_creates_it_once_and_changes_nothing(imported):
    first, created = imported()
    again, created_again = imported()

    assert created is True and created_again is False
    assert again.pk == first.pk and Maintenance.objects.count() == 1
    again.refresh_from_db()
    assert again.version == 1 and again.status == "completed" and again.notify is False
    assert MaintenanceDelivery.objects.count() == 0


def test_a_newer_export_updates_the_imported_maintenance(imported, services, now):
    first, _ = imported(status="scheduled", starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=1))
    assert first.status == "scheduled"

    updated, created = imported(
        title="Database maintenance (extended)",
        services=[services["web"], services["payments"]],
        starts_at=now + timedelta(days=1),
        ends_at=now + timedelta(days=1, hours=3),
        status="scheduled",
    )

    assert created is False and updated.pk == first.pk
    updated.refresh_from_db()
    assert updated.title == "Database maintenance (extended)" and updated.version == 2
    assert updated.ends_at == now + timedelta(days=1, hours=3)
    assert sorted(updated.services.values_list("slug", flat=True)) == ["payments", "web"]


def test_imported_maintenance_emails_nobody_even_when_beat_moves_it_along(imported, now):
    maintenance, _ = imported(status="scheduled", starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=2))
    assert svc.maintenance_advance(now=now + timedelta(hours=3)) == 2
    maintenance.refresh_from_db()
    assert maintenance.status == "completed"
    assert MaintenanceDelivery.objects.count() == 0


def test_a_status_left_behind_by_the_export_follows_the_clock(imported, now):
    over, _ = imported(source_ref="statuspage:old", status="scheduled")
    running, _ = imported(
        source_ref="statuspage:now",
        status="scheduled",
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
    )
    cancelled, _ = imported(source_ref="statuspage:off", status="cancelled")
    assert (over.status, running.status, cancelled.status) == ("completed", "in_progress", "cancelled")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"source_ref": ""}, "source_ref"),
        ({"status": "verifying"}, "status"),
        ({"title": " "}, "title"),
        ({"services": []}, "services"),
        ({"ends_at": None}, "ends_at"),
    ],
)
def test_bad_imported_values_are_refused_naming_the_field_and_nothing_is_written(imported, change, field):
    with pytest.raises(ValidationError) as refused:
        imported(**change)
    assert field in refused.value.message_dict
    assert Maintenance.objects.count() == 0


def test_an_end_before_the_start_is_refused(imported, now):
    with pytest.raises(ValidationError) as refused:
        imported(starts_at=now, ends_at=now - timedelta(hours=1))
    assert "ends_at" in refused.value.message_dict


def test_the_demo_data_plans_maintenance_once_and_emails_nobody(db, now):
    from incidents.models import Service
    from maintenance import demo

    for slug in ("orders", "payments", "web-storefront", "sso", "partner-portal", "search"):
        Service.objects.create(slug=slug, name=slug.title())
    out = io.StringIO()
    demo.seed(now=now, rng=None, stdout=out)
    demo.seed(now=now, rng=None, stdout=out)

    assert Maintenance.objects.count() == 4
    assert set(Maintenance.objects.values_list("status", flat=True)) == {"completed", "in_progress", "scheduled"}
    assert MaintenanceDelivery.objects.count() == 0
