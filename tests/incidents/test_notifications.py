"""Emails to affected parties, sent by a real Celery worker process to a real SMTP server."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from incidents import notifications
from incidents import services as svc
from incidents.models import Delivery, IncidentUpdate
from incidents.tasks import deliver_update, sweep_deliveries
from tests.conftest import api_key, wait_idle, wait_until

WEB_PARTIES = {"oncall-web@example.com", "support-web@example.com", "vendor@example.com", "eli@example.com"}


def all_sent(count: int) -> bool:
    return Delivery.objects.filter(status="sent").count() == count


def settle(mailbox, expected: int):
    """Wait for ``expected`` messages, then until the worker has nothing left to do, so a
    late duplicate would be counted."""
    mailbox.wait_for(expected)
    wait_idle()
    return mailbox.messages[:]


def by_recipient(messages) -> dict[str, list]:
    result: dict[str, list] = {}
    for rcpts, message in messages:
        for rcpt in rcpts:
            result.setdefault(rcpt, []).append(message)
    return result


@pytest.fixture
def desk_api(helpdesk_user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key(helpdesk_user)}")
    return client


def test_create_update_and_close_each_email_every_affected_party_exactly_once(
    worker, mailbox, services, desk_api, engineer_user
):
    created = desk_api.post(
        "/api/v1/incidents/",
        {
            "title": "Checkout down",
            "severity": 1,
            "services": ["web"],
            "engineer": "eli",
            "extra_recipients": ["Vendor@example.com"],
            "external_url": "https://tickets.example.com/browse/OPS-9",
            "message": "Checkout returns 502 for card payments.",
        },
        format="json",
    )
    assert created.status_code == 201
    ticket = created.json()["ticket"]

    messages = settle(mailbox, 4)
    assert len(messages) == 4
    assert set(mailbox.recipients()) == WEB_PARTIES
    for rcpts, message in messages:
        assert message["Subject"].strip() == f"[{ticket}] Checkout down"
        assert message["X-Beacon-Ticket"] == ticket
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        for part in (text, html):
            assert ticket in part
            assert "Investigating" in part
            assert "Sev 1" in part
            assert "Web Storefront" in part
            assert "Checkout returns 502 for card payments." in part
            if rcpts == ["eli@example.com"]:  # has an account: the incident's page and its ticket link
                assert f"http://beacon.test/incidents/{ticket}/" in part
                assert "https://tickets.example.com/browse/OPS-9" in part
            else:  # no account: the public status page, nothing they cannot open
                assert "http://beacon.test/status/" in part
                assert "/incidents/" not in part and "tickets.example.com" not in part
    wait_until(lambda: all_sent(4), message="deliveries marked sent")

    mailbox.clear()
    update = desk_api.post(
        f"/api/v1/incidents/{ticket}/updates/",
        {"message": "Rolled back the release.", "status": "monitoring", "severity": 2},
        format="json",
    )
    assert update.status_code == 201
    messages = settle(mailbox, 4)
    assert sorted(mailbox.recipients()) == sorted(WEB_PARTIES)
    _, message = messages[0]
    assert message["Subject"].strip() == f"[{ticket}] Checkout down"  # one subject: one thread
    text = message.get_body(("plain",)).get_content()
    assert text.startswith("Monitoring · Sev 2") and "Rolled back the release." in text
    wait_until(lambda: all_sent(8), message="update deliveries marked sent")

    mailbox.clear()
    closed = desk_api.post(f"/api/v1/incidents/{ticket}/close/", {"message": "Fixed for good."}, format="json")
    assert closed.status_code == 200
    messages = settle(mailbox, 4)
    assert sorted(mailbox.recipients()) == sorted(WEB_PARTIES)
    _, message = messages[0]
    assert message["Subject"].strip() == f"[{ticket}] Checkout down"
    text = message.get_body(("plain",)).get_content()
    assert "Resolved" in text and "Fixed for good." in text
    wait_until(lambda: all_sent(12), message="close deliveries marked sent")
    assert Delivery.objects.count() == 12  # one row per (update, recipient)


def test_a_rolled_back_transaction_sends_nothing_and_leaves_no_delivery(worker, mailbox, services, helpdesk_user):
    with pytest.raises(RuntimeError), transaction.atomic():
        svc.incident_open(title="Never happened", severity=1, services=[services["web"]], by=helpdesk_user)
        raise RuntimeError("the caller changed its mind")
    assert Delivery.objects.count() == 0 and IncidentUpdate.objects.count() == 0
    # A later incident's emails are a barrier: the worker handles tasks in order, so had
    # the rolled-back one been queued, its emails would have arrived first.
    svc.incident_open(title="Real one", severity=3, services=[services["payments"]], by=helpdesk_user)
    settle(mailbox, 2)
    assert sorted(mailbox.recipients()) == ["oncall-payments@example.com", "support-payments@example.com"]
    assert all("Real one" in message["Subject"] for _, message in mailbox.messages)


def test_while_the_mail_server_is_down_deliveries_wait_and_go_out_once_it_is_back(
    worker, mailbox, smtp_server, services, helpdesk_user, engineer_user
):
    smtp_server.stop()
    try:
        incident = svc.incident_open(
            title="Mail later",
            severity=2,
            services=[services["web"]],
            engineer=engineer_user,
            extra_recipients=["vendor@example.com"],
            by=helpdesk_user,
        )
        wait_until(
            lambda: Delivery.objects.filter(status="pending").exclude(last_error="").count() == 4,
            message="the failed attempt recorded on every delivery",
        )
        row = Delivery.objects.first()
        assert "mail server unreachable" in row.last_error
        assert row.sent_at is None
    finally:
        smtp_server.start()  # same port: the retry finds it there
    messages = settle(mailbox, 4)
    assert sorted(mailbox.recipients()) == sorted(WEB_PARTIES)
    assert all(incident.ticket in message["Subject"] for _, message in messages)
    wait_until(lambda: all_sent(4), message="deliveries marked sent after the retry")
    assert set(Delivery.objects.values_list("last_error", flat=True)) == {""}


def test_one_refused_address_does_not_hold_back_the_others(worker, mailbox, services, helpdesk_user):
    async def handle_RCPT(server, session, envelope, address, rcpt_options):
        if address.startswith("gone@"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    mailbox.handle_RCPT = handle_RCPT
    try:
        incident = svc.incident_open(
            title="Partial",
            severity=3,
            services=[services["web"]],
            extra_recipients=["gone@example.com", "vendor@example.com"],
            by=helpdesk_user,
        )
        settle(mailbox, 3)
        assert sorted(mailbox.recipients()) == [
            "oncall-web@example.com",
            "support-web@example.com",
            "vendor@example.com",
        ]
        wait_until(lambda: all_sent(3), message="the good addresses marked sent")
        refused = Delivery.objects.get(email="gone@example.com")
        # A 5xx refusal is final: retrying for a day would not make the mailbox exist.
        assert refused.status == "failed" and "No such user" in refused.last_error
        assert incident.ticket in str(refused.update)
    finally:
        del mailbox.handle_RCPT


def test_a_worker_killed_mid_send_leaves_neither_gaps_nor_second_copies(
    worker, mailbox, services, helpdesk_user, engineer_user
):
    """SIGKILL the worker while it works through ~60 emails, restart it, let the sweeper run.

    Every recipient gets the email, and nobody gets two different emails. The one message
    the SMTP server was accepting at the moment of the kill may go out a second time (SMTP
    cannot tell a sender that died before reading "250 OK" that its message arrived); it
    carries the same Message-ID, so mail clients show it once. Everything else is sent once.
    """
    mailbox.delay = 0.05
    extras = [f"party{n:02d}@example.com" for n in range(57)]
    incident = svc.incident_open(
        title="Big one",
        severity=1,
        services=[services["web"]],
        engineer=engineer_user,
        extra_recipients=extras,
        by=helpdesk_user,
    )
    expected = {"oncall-web@example.com", "support-web@example.com", "eli@example.com", *extras}
    assert len(expected) == 60
    mailbox.wait_for(10)
    worker.kill()
    arrived_before_kill = len(mailbox.messages)
    assert arrived_before_kill < 60, "the worker finished before it could be killed"
    assert Delivery.objects.filter(status="pending").exists()

    worker.start()
    # As beat would, every few seconds: once the killed worker's claims (lease 3 s in tests)
    # run out, the sweeper re-queues what is left.
    wait_until(
        lambda: sweep_deliveries.delay() and all_sent(60), timeout=60, interval=1.0, message="every delivery sent"
    )
    messages = settle(mailbox, 60)

    received = by_recipient(messages)
    assert set(received) == expected  # no gaps
    for rcpt, copies in received.items():
        assert len({m["Message-ID"] for m in copies}) == 1, f"{rcpt} got two different emails"
    repeated = [rcpt for rcpt, copies in received.items() if len(copies) > 1]
    assert len(repeated) <= 1, f"more than the in-flight message was sent twice: {repeated}"
    assert Delivery.objects.filter(update__incident=incident).count() == 60


def test_failed_deliveries_are_listed_for_staff_and_can_be_retried(
    worker, mailbox, smtp_server, services, helpdesk_user, admin_user, client
):
    smtp_server.stop()
    try:
        incident = svc.incident_open(title="Mail outage", severity=2, services=[services["payments"]], by=helpdesk_user)
        update_id = incident.updates.get().pk
        wait_until(lambda: Delivery.objects.exclude(last_error="").count() == 2, message="first attempt failed")
        # A day later (NOTIFY_RETRY_FOR_SECONDS), the worker's next failed attempt gives up.
        Delivery.objects.update(created_at=timezone.now() - timedelta(hours=24, minutes=1))
        wait_until(lambda: set(Delivery.objects.values_list("status", flat=True)) == {"failed"}, message="given up")
        deliver_update.apply(args=[update_id])  # a late retry finds nothing to do
        assert set(Delivery.objects.values_list("status", flat=True)) == {"failed"}
    finally:
        smtp_server.start()

    client.force_login(admin_user)
    for query in ("status=failed", "status__exact=failed"):
        page = client.get(f"/admin/incidents/delivery/?{query}")
        assert page.status_code == 200
        text = page.content.decode()
        assert "oncall-payments@example.com" in text and "support-payments@example.com" in text
        assert incident.ticket in text and "Gave up after retrying for 24 h" in text

    ids = list(Delivery.objects.values_list("pk", flat=True))
    response = client.post(
        "/admin/incidents/delivery/?status=failed",
        {"action": "retry", "_selected_action": ids, "index": 0},
        follow=True,
    )
    assert response.status_code == 200
    assert "Re-queued deliveries of 1 update(s)." in response.content.decode()
    settle(mailbox, 2)
    assert sorted(mailbox.recipients()) == ["oncall-payments@example.com", "support-payments@example.com"]
    wait_until(lambda: all_sent(2), message="retried deliveries marked sent")


def test_only_staff_see_the_delivery_list(client, helpdesk_user, db):
    client.force_login(helpdesk_user)
    response = client.get("/admin/incidents/delivery/")
    assert response.status_code == 403  # signed in without staff rights: 403, like every page


def test_imports_and_demo_data_send_no_email(transactional_db, services, helpdesk_user):
    svc.incident_open(
        title="Historic", severity=2, services=[services["web"]], by=helpdesk_user, notify=False,
        started_at=timezone.now() - timedelta(days=30),
    )  # fmt: skip
    assert Delivery.objects.count() == 0


def test_the_sweeper_leaves_fresh_and_claimed_deliveries_alone(transactional_db, services, helpdesk_user, settings):
    settings.NOTIFY_LEASE_SECONDS = 60
    incident = svc.incident_open(title="Fresh", severity=2, services=[services["web"]], by=helpdesk_user, notify=False)
    update_id = incident.updates.get().pk
    # Emails asked for, but its task never reached a worker (no task queued here, so no
    # worker of this session can take it meanwhile).
    IncidentUpdate.objects.filter(pk=update_id).update(notify=True)
    # Queued a moment ago, so the original task may still be on its way: not stale yet.
    assert notifications.stale_update_ids() == []
    # Its recipients never written (the task was lost): stale once a lease has passed.
    IncidentUpdate.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    assert notifications.stale_update_ids() == [update_id]
    assert notifications.recipients_expand(update_id) == 2
    assert notifications.recipients_expand(update_id) == 0  # once
    assert notifications.stale_update_ids() == []  # rows just written: the task is on them
    Delivery.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    assert notifications.stale_update_ids() == [update_id]
    Delivery.objects.update(claimed_until=timezone.now() + timedelta(seconds=30))  # a worker is on it
    assert notifications.stale_update_ids() == []


def test_an_email_sent_late_still_describes_its_own_update(services, helpdesk_user):
    """The worker may send the "opened" email after the incident moved on; it must not say so."""
    incident = svc.incident_open(
        title="Late mail", severity=2, services=[services["web"]], by=helpdesk_user, notify=False
    )
    opened = incident.updates.get()
    svc.incident_update(
        incident=incident, message="Worse", status="identified", severity=1, by=helpdesk_user, notify=False
    )
    svc.incident_resolve(incident=incident, message="Fixed", by=helpdesk_user, notify=False)
    rendered = notifications.render_update(opened)
    assert rendered["subject"] == f"[{incident.ticket}] Late mail"
    assert rendered["text"].startswith("Investigating · Sev 2")
    assert "Resolved:" not in rendered["text"] and "Identified" not in rendered["html"]
