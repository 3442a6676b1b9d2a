"""A help-desk person files, finds, updates and closes an incident in a real browser."""

import re

import pytest

from incidents.models import Delivery, Incident
from tests.conftest import browser_login, save_artifact, wait_until

pytestmark = pytest.mark.e2e

PARTIES = ["eli@example.com", "oncall-web@example.com", "support-web@example.com", "vendor@example.com"]


def test_the_help_desk_files_updates_and_closes_an_incident_and_everyone_is_emailed(
    page, worker, mailbox, services, helpdesk_user, engineer_user
):
    browser_login(page, helpdesk_user)

    # File it from the navbar button.
    page.get_by_role("link", name="Report incident").first.click()
    page.wait_for_url("**/incidents/new/")
    page.fill("#id_title", "Checkout returns 502")
    page.select_option("#id_severity", "1")
    page.get_by_label("Web Storefront").check()
    page.fill("#id_description", "Card payments fail at the last step.")
    page.select_option("#id_engineer", label="Eli Ngata")
    page.fill("#id_external_url", "https://tickets.example.com/browse/OPS-42")
    page.fill("#id_extra_recipients", "vendor@example.com")
    save_artifact(page, "incident-flow-1-new")
    page.get_by_role("button", name="Open incident").click()
    page.wait_for_url(re.compile(r"/incidents/INC-\d{6}/$"))
    incident = Incident.objects.get()
    assert page.get_by_text(f"{incident.ticket} opened").is_visible()

    # Find it again by the bare number, as someone reading it out on the phone would.
    page.goto("/")
    search = page.get_by_placeholder("Ticket, e.g. INC-000042")
    search.fill(str(incident.pk))
    search.press("Enter")
    page.wait_for_url(f"**/incidents/{incident.ticket}/")
    assert page.locator("h1").inner_text() == "Checkout returns 502"

    # Post an update.
    page.get_by_role("link", name="Post update").click()
    page.fill("#id_message", "Bad release identified; rolling back.")
    page.select_option("#id_status", "identified")
    page.get_by_role("button", name="Post update").click()
    page.wait_for_url(f"**/incidents/{incident.ticket}/")
    assert page.get_by_text("Bad release identified; rolling back.").is_visible()

    # Close it with a resolution message.
    page.get_by_role("link", name="Close").click()
    page.fill("#id_message", "Rollback complete; checkout works again.")
    page.get_by_role("button", name="Close incident").click()
    page.wait_for_url(f"**/incidents/{incident.ticket}/")
    assert page.locator(".badge", has_text="Resolved").first.is_visible()
    log = page.locator("#update-log").inner_text()
    assert "Opened" in log and "Updated" in log and "Resolved" in log
    save_artifact(page, "incident-flow-2-closed")

    # Every affected party got three emails: opened, updated, resolved.
    mailbox.wait_for(12)
    wait_until(lambda: Delivery.objects.filter(status="sent").count() == 12, message="all deliveries sent")
    assert sorted(mailbox.recipients()) == sorted(PARTIES * 3)
    # One subject for the whole incident, so mail clients thread it; the status opens each body.
    assert {m["Subject"].strip() for _, m in mailbox.messages} == {f"[{incident.ticket}] Checkout returns 502"}
    bodies = [m.get_body(preferencelist=("plain",)).get_content() for _, m in mailbox.messages]
    for status in ("Investigating", "Identified", "Resolved"):
        assert sum(status in body.split("\n", 3)[0] + body.split("\n", 3)[1] for body in bodies) >= 4, status
