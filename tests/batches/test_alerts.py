import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.utils import timezone

from batches import services, tasks
from batches.models import BatchAlert, BatchAlertEvent
from incidents.models import ChatChannel
from tests.conftest import free_port, wait_until

from .conftest import NOW, daily_history, run_row


def check(now, notify=False):
    return services.batch_alerts_check(now=now, notify=notify)


def test_a_client_going_stale_raises_one_event_and_clears_with_the_next_run(ingest):
    ingest(daily_history("acme", [30] * 5, last=NOW - timedelta(hours=20)))
    assert check(NOW) == []
    later = NOW + timedelta(hours=8)  # 28 h since the last run: past 1 d + 2 h grace
    [raised] = check(later)
    event = BatchAlertEvent.objects.get(pk=raised)
    assert event.transition == "raised" and event.alert.kind == "stale"
    assert "no batch run for 1 d 4 h" in event.message
    assert check(later + timedelta(minutes=5)) == []  # still stale: nothing new
    ingest([run_row("acme", later, 30, run_id="recovered")])
    [cleared] = check(later + timedelta(hours=1))
    assert BatchAlertEvent.objects.get(pk=cleared).transition == "cleared"
    assert not BatchAlert.objects.get(kind="stale").active
    assert check(later + timedelta(hours=2)) == []


def test_a_long_run_raises_once_and_clears_when_a_normal_run_follows(ingest):
    ingest(daily_history("acme", [30] * 5 + [120], last=NOW - timedelta(hours=3)))
    [raised] = check(NOW)
    assert BatchAlertEvent.objects.get(pk=raised).alert.kind == "long"
    assert check(NOW) == []
    ingest([run_row("acme", NOW - timedelta(hours=1), 31, run_id="normal")])
    [cleared] = check(NOW)
    assert BatchAlertEvent.objects.get(pk=cleared).transition == "cleared"


def test_a_hanging_run_is_flagged_while_still_running(ingest):
    ingest(daily_history("acme", [30] * 5, last=NOW - timedelta(days=1)))
    ingest([run_row("acme", NOW - timedelta(minutes=50), 0, status="running", run_id="now")])
    [raised] = check(NOW)
    assert "has been running for 50 min" in BatchAlertEvent.objects.get(pk=raised).message


def test_inactive_clients_are_not_alerted_on(ingest):
    ingest(daily_history("gone", [30] * 5, last=NOW - timedelta(days=5)))
    from batches.models import Client

    Client.objects.filter(slug="gone").update(is_active=False)
    assert check(NOW) == []


def test_the_recipients_are_fixed_on_the_event(ingest, settings):
    settings.BATCH_ALERT_EMAILS = ["ops@example.com"]
    ingest(daily_history("acme", [30] * 5, last=NOW - timedelta(days=3)))
    [event_id] = services.batch_alerts_check(now=NOW, notify=True)
    assert BatchAlertEvent.objects.get(pk=event_id).recipients == ["ops@example.com"]


# --- through the real worker, SMTP server and a chat webhook -------------------------------------


class ChatHook:
    """A generic JSON webhook (what apprise's json:// posts to), recording every message."""

    def __init__(self):
        self.messages = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.messages.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = HTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.worker
def test_the_periodic_check_emails_and_chats_once_per_transition(worker, mailbox, settings, ingest):
    settings.BATCH_ALERT_EMAILS = ["batch-oncall@example.com"]
    now = timezone.now()  # the worker process runs on the real clock
    with ChatHook() as hook:
        ChatChannel.objects.create(name="ops", url=f"json://127.0.0.1:{hook.port}/hook", batch_alerts=True)
        ChatChannel.objects.create(name="quiet", url=f"json://127.0.0.1:{hook.port}/quiet", batch_alerts=False)
        ingest(daily_history("acme", [30] * 5, last=now - timedelta(days=2)))

        assert tasks.check_batches() == 1
        rcpts, message = mailbox.wait_for(1)[0]
        assert rcpts == ["batch-oncall@example.com"]
        assert "ALERT: Acme" in message["Subject"]
        assert "http://beacon.test/batches/acme/" in message.get_content()
        wait_until(lambda: len(hook.messages) == 1, message="one chat message")
        assert "no batch run for 2 d" in hook.messages[0]["message"]
        # Let the worker record the delivery before writing again (SQLite allows one writer).
        wait_until(lambda: BatchAlertEvent.objects.filter(chatted_at__isnull=False).count() == 1, message="marked")

        assert tasks.check_batches() == 0  # still stale: no second notification
        ingest([run_row("acme", now - timedelta(minutes=40), 30, run_id="back")])
        assert tasks.check_batches() == 1
        mailbox.wait_for(2)
        wait_until(lambda: len(hook.messages) == 2, message="the 'cleared' chat message")
        assert "Cleared" in mailbox.messages[1][1]["Subject"]
        wait_until(
            lambda: BatchAlertEvent.objects.filter(emailed_at__isnull=False, chatted_at__isnull=False).count() == 2,
            message="events marked sent",
        )
        assert len(mailbox.messages) == 2 and len(hook.messages) == 2


def test_a_chat_failure_is_retried_without_emailing_twice(mailbox, settings, ingest):
    from batches import notifications

    settings.BATCH_ALERT_EMAILS = ["batch-oncall@example.com"]
    dead_port = free_port()
    channel = ChatChannel.objects.create(name="ops", url=f"json://127.0.0.1:{dead_port}/hook", batch_alerts=True)
    ingest(daily_history("acme", [30] * 5, last=NOW - timedelta(days=2)))
    [event_id] = services.batch_alerts_check(now=NOW, notify=False)
    BatchAlertEvent.objects.filter(pk=event_id).update(
        emailed_at=None, chatted_at=None, recipients=settings.BATCH_ALERT_EMAILS
    )

    errors = notifications.alert_event_send(event_id)
    assert errors and errors[0].startswith("chat:")
    event = BatchAlertEvent.objects.get(pk=event_id)
    assert event.emailed_at is not None and event.chatted_at is None and "Chat delivery failed" in event.last_error
    mailbox.wait_for(1)

    with ChatHook() as hook:
        channel.url = f"json://127.0.0.1:{hook.port}/hook"
        channel.save()
        assert notifications.alert_event_send(event_id) == []
        assert len(hook.messages) == 1
    assert len(mailbox.messages) == 1
    assert notifications.alert_event_send(event_id) == []  # all sent: a repeat does nothing
    assert len(mailbox.messages) == 1
