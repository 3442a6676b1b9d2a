"""Who hears what: notify and internal notes, subscriptions, unsubscribe, threads, the feed.

Emails go through a real Celery worker to a real SMTP server; every count is taken once the
worker is idle (``wait_idle``), never after a fixed pause.
"""

from datetime import timedelta
from email.utils import parseaddr
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from incidents import notifications
from incidents import services as svc
from incidents.choices import DESCRIPTION_MAX_LENGTH, MESSAGE_MAX_LENGTH
from incidents.models import Delivery, IncidentOptOut, IncidentUpdate, Subscriber
from maintenance.models import Maintenance
from tests.conftest import wait_idle, wait_until
from tests.incidents.conftest import counts


def by_recipient(messages) -> dict[str, list]:
    result: dict[str, list] = {}
    for rcpts, message in messages:
        for rcpt in rcpts:
            result.setdefault(rcpt, []).append(message)
    return result


def unsubscribe_path(message) -> str:
    header = message["List-Unsubscribe"].strip()
    assert header.startswith("<") and header.endswith(">")
    return urlsplit(header[1:-1]).path


# --- notify and visibility ------------------------------------------------------------


def test_an_internal_note_is_never_emailed_nor_shown_on_the_status_page_or_its_feed(
    worker, mailbox, services, api, helpdesk_user, client
):
    desk = api.as_user(helpdesk_user)
    ticket = desk.post(
        "/api/v1/incidents/",
        {"title": "Search slow", "severity": 3, "services": ["web"], "message": "Search takes 8 s."},
        format="json",
    ).json()["ticket"]
    mailbox.wait_for(2)
    wait_idle()
    mailbox.clear()

    note = desk.post(
        f"/api/v1/incidents/{ticket}/updates/",
        {"message": "Suspect the vendor's index; do not tell customers yet.", "visibility": "internal"},
        format="json",
    )
    assert note.status_code == 201
    latest = note.json()["updates"][-1]
    assert latest["visibility"] == "internal" and latest["notify"] is False
    wait_idle()
    assert mailbox.messages == []
    assert not Delivery.objects.filter(update__visibility="internal").exists()

    status_page = client.get("/status/").content.decode()
    feed = client.get("/status/feed.atom").content.decode()
    assert "Search takes 8 s." in status_page and "Search takes 8 s." in feed
    for text in (status_page, feed):
        assert "vendor's index" not in text and "vendor&#x27;s index" not in text and "vendor&#39;s" not in text

    client.force_login(helpdesk_user)  # signed-in users read it, marked as internal
    page = client.get(f"/incidents/{ticket}/").content.decode()
    assert "vendor&#x27;s index" in page and "Internal note" in page


def test_an_update_posted_with_notify_off_emails_nobody_and_says_so(worker, mailbox, services, client, helpdesk_user):
    incident = svc.incident_open(title="Cache cold", severity=4, services=[services["web"]], by=helpdesk_user)
    mailbox.wait_for(2)
    wait_idle()
    mailbox.clear()
    client.force_login(helpdesk_user)
    form = {
        "message": "Warming up, nothing to tell.",
        "status": "identified",
        "severity": 4,
        "version": incident.version,
        "visibility": "public",
    }  # the "Email the affected parties" box left unticked
    response = client.post(f"/incidents/{incident.ticket}/update/", form)
    assert response.status_code == 302
    update = incident.updates.latest("id")
    assert (update.notify, update.visibility, update.status) == (False, "public", "identified")
    wait_idle()
    assert mailbox.messages == []
    assert "not emailed" in client.get(f"/incidents/{incident.ticket}/").content.decode()


