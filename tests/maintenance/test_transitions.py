"""Beat-driven transitions and their emails, sent by a real Celery worker to a real SMTP server.

"Exactly once" is counted when the worker is idle: no delivery row is pending any more
(a row leaves "pending" only after the SMTP server accepted its message), never after a sleep.
"""

from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from maintenance import services as svc
from maintenance.models import Maintenance, MaintenanceDelivery
from maintenance.tasks import advance_maintenance
from tests.conftest import wait_idle, wait_until

WEB = {"oncall-web@example.com", "support-web@example.com"}


def idle(expected_rows: int):
    """Wait until ``expected_rows`` delivery rows exist, none is pending and the worker's
    queue is drained (``wait_idle``)."""
    wait_until(
        lambda: (
            MaintenanceDelivery.objects.count() == expected_rows
            and not MaintenanceDelivery.objects.filter(status="pending").exists()
        ),
        message=f"{expected_rows} maintenance emails sent",
    )
    wait_idle()
    assert set(MaintenanceDelivery.objects.values_list("status", flat=True)) == {"sent"}


def sent_events(mailbox) -> Counter:
    """(recipient, event) -> number of messages received."""
    return Counter((rcpt, message["X-Beacon-Event"]) for rcpts, message in mailbox.messages for rcpt in rcpts)


def test_scheduled_started_and_completed_each_email_every_subscriber_exactly_once(
    worker, mailbox, services, engineer_user
):
    now = timezone.now()
    starts_at, ends_at = now + timedelta(hours=1), now + timedelta(hours=3)
    maintenance = svc.maintenance_schedule(
        title="Core switch swap",
        description="Expect two short blips.",
        services=[services["web"]],
        starts_at=starts_at,
        ends_at=ends_at,
        by=engineer_user,
    )
    idle(2)
    assert sent_events(mailbox) == {(email, "scheduled"): 1 for email in WEB}
    _, message = mailbox.messages[0]
    assert message["Subject"].strip().startswith("[Maintenance] Scheduled: Core switch swap")
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for part in (text, html):
        assert "Core switch swap" in part and "Web Storefront" in part and "Expect two short blips." in part
        assert f"http://beacon.test/maintenance/{maintenance.pk}/" in part
        assert "http://beacon.test/status/" in part

    # Beat runs every minute; nothing is due before the start.
    assert svc.maintenance_advance(now=starts_at - timedelta(seconds=1)) == 0
    assert svc.maintenance_advance(now=starts_at) == 1
    assert svc.maintenance_advance(now=starts_at + timedelta(minutes=1)) == 0  # the next tick: nothing twice
    idle(4)
    maintenance.refresh_from_db()
    assert maintenance.status == "in_progress"

    assert svc.maintenance_advance(now=ends_at) == 1
    assert svc.maintenance_advance(now=ends_at + timedelta(minutes=1)) == 0
    idle(6)
    maintenance.refresh_from_db()
    assert maintenance.status == "completed"

    events = sent_events(mailbox)
    assert events == {(email, event): 1 for email in WEB for event in ("scheduled", "started", "completed")}
    subjects = sorted(message["Subject"].strip().split(":")[0] for _, message in mailbox.messages)
    assert subjects == ["[Maintenance] Completed"] * 2 + ["[Maintenance] Scheduled"] * 2 + ["[Maintenance] Started"] * 2


def test_the_beat_task_on_the_worker_starts_a_maintenance_whose_time_has_come(worker, mailbox, services, engineer_user):
    now = timezone.now()
    maintenance = svc.maintenance_schedule(
        title="Certificate rotation",
        services=[services["web"], services["payments"]],
        starts_at=now - timedelta(minutes=5),
        ends_at=now + timedelta(hours=1),
        by=engineer_user,
        now=now - timedelta(minutes=10),  # scheduled ten minutes ago, beat has not run since
    )
    idle(4)

    advance_maintenance.delay()
    advance_maintenance.delay()  # two beat ticks queued back to back

    wait_until(lambda: Maintenance.objects.get(pk=maintenance.pk).status == "in_progress", message="started")
    idle(8)
    events = sent_events(mailbox)
    assert set(events.values()) == {1}
    assert sorted(event for _, event in events) == ["scheduled"] * 4 + ["started"] * 4


