"""A new user, in a real browser: subscribes, reads an internal note nobody outside sees, unsubscribes."""

import pytest

from incidents import services as svc
from incidents.models import Subscriber
from tests.conftest import browser_login, save_artifact

pytestmark = pytest.mark.e2e


def test_a_new_user_subscribes_posts_an_internal_note_and_unsubscribes(transactional_db, page, services, helpdesk_user):
    browser_login(page, helpdesk_user)
    page.goto("/subscriptions/")
    page.get_by_label("Payments").check()
    page.get_by_role("button", name="Save subscriptions").click()
    page.wait_for_selector("text=Subscriptions saved: 1 added, 0 removed.")
    assert list(Subscriber.objects.filter(user=helpdesk_user).values_list("service__slug", flat=True)) == ["payments"]
    save_artifact(page, "subscriptions")

    incident = svc.incident_open(
        title="Card errors", severity=2, services=[services["payments"]], by=helpdesk_user, notify=False
    )
    page.goto(f"/incidents/{incident.ticket}/update/")
    page.fill("textarea[name=message]", "Vendor says it is their certificate; keep it quiet.")
    page.get_by_label("Internal note").check()
    page.get_by_role("button", name="Post update").click()
    page.wait_for_url(f"**/incidents/{incident.ticket}/")
    assert page.locator("#update-log .internal-note").count() == 1

    page.goto("/status/")
    assert "Card errors" in page.content()
    assert "certificate" not in page.content()

    page.goto("/subscriptions/")
    page.get_by_label("Payments").uncheck()
    page.get_by_role("button", name="Save subscriptions").click()
    page.wait_for_selector("text=0 added, 1 removed.")
    assert not Subscriber.objects.filter(user=helpdesk_user).exists()