def test_the_update_form_offers_notify_and_visibility_and_an_internal_note_goes_nowhere(
    worker, mailbox, services, client, helpdesk_user
):
    incident = svc.incident_open(
        title="Queue backlog", severity=3, services=[services["web"]], by=helpdesk_user, notify=False
    )
    client.force_login(helpdesk_user)
    page = client.get(f"/incidents/{incident.ticket}/update/").content.decode()
    assert 'name="notify"' in page and 'name="visibility"' in page and "Internal note" in page
    response = client.post(
        f"/incidents/{incident.ticket}/update/",
        {
            "message": "Paging the DBA.",
            "status": "investigating",
            "severity": 3,
            "version": incident.version,
            "visibility": "internal",
            "notify": "on",  # ticked, but an internal note is never emailed
        },
    )
    assert response.status_code == 302
    assert incident.updates.latest("id").visibility == "internal"
    wait_idle()
    assert mailbox.messages == []


def test_a_bad_visibility_or_an_oversized_text_is_refused_naming_the_field_and_writes_nothing(
    incident, api, helpdesk_user, client
):
    desk = api.as_user(helpdesk_user)
    before = counts()
    bad = desk.post(
        f"/api/v1/incidents/{incident.ticket}/updates/", {"message": "x", "visibility": "secret"}, format="json"
    )
    assert bad.status_code == 400 and "visibility" in bad.json()
    long = desk.post(
        f"/api/v1/incidents/{incident.ticket}/updates/", {"message": "x" * (MESSAGE_MAX_LENGTH + 1)}, format="json"
    )
    assert long.status_code == 400 and "message" in long.json()
    huge = desk.post(
        "/api/v1/incidents/",
        {"title": "Big", "severity": 3, "services": ["web"], "description": "d" * 10_000_000},
        format="json",
    )
    assert huge.status_code == 400 and "description" in huge.json()
    assert counts() == before

    with pytest.raises(Exception) as refused:
        svc.incident_open(
            title="Big", severity=3, services=list(incident.services.all()), by=helpdesk_user,
            description="d" * (DESCRIPTION_MAX_LENGTH + 1),
        )  # fmt: skip
    assert "description" in refused.value.message_dict
    assert counts() == before

    client.force_login(helpdesk_user)
    form = client.post(
        f"/incidents/{incident.ticket}/update/",
        {
            "message": "y" * (MESSAGE_MAX_LENGTH + 1),
            "status": "investigating",
            "severity": 2,
            "version": incident.version,
            "visibility": "public",
        },
    )
    assert form.status_code in (200, 400)
    assert f"at most {MESSAGE_MAX_LENGTH}" in form.content.decode().lower()
    assert counts() == before


# --- emails people can use -------------------------------------------------------------


def test_a_new_line_in_a_title_cannot_break_an_email_header(worker, mailbox, services, helpdesk_user):
    incident = svc.incident_open(
        title="Login\r\nBcc: everyone@example.com\x00 broken", severity=2, services=[services["payments"]],
        by=helpdesk_user,
    )  # fmt: skip
    assert incident.title == "Login Bcc: everyone@example.com broken"  # a title is one line
    messages = mailbox.wait_for(2)
    wait_idle()
    assert len(mailbox.messages) == 2
    for rcpts, message in messages:
        assert message["Subject"] == f"[{incident.ticket}] Login Bcc: everyone@example.com broken"
        assert message["Bcc"] is None and "everyone@example.com" not in rcpts

    # Even a value that reached the database some other way is collapsed in every header.
    IncidentUpdate.objects.filter(incident=incident).update(message="m")
    type(incident).objects.filter(pk=incident.pk).update(title="Two\nlines\r\n\tand\x1b tab\u2028sep")
    update = IncidentUpdate.objects.select_related("incident").get(incident=incident)
    message = notifications.build_message(update, "a@example.com", delivery_id=1).message()
    for name, value in message.items():
        assert "\n" not in value.replace("\n ", "").replace("\r\n ", "") or name == "Content-Type", name
    assert str(message["Subject"]).endswith("Two lines and tab sep")