def test_cancelling_emails_everyone_once_and_beat_never_starts_it(worker, mailbox, services, engineer_user):
    now = timezone.now()
    maintenance = svc.maintenance_schedule(
        title="Will not happen",
        services=[services["payments"]],
        starts_at=now + timedelta(hours=1),
        ends_at=now + timedelta(hours=2),
        by=engineer_user,
    )
    svc.maintenance_cancel(maintenance=maintenance, by=engineer_user)
    idle(4)

    assert svc.maintenance_advance(now=now + timedelta(hours=3)) == 0
    maintenance.refresh_from_db()
    assert maintenance.status == "cancelled"
    assert sorted(event for _, event in sent_events(mailbox)) == ["cancelled"] * 2 + ["scheduled"] * 2


def test_a_window_missed_by_beat_still_sends_started_then_completed(db, services, engineer_user, now):
    maintenance = svc.maintenance_schedule(
        title="Short one",
        services=[services["web"]],
        starts_at=now + timedelta(minutes=10),
        ends_at=now + timedelta(minutes=20),
        by=engineer_user,
        now=now,
    )
    assert svc.maintenance_advance(now=now + timedelta(hours=1)) == 2
    maintenance.refresh_from_db()
    assert maintenance.status == "completed" and maintenance.version == 3
    assert Counter(MaintenanceDelivery.objects.values_list("event", flat=True)) == {
        "scheduled": 2,
        "started": 2,
        "completed": 2,
    }


def test_a_window_already_over_when_recorded_is_history_and_emails_nobody(db, services, engineer_user, now):
    maintenance = svc.maintenance_schedule(
        title="Recorded afterwards",
        services=[services["web"]],
        starts_at=now - timedelta(hours=3),
        ends_at=now - timedelta(hours=1),
        by=engineer_user,
        now=now,
    )
    assert maintenance.status == "completed"
    assert MaintenanceDelivery.objects.count() == 0


def test_ending_an_ongoing_maintenance_early_completes_it_now(db, services, engineer_user, now):
    maintenance = svc.maintenance_schedule(
        title="Done sooner",
        services=[services["web"]],
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
        by=engineer_user,
        now=now,
    )
    assert maintenance.status == "in_progress"
    svc.maintenance_edit(maintenance=maintenance, by=engineer_user, status="completed", now=now)
    maintenance.refresh_from_db()
    assert maintenance.status == "completed" and maintenance.ends_at == now
    assert Counter(MaintenanceDelivery.objects.values_list("event", flat=True)) == {"started": 2, "completed": 2}


def test_an_ongoing_maintenance_cannot_be_cancelled_or_moved_back(db, services, engineer_user, now):
    maintenance = svc.maintenance_schedule(
        title="Under way",
        services=[services["web"]],
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
        by=engineer_user,
        now=now,
    )
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as cancel:
        svc.maintenance_cancel(maintenance=maintenance, by=engineer_user, now=now)
    assert "status" in cancel.value.message_dict
    with pytest.raises(ValidationError) as move:
        svc.maintenance_edit(maintenance=maintenance, by=engineer_user, starts_at=now + timedelta(hours=2), now=now)
    assert "starts_at" in move.value.message_dict


def test_beat_runs_the_transitions_and_the_sweeper_every_minute():
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["maintenance-advance"] == {"task": "maintenance.tasks.advance_maintenance", "schedule": 60}
    assert schedule["maintenance-sweep"]["task"] == "maintenance.tasks.sweep_maintenance_deliveries"
    from config.celery import app

    app.loader.import_default_modules()
    assert "maintenance.tasks.advance_maintenance" in app.tasks
