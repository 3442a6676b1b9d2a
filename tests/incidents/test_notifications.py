from incidents import services as svc
from incidents.models import Delivery
from tests.conftest import wait_until


def test_opening_an_incident_emails_every_affected_party_once(worker, mailbox, services, helpdesk_user, engineer_user):
    incident = svc.incident_open(
        title="Checkout down",
        severity=1,
        services=[services["web"]],
        engineer=engineer_user,
        extra_recipients=["vendor@example.com"],
        message="Checkout returns 502",
        by=helpdesk_user,
    )
    expected = {"oncall-web@example.com", "support-web@example.com", "vendor@example.com", "eli@example.com"}
    messages = mailbox.wait_for(len(expected))
    assert set(mailbox.recipients()) == expected
    _, message = messages[0]
    assert incident.ticket in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Checkout returns 502" in text and "Web Storefront" in text
    assert f"http://beacon.test/incidents/{incident.ticket}/" in html
    wait_until(lambda: Delivery.objects.filter(status="sent").count() == 4, message="deliveries marked sent")