def test_header_safe_collapses_every_control_character():
    assert notifications.header_safe("a\r\nb\tc\x00d\x7fe\u2028f\u0085g") == "a b c d e f g"
    assert len(notifications.header_safe("x" * 5000)) == 900


def test_the_emails_of_one_incident_form_one_thread_per_recipient(worker, mailbox, services, helpdesk_user):
    incident = svc.incident_open(title="Thread me", severity=2, services=[services["web"]], by=helpdesk_user)
    mailbox.wait_for(2)
    svc.incident_update(incident=incident, message="Still on it.", status="identified", by=helpdesk_user)
    mailbox.wait_for(4)
    svc.incident_resolve(incident=incident, message="Fixed.", by=helpdesk_user)
    mailbox.wait_for(6)
    wait_idle()
    received = by_recipient(mailbox.messages)
    assert set(received) == {"oncall-web@example.com", "support-web@example.com"}
    anchor = f"<incident.{incident.ticket}@beacon.test>"
    for copies in received.values():
        assert len(copies) == 3
        opened, *later = copies
        assert {m["Subject"] for m in copies} == {f"[{incident.ticket}] Thread me"}
        assert opened["In-Reply-To"] is None and opened["References"] == anchor
        root = opened["Message-ID"]
        for message in later:
            assert message["In-Reply-To"] == root
            assert message["References"].split() == [anchor, root]
        assert len({m["Message-ID"] for m in copies}) == 3


# --- subscriptions and unsubscribe -----------------------------------------------------


def test_any_signed_in_user_subscribes_and_unsubscribes_themselves(
    worker, mailbox, services, outsider, client, helpdesk_user
):
    client.force_login(outsider)  # no role at all: subscribing is still theirs to do
    page = client.get("/subscriptions/")
    assert page.status_code == 200 and "otto@example.com" in page.content.decode()
    saved = client.post("/subscriptions/", {"services": [services["payments"].pk]}, follow=True)
    assert "1 added, 0 removed" in saved.content.decode()
    row = Subscriber.objects.get(email="otto@example.com")
    assert (row.service, row.user) == (services["payments"], outsider)

    svc.incident_open(title="Card declines", severity=2, services=[services["payments"]], by=helpdesk_user)
    mailbox.wait_for(3)
    wait_idle()
    assert sorted(mailbox.recipients()) == [
        "oncall-payments@example.com",
        "otto@example.com",
        "support-payments@example.com",
    ]
    otto_mail = by_recipient(mailbox.messages)["otto@example.com"][0]
    assert "/incidents/INC-" in otto_mail.get_body(("plain",)).get_content()  # an account: the incident page

    client.post("/subscriptions/", {})  # nothing ticked: unsubscribed from everything
    assert not Subscriber.objects.filter(email="otto@example.com").exists()
    assert Subscriber.objects.filter(service=services["payments"]).count() == 2  # staff's addresses untouched


def test_a_user_without_an_email_address_is_told_why_they_cannot_subscribe(client, services, outsider):
    User.objects.filter(pk=outsider.pk).update(email="")
    client.force_login(outsider)
    response = client.post("/subscriptions/", {"services": [services["web"].pk]})
    assert response.status_code == 400
    assert "no email address" in response.content.decode()
    assert not Subscriber.objects.filter(user=outsider).exists()


