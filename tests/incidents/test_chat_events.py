"""Incident events to chat channels and outbound webhooks: one delivery per (event, channel).

The channels are a real local HTTP server (Apprise's ``json://`` posts to it, and so do
Beacon's signed webhooks); the worker is a real Celery process.
"""

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import ThreadingHTTPServer

import pytest
from django.utils import timezone

from incidents import services as svc
from incidents.models import ChatChannel, ChatDelivery
from integrations import webhooks
from tests.conftest import free_port, wait_idle, wait_until
from tests.metrics.conftest import FakeHTTP, _handler_for

SECRET = "s3cret-for-tests"


@pytest.fixture
def hooks():
    fake = FakeHTTP(port=free_port())
    server = ThreadingHTTPServer(("127.0.0.1", fake.port), _handler_for(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


def ok(req):
    return 200, {"Content-Type": "application/json"}, b"{}"


def broken(req):
    return 500, {"Content-Type": "application/json"}, b'{"error": "down"}'


def test_a_failing_channel_is_retried_alone_and_the_healthy_ones_get_each_event_once(
    worker, mailbox, services, helpdesk_user, hooks
):
    hooks.route("POST", "/chat", ok)
    hooks.route("POST", "/hook", ok)
    hooks.route("POST", "/broken", broken)
    host = f"127.0.0.1:{hooks.port}"
    ChatChannel.objects.create(name="team chat", url=f"json://{host}/chat", metrics_digest=False)
    ChatChannel.objects.create(name="tool", url=f"http://{host}/hook", secret=SECRET, metrics_digest=False)
    failing = ChatChannel.objects.create(name="flaky", url=f"json://{host}/broken", metrics_digest=False)
    ChatChannel.objects.create(name="digest only", url=f"json://{host}/chat", incident_events=False)

    incident = svc.incident_open(title="Chat me", severity=2, services=[services["web"]], by=helpdesk_user)
    svc.incident_update(incident=incident, message="Identified", status="identified", by=helpdesk_user)
    svc.incident_update(
        incident=incident, message="Internal only", by=helpdesk_user, visibility="internal"
    )  # never posted
    svc.incident_resolve(incident=incident, message="Fixed", by=helpdesk_user)

    # The flaky channel fails again and again while the healthy ones are done.
    wait_until(
        lambda: ChatDelivery.objects.filter(channel=failing, attempts__gte=4).count() == 3,
        timeout=60,
        message="the failing channel retried several times",
    )
    assert set(ChatDelivery.objects.filter(channel=failing).values_list("status", flat=True)) == {"pending"}
    assert len(hooks.received("/chat")) == 3 and len(hooks.received("/hook")) == 3  # no repeats meanwhile

    hooks.route("POST", "/broken", ok)  # the channel recovers
    wait_idle()
    assert set(ChatDelivery.objects.values_list("status", flat=True)) == {"sent"}
    assert ChatDelivery.objects.count() == 9  # 3 public events × 3 channels that want them
    for path in ("/chat", "/hook"):
        assert len(hooks.received(path)) == 3, path
    assert len(hooks.received("/broken")) >= 3 * 4 + 3  # 4+ failures per event, then one success each
    titles = [r.json()["title"] for r in hooks.received("/chat")]
    assert titles == [
        f"{incident.ticket} opened: Chat me",
        f"{incident.ticket} updated: Chat me",
        f"{incident.ticket} resolved: Chat me",
    ]
    assert not any("Internal only" in r.body.decode() for r in hooks.requests)


def test_outbound_webhooks_are_signed_with_hmac_sha256_of_timestamp_and_body(
    worker, mailbox, services, helpdesk_user, hooks
):
    hooks.route("POST", "/hook", ok)
    ChatChannel.objects.create(name="tool", url=f"{hooks.url}/hook", secret=SECRET, metrics_digest=False)
    incident = svc.incident_open(title="Signed", severity=1, services=[services["web"]], by=helpdesk_user)
    wait_until(lambda: hooks.received("/hook"), message="the webhook call")
    wait_idle()
    (request,) = hooks.received("/hook")
    timestamp = request.headers["x-beacon-timestamp"]
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-beacon-signature"] == f"v1={expected}"
    assert request.headers["x-beacon-event"] == "incident.opened"
    payload = json.loads(request.body)
    assert payload["ticket"] == incident.ticket and payload["severity"] == 1 and payload["services"] == ["web"]
    assert payload["delivery"] == ChatDelivery.objects.get().pk


def test_a_webhook_signature_changes_with_the_body_and_the_secret():
    one = webhooks.signature("a", 1700000000, b'{"x":1}')
    assert one.startswith("v1=") and len(one) == 3 + 64
    assert one != webhooks.signature("a", 1700000000, b'{"x":2}')
    assert one != webhooks.signature("b", 1700000000, b'{"x":1}')
    assert one != webhooks.signature("a", 1700000001, b'{"x":1}')


def test_failed_chat_deliveries_are_listed_for_staff_and_can_be_retried(
    worker, mailbox, services, helpdesk_user, hooks, admin_user, client
):
    hooks.route("POST", "/broken", broken)
    ChatChannel.objects.create(name="flaky", url=f"json://127.0.0.1:{hooks.port}/broken", metrics_digest=False)
    incident = svc.incident_open(title="Give up", severity=2, services=[services["web"]], by=helpdesk_user)
    wait_until(lambda: ChatDelivery.objects.filter(attempts__gte=1).exists(), message="a failed post")
    # A day later the next failure gives up (NOTIFY_RETRY_FOR_SECONDS).
    ChatDelivery.objects.update(created_at=timezone.now() - timedelta(hours=25))
    wait_until(lambda: ChatDelivery.objects.filter(status="failed").exists(), timeout=30, message="given up")
    client.force_login(admin_user)
    listing = client.get("/admin/incidents/chatdelivery/?status__exact=failed").content.decode()
    assert "flaky" in listing and incident.ticket in listing and "Gave up after retrying" in listing

    hooks.route("POST", "/broken", ok)
    response = client.post(
        "/admin/incidents/chatdelivery/",
        {"action": "retry", "_selected_action": list(ChatDelivery.objects.values_list("pk", flat=True))},
        follow=True,
    )
    assert "Re-queued chat deliveries of 1 update(s)." in response.content.decode()
    wait_idle()
    assert ChatDelivery.objects.get().status == "sent"
    assert len(hooks.received("/broken")) >= 2