def test_subscriptions_need_a_sign_in(client, db):
    response = client.get("/subscriptions/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_one_click_unsubscribe_works_without_signing_in_and_stops_the_next_emails(
    worker, mailbox, services, helpdesk_user, client
):
    incident = svc.incident_open(
        title="Unsub", severity=3, services=[services["web"]], extra_recipients=["vendor@example.com"],
        by=helpdesk_user,
    )  # fmt: skip
    mailbox.wait_for(3)
    wait_idle()
    received = by_recipient(mailbox.messages)
    oncall = received["oncall-web@example.com"][0]
    assert oncall["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    path = unsubscribe_path(oncall)
    assert path in oncall.get_body(("plain",)).get_content()
    assert path in oncall.get_body(("html",)).get_content()

    shown = client.get(path)  # a link scanner's GET changes nothing
    assert shown.status_code == 200 and "Web Storefront" in shown.content.decode()
    assert Subscriber.objects.filter(email="oncall-web@example.com").exists()
    done = client.post(path, {"List-Unsubscribe": "One-Click"})  # what a mail client's button sends
    assert done.status_code == 200 and "is unsubscribed" in done.content.decode()
    assert not Subscriber.objects.filter(email="oncall-web@example.com").exists()
    assert client.post(path).status_code == 200  # twice is harmless

    vendor_path = unsubscribe_path(received["vendor@example.com"][0])  # named on the incident, not subscribed
    assert client.post(vendor_path).status_code == 200
    assert IncidentOptOut.objects.filter(incident=incident, email="vendor@example.com").exists()

    mailbox.clear()
    svc.incident_update(incident=incident, message="Next", by=helpdesk_user)
    mailbox.wait_for(1)
    wait_idle()
    assert mailbox.recipients() == ["support-web@example.com"]

    tampered = client.post(path[:-3] + "xx/")
    assert tampered.status_code == 400 and "not valid" in tampered.content.decode()


def test_maintenance_emails_carry_the_unsubscribe_link_and_safe_headers(
    worker, mailbox, services, engineer_user, client
):
    from maintenance import services as maintenance_services

    now = timezone.now()
    maintenance_services.maintenance_schedule(
        title="DB upgrade\r\nX-Evil: 1", services=[services["web"]], starts_at=now + timedelta(hours=1),
        ends_at=now + timedelta(hours=2), by=engineer_user,
    )  # fmt: skip
    messages = mailbox.wait_for(2)
    wait_idle()
    assert len(mailbox.messages) == 2
    _, message = messages[0]
    assert message["X-Evil"] is None and "\n" not in message["Subject"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    path = unsubscribe_path(message)
    rcpt = messages[0][0][0]
    assert client.post(path).status_code == 200
    assert not Subscriber.objects.filter(email=rcpt, service=services["web"]).exists()
    assert Maintenance.objects.count() == 1


# --- the feed -------------------------------------------------------------------------


def test_the_status_feed_lists_incidents_and_maintenance_with_their_public_updates(
    services, helpdesk_user, engineer_user, client, settings
):
    from maintenance import services as maintenance_services

    incident = svc.incident_open(
        title="Feed me", severity=2, services=[services["web"]], by=helpdesk_user, notify=False,
        message="Opened for the feed.",
    )  # fmt: skip
    svc.incident_update(incident=incident, message="Public progress.", by=helpdesk_user, notify=False)
    svc.incident_update(
        incident=incident, message="Private musing.", by=helpdesk_user, notify=False, visibility="internal"
    )
    now = timezone.now()
    maintenance_services.maintenance_schedule(
        title="Planned switch swap", services=[services["payments"]], starts_at=now + timedelta(days=1),
        ends_at=now + timedelta(days=1, hours=1), by=engineer_user,
    )  # fmt: skip
    response = client.get("/status/feed.atom")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    body = response.content.decode()
    assert f"{incident.ticket} · Investigating · Feed me" in body
    assert "Opened for the feed." in body and "Public progress." in body
    assert "Private musing." not in body
    assert "Planned switch swap" in body
    assert '<link href="http://testserver/status/#' in body

    settings.STATUS_PAGE_ENABLED = False
    assert client.get("/status/feed.atom").status_code == 404


def test_the_feed_reads_in_a_fixed_number_of_queries(services, helpdesk_user, client, django_assert_max_num_queries):
    for n in range(5):
        incident = svc.incident_open(
            title=f"Q{n}", severity=3, services=[services["web"]], by=helpdesk_user, notify=False
        )
        svc.incident_update(incident=incident, message="u", by=helpdesk_user, notify=False)
    with django_assert_max_num_queries(8):
        assert client.get("/status/feed.atom").status_code == 200


# --- mail that survives outages ----------------------------------------------------------


def test_an_outage_longer_than_the_old_retry_budget_loses_nothing_and_sends_each_message_once(
    worker, mailbox, smtp_server, services, helpdesk_user, engineer_user, admin_user, client
):
    """The old code gave up after 8 retries. Here the server stays down until every delivery
    has failed 10 times (shortened backoff in tests), then comes back: all go out, once."""
    smtp_server.stop()
    try:
        first = svc.incident_open(
            title="During outage", severity=2, services=[services["web"]], engineer=engineer_user,
            by=helpdesk_user,
        )  # fmt: skip
        svc.incident_update(incident=first, message="Still down", status="identified", by=helpdesk_user)
        svc.incident_open(title="Second", severity=3, services=[services["payments"]], by=helpdesk_user)
        wait_until(
            lambda: Delivery.objects.count() == 8 and not Delivery.objects.filter(attempts__lt=10).exists(),
            timeout=90,
            message="every delivery failed 10 times",
        )
        assert set(Delivery.objects.values_list("status", flat=True)) == {"pending"}  # not given up
        client.force_login(admin_user)
        banner = client.get("/").content.decode()
        assert 'id="delivery-banner"' in banner and "waiting for a retry" in banner
    finally:
        smtp_server.start()
    mailbox.wait_for(8, timeout=60)
    wait_idle()
    received = by_recipient(mailbox.messages)
    assert len(mailbox.messages) == 8
    assert {rcpt: len(copies) for rcpt, copies in received.items()} == {
        "oncall-web@example.com": 2,
        "support-web@example.com": 2,
        "eli@example.com": 2,
        "oncall-payments@example.com": 1,
        "support-payments@example.com": 1,
    }
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    assert 'id="delivery-banner"' not in client.get("/").content.decode()


def test_the_banner_is_for_staff_only(services, helpdesk_user, admin_user, client):
    incident = svc.incident_open(title="Banner", severity=2, services=[services["web"]], by=helpdesk_user, notify=False)
    update = incident.updates.get()
    Delivery.objects.create(update=update, email="x@example.com", status="failed", last_error="boom")
    client.force_login(helpdesk_user)
    assert 'id="delivery-banner"' not in client.get("/").content.decode()
    client.force_login(admin_user)
    page = client.get("/").content.decode()
    assert 'id="delivery-banner"' in page and "1 failed in the last 24 h" in page


def test_a_retry_waits_with_capped_exponential_backoff(settings):
    settings.NOTIFY_RETRY_BACKOFF_BASE = 2
    settings.NOTIFY_RETRY_BACKOFF_MAX = 300
    for attempts, ceiling in ((1, 2), (2, 4), (5, 32), (9, 300), (40, 300)):
        delays = [notifications.backoff_seconds(attempts) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (attempts, min(delays), max(delays))


def test_the_request_writes_no_delivery_rows_whatever_the_number_of_recipients(
    transactional_db, services, helpdesk_user, django_assert_max_num_queries
):
    for n in range(300):
        Subscriber.objects.create(service=services["web"], email=f"many{n}@example.com")
    with django_assert_max_num_queries(20):
        incident = svc.incident_open(title="Many", severity=2, services=[services["web"]], by=helpdesk_user)
    assert Delivery.objects.count() == 0
    update = incident.updates.get()
    assert update.notify and update.recipients_at is None
    assert notifications.recipients_expand(update.pk) == 302


def test_the_sender_address_is_unchanged_and_the_list_is_named(worker, mailbox, services, helpdesk_user):
    svc.incident_open(title="Headers", severity=4, services=[services["web"]], by=helpdesk_user)
    messages = mailbox.wait_for(2)
    wait_idle()
    _, message = messages[0]
    assert parseaddr(message["From"])[1] == "beacon@localhost"
    assert "incidents.beacon.test" in message["List-Id"]


def test_a_big_update_fans_out_into_batches_over_parallel_connections_and_sends_each_message_once(
    worker, mailbox, services, helpdesk_user
):
    """450 recipients: batches of 200 (``NOTIFY_BATCH_SIZE`` in tests), each over two SMTP
    connections at once. Everyone gets exactly one message, each with its own unsubscribe link."""
    Subscriber.objects.bulk_create(
        [Subscriber(service=services["web"], email=f"crowd{n:03d}@example.com") for n in range(448)]
    )
    incident = svc.incident_open(title="Crowd", severity=2, services=[services["web"]], by=helpdesk_user)
    mailbox.wait_for(450, timeout=120)
    wait_idle(timeout=120)
    received = by_recipient(mailbox.messages)
    assert len(mailbox.messages) == 450 and len(received) == 450
    assert Delivery.objects.filter(update__incident=incident, status="sent").count() == 450
    links = {unsubscribe_path(copies[0]) for copies in received.values()}
    ids = {copies[0]["Message-ID"] for copies in received.values()}
    assert len(links) == 450 and len(ids) == 450
    for rcpt, (message,) in list(received.items())[:20]:
        assert message["To"] == rcpt
        assert unsubscribe_path(message) in message.get_body(("plain",)).get_content()


def test_closing_and_reopening_through_the_api_can_skip_the_emails(worker, mailbox, services, api, helpdesk_user):
    desk = api.as_user(helpdesk_user)
    incident = svc.incident_open(title="Quiet", severity=4, services=[services["web"]], by=helpdesk_user, notify=False)
    closed = desk.post(
        f"/api/v1/incidents/{incident.ticket}/close/", {"message": "Done", "notify": False}, format="json"
    )
    assert closed.status_code == 200
    reopened = desk.post(f"/api/v1/incidents/{incident.ticket}/reopen/", {"message": "Back"}, format="json")
    assert reopened.status_code == 200
    mailbox.wait_for(2)
    wait_idle()
    assert len(mailbox.messages) == 2  # only the reopening was emailed
    assert all("Back" in m.get_body(("plain",)).get_content() for _, m in mailbox.messages)


def test_a_task_lost_with_a_killed_worker_comes_back_in_minutes_not_an_hour(settings):
    from config.celery import app

    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    assert app.conf.worker_prefetch_multiplier == 1
    assert settings.NOTIFY_RETRY_BACKOFF_MAX < settings.CELERY_VISIBILITY_TIMEOUT <= 600
    if settings.REDIS_URL:  # the option Redis reads (its default is 3600 s)
        assert app.conf.broker_transport_options["visibility_timeout"] == settings.CELERY_VISIBILITY_TIMEOUT


def test_the_banner_counts_recent_failures_and_waiting_retries_in_one_query_per_kind(
    services, helpdesk_user, django_assert_num_queries
):
    from datetime import timedelta

    from django.utils import timezone

    from incidents.notifications import delivery_trouble

    incident = svc.incident_open(title="Banner", severity=2, services=[services["web"]], by=helpdesk_user, notify=False)
    update = incident.updates.get()
    for email, status, attempts in [
        ("failed@example.com", "failed", 10),
        ("old@example.com", "failed", 10),
        ("retrying@example.com", "pending", 2),
        ("new@example.com", "pending", 0),
        ("sent@example.com", "sent", 1),
    ]:
        Delivery.objects.create(update=update, email=email, status=status, attempts=attempts)
    Delivery.objects.filter(email="old@example.com").update(created_at=timezone.now() - timedelta(days=2))
    with django_assert_num_queries(3):  # email, maintenance email, chat
        assert delivery_trouble() == {"failed": 1, "retrying": 1}
