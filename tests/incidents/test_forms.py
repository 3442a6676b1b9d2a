"""The help desk's path through the pages: open, find, update, close, reopen."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.models import Incident
from tests.incidents.conftest import counts


def local_input(value) -> str:
    """What a datetime-local input sends: local wall time without an offset."""
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


def new_incident_data(services_, engineer_user, **overrides):
    data = {
        "title": "Checkout returns 502",
        "severity": "1",
        "services": [services_["web"].pk, services_["payments"].pk],
        "description": "Users cannot pay.",
        "engineer": engineer_user.pk,
        "started_at": local_input(timezone.now() - timedelta(hours=2)),
        "external_url": "https://tickets.example.com/browse/OPS-1",
        "extra_recipients": "vendor@example.com; Partner@Example.com\nvendor@example.com",
    }
    data.update(overrides)
    return data


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


@pytest.fixture
def desk(client, helpdesk_user):
    client.force_login(helpdesk_user)
    return client


# --- open ----------------------------------------------------------------------------


def test_the_new_incident_form_asks_for_every_field(desk, services, engineer_user):
    page = desk.get("/incidents/new/").content.decode()
    for name in ("title", "description", "severity", "services", "engineer", "started_at", "external_url"):
        assert f'name="{name}"' in page
    assert 'name="extra_recipients"' in page
    assert "Web Storefront" in page and "Payments" in page
    assert "Eli Ngata" in page  # engineers are offered by name


def test_a_helpdesk_user_opens_an_incident_that_began_two_hours_ago(desk, services, engineer_user, helpdesk_user):
    response = desk.post("/incidents/new/", new_incident_data(services, engineer_user))
    incident = Incident.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/incidents/{incident.ticket}/"
    assert incident.ticket == f"INC-{incident.pk:06d}"
    assert incident.severity == 1 and incident.status == "investigating"
    assert sorted(incident.services.values_list("slug", flat=True)) == ["payments", "web"]
    assert incident.engineer == engineer_user and incident.reported_by == helpdesk_user
    assert incident.external_url == "https://tickets.example.com/browse/OPS-1"
    assert incident.extra_recipients == ["vendor@example.com", "partner@example.com"]
    assert timedelta(hours=1, minutes=58) < timezone.now() - incident.started_at < timedelta(hours=2, minutes=2)
    opened = incident.updates.get()
    assert (opened.kind, opened.author, opened.effective_at) == ("opened", helpdesk_user, incident.started_at)
    page = desk.get(response["Location"])
    assert f"{incident.ticket} opened" in " ".join(messages_of(page))


def test_an_empty_start_time_means_now(desk, services, engineer_user):
    desk.post("/incidents/new/", new_incident_data(services, engineer_user, started_at=""))
    assert timezone.now() - Incident.objects.get().started_at < timedelta(seconds=10)


def test_a_start_time_in_the_future_is_a_form_error_and_nothing_is_written(desk, services, engineer_user):
    before = counts()
    future = local_input(timezone.now() + timedelta(hours=1))
    response = desk.post("/incidents/new/", new_incident_data(services, engineer_user, started_at=future))
    assert response.status_code == 400
    assert response.context["form"].errors["started_at"] == ["The start of impact cannot be in the future."]
    assert "cannot be in the future" in response.content.decode()
    assert counts() == before


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("title", "", "This field is required."),
        ("services", [], "This field is required."),
        ("severity", "9", "Select a valid choice"),
        ("extra_recipients", "vendor@example.com, not-an-address", "'not-an-address' is not a valid email address."),
        ("external_url", "ftp://files.example.com/x", "Enter a valid http(s) link."),
        ("started_at", "yesterday-ish", "Enter a valid date/time."),
    ],
)
def test_bad_input_is_a_400_with_a_form_error_and_nothing_written(desk, services, engineer_user, field, value, error):
    before = counts()
    response = desk.post("/incidents/new/", new_incident_data(services, engineer_user, **{field: value}))
    assert response.status_code == 400
    assert any(error in message for message in response.context["form"].errors[field])
    assert counts() == before


# --- find ----------------------------------------------------------------------------


def test_an_incident_is_found_by_its_ticket_number_however_it_is_typed(desk, incident):
    number = incident.pk
    for typed in (incident.ticket, f"inc-{number}", str(number), f" INC-{number:06d} ", f"inc-{number:06d}"):
        response = desk.get("/incidents/", {"ticket": typed})
        assert response.status_code == 302, typed
        assert response["Location"] == f"/incidents/{incident.ticket}/"


def test_an_unknown_ticket_in_the_search_box_says_so(desk, incident):
    response = desk.get("/incidents/", {"ticket": "INC-999999"}, follow=True)
    assert response.status_code == 200
    assert "No incident has the ticket number INC-999999." in messages_of(response)


def test_an_unknown_ticket_is_a_404_page_that_says_which_ticket(desk, services):
    for path in ("/incidents/INC-999999/", "/incidents/INC-999999/update/", "/incidents/INC-999999/close/"):
        response = desk.get(path)
        assert response.status_code == 404
        page = response.content.decode()
        assert "No incident has the ticket number INC-999999." in page
        assert "Find incident" in page


def test_the_detail_page_is_reachable_with_a_lower_case_ticket(desk, incident):
    response = desk.get(f"/incidents/{incident.ticket.lower()}/")
    assert response.status_code == 200
    assert incident.title in response.content.decode()


# --- update ----------------------------------------------------------------------------


def test_posting_an_update_changes_status_and_severity_and_shows_it_in_the_log(desk, incident, helpdesk_user):
    form = desk.get(f"/incidents/{incident.ticket}/update/")
    assert form.status_code == 200
    assert form.context["form"].initial == {
        "version": 1,
        "status": "investigating",
        "severity": 2,
        "notify": True,
        "visibility": "public",
    }
    response = desk.post(
        f"/incidents/{incident.ticket}/update/",
        {"message": "Root cause found: bad deploy.", "status": "identified", "severity": "1", "version": "1"},
    )
    assert response.status_code == 302
    incident.refresh_from_db()
    assert (incident.status, incident.severity, incident.version) == ("identified", 1, 2)
    update = incident.updates.last()
    assert update.changes == {"status": ["investigating", "identified"], "severity": [2, 1]}
    assert update.author == helpdesk_user
    page = desk.get(f"/incidents/{incident.ticket}/").content.decode()
    assert "Root cause found: bad deploy." in page
    assert "Hana Desk" in page  # who
    assert "investigating → identified" in page  # what changed


def test_an_update_needs_a_message(desk, incident):
    before = counts()
    response = desk.post(
        f"/incidents/{incident.ticket}/update/",
        {"message": "", "status": "identified", "severity": "2", "version": "1"},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["message"] == ["This field is required."]
    assert counts() == before


def test_the_second_of_two_people_saving_from_the_same_version_gets_a_409_and_changes_nothing(
    client, incident, helpdesk_user, engineer_user
):
    from django.test import Client

    hana, eli = Client(), Client()
    hana.force_login(helpdesk_user)
    eli.force_login(engineer_user)
    version_seen_by_hana = hana.get(f"/incidents/{incident.ticket}/update/").context["form"].initial["version"]
    version_seen_by_eli = eli.get(f"/incidents/{incident.ticket}/update/").context["form"].initial["version"]
    first = eli.post(
        f"/incidents/{incident.ticket}/update/",
        {"message": "Rolling back.", "status": "identified", "severity": "2", "version": version_seen_by_eli},
    )
    assert first.status_code == 302
    before = counts()
    second = hana.post(
        f"/incidents/{incident.ticket}/update/",
        {
            "message": "Customers confirm it is fine.",
            "status": "monitoring",
            "severity": "3",
            "version": version_seen_by_hana,
        },
    )
    assert second.status_code == 409
    page = second.content.decode()
    assert "was changed by someone else" in page and "Reload it and apply your change again" in page
    assert counts() == before
    incident.refresh_from_db()
    assert (incident.status, incident.severity, incident.version) == ("identified", 2, 2)


# --- close and reopen ------------------------------------------------------------------------


def test_closing_needs_a_resolution_message(desk, incident):
    before = counts()
    response = desk.post(f"/incidents/{incident.ticket}/close/", {"message": "  ", "version": "1"})
    assert response.status_code == 400
    assert response.context["form"].errors["message"]
    incident.refresh_from_db()
    assert incident.status == "investigating" and incident.resolved_at is None
    assert counts() == before


def test_an_incident_cannot_be_resolved_before_it_started(desk, incident):
    before = counts()
    too_early = local_input(incident.started_at - timedelta(hours=1))
    response = desk.post(
        f"/incidents/{incident.ticket}/close/", {"message": "Fixed.", "resolved_at": too_early, "version": "1"}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["resolved_at"] == ["The incident cannot be resolved before it started."]
    assert counts() == before


def test_closing_with_a_message_resolves_the_incident_at_the_given_time(desk, incident):
    resolved = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=5)
    response = desk.post(
        f"/incidents/{incident.ticket}/close/",
        {"message": "Rolled back the deploy.", "resolved_at": local_input(resolved), "version": "1"},
    )
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.status == "resolved" and incident.resolved_at == resolved
    last = incident.updates.last()
    assert (last.kind, last.message, last.effective_at) == ("resolved", "Rolled back the deploy.", resolved)


def test_a_resolved_incident_takes_no_update_until_it_is_reopened(desk, incident, helpdesk_user):
    from incidents import services as svc

    svc.incident_resolve(incident=incident, message="Fixed.", by=helpdesk_user, notify=False)
    # The update and close forms send the user back to the incident with a note.
    for action in ("update", "close"):
        response = desk.get(f"/incidents/{incident.ticket}/{action}/", follow=True)
        assert f"{incident.ticket} is resolved; reopen it first." in messages_of(response)
    # A post sneaked past the form is refused by the service, nothing written.
    before = counts()
    response = desk.post(
        f"/incidents/{incident.ticket}/update/",
        {"message": "Still broken?", "status": "investigating", "severity": "2", "version": "2"},
    )
    assert response.status_code == 400
    assert "is resolved. Reopen it before posting updates." in response.content.decode()
    assert counts() == before
    # Reopening explicitly makes it take updates again.
    reopen = desk.post(
        f"/incidents/{incident.ticket}/reopen/", {"message": "Errors are back.", "severity": "1", "version": "2"}
    )
    assert reopen.status_code == 302
    incident.refresh_from_db()
    assert (incident.status, incident.severity, incident.resolved_at) == ("investigating", 1, None)
    response = desk.post(
        f"/incidents/{incident.ticket}/update/",
        {"message": "Failing over.", "status": "identified", "severity": "1", "version": str(incident.version)},
    )
    assert response.status_code == 302
    assert list(incident.updates.values_list("kind", flat=True)) == ["opened", "resolved", "reopened", "updated"]


def test_reopening_an_open_incident_is_refused(desk, incident):
    response = desk.get(f"/incidents/{incident.ticket}/reopen/", follow=True)
    assert f"{incident.ticket} is open." in messages_of(response)
    response = desk.post(
        f"/incidents/{incident.ticket}/reopen/", {"message": "Why not", "severity": "2", "version": "1"}
    )
    assert response.status_code == 400
    assert "is not resolved" in response.content.decode()


# --- list ----------------------------------------------------------------------------


def test_the_incident_list_filters_by_service_severity_status_text_and_range(
    desk, open_incident, services, helpdesk_user
):
    from incidents import services as svc

    now = timezone.now()
    web = open_incident(title="Checkout down", severity=1, started_at=now - timedelta(hours=3))
    pay = open_incident(
        title="Card declines", severity=3, services=[services["payments"]], started_at=now - timedelta(days=20)
    )
    svc.incident_resolve(
        incident=pay, message="Fixed", by=helpdesk_user, resolved_at=now - timedelta(days=19), notify=False
    )

    def tickets(**params):
        response = desk.get("/incidents/", params)
        assert response.status_code == 200
        return [i.ticket for i in response.context["page"]]

    assert tickets() == [web.ticket, pay.ticket]
    assert tickets(service="payments") == [pay.ticket]
    assert tickets(severity="1") == [web.ticket]
    assert tickets(status="open") == [web.ticket]
    assert tickets(status="resolved") == [pay.ticket]
    assert tickets(q="card") == [pay.ticket]
    assert tickets(q=web.ticket) == [web.ticket]
    assert tickets(start=local_input(now - timedelta(days=2)), end=local_input(now)) == [web.ticket]
    empty = desk.get("/incidents/", {"q": "nothing like this"})
    assert "No incidents match these filters." in empty.content.decode()


def test_the_incident_list_pages_by_25_with_a_bounded_number_of_queries(
    desk, open_incident, django_assert_max_num_queries
):
    for index in range(30):
        open_incident(title=f"Incident {index}")
    with django_assert_max_num_queries(12):
        first = desk.get("/incidents/")
    assert len(first.context["page"]) == 25
    assert "Page 1 of 2 · 30 incidents" in first.content.decode()
    second = desk.get("/incidents/", {"page": 2})
    assert len(second.context["page"]) == 5


def test_the_list_rendered_for_one_reader_is_shown_to_the_next_within_the_reuse_interval(
    desk, open_incident, leader_user, settings, time_machine
):
    from django.test import Client

    from config import snapshots

    settings.TIMELINE_REUSE_SECONDS = 2
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    first = open_incident(title="Checkout returns 502")
    assert first.ticket in desk.get("/incidents/").content.decode()
    second = open_incident(title="Search is slow")
    # A second later a reader in another web process gets the same list (no second query of
    # it), under a header of their own: a leader may not file incidents.
    time_machine.move_to(start + timedelta(seconds=1), tick=False)
    snapshots.forget(shared=False)
    leader = Client()
    leader.force_login(leader_user)
    soon = leader.get("/incidents/").content.decode()
    assert first.ticket in soon and second.ticket not in soon
    assert "Report incident" not in soon
    assert "Report incident" in desk.get("/incidents/").content.decode()
    # Another query is its own list; past the interval the list is read again.
    assert second.ticket in leader.get("/incidents/", {"q": "slow"}).content.decode()
    time_machine.move_to(start + timedelta(seconds=2.5), tick=False)
    assert second.ticket in leader.get("/incidents/").content.decode()


def test_the_filter_bar_keeps_what_was_chosen_and_names_a_bad_field(desk, incident, services):
    from html.parser import HTMLParser

    class Controls(HTMLParser):
        def __init__(self):
            super().__init__()
            self.values, self.selected, self.invalid, self.select = {}, {}, set(), None

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "input" and a.get("name"):
                self.values[a["name"]] = a.get("value", "")
                if "is-invalid" in a.get("class", ""):
                    self.invalid.add(a["name"])
            elif tag == "select":
                self.select = a["name"]
            elif tag == "option" and "selected" in a:
                self.selected[self.select] = a["value"]

    params = {"q": "card <b>", "service": "payments", "severity": "2", "status": "open", "start": "2026-13-40T99:00"}
    response = desk.get("/incidents/", params)
    assert response.status_code == 400
    page = Controls()
    page.feed(response.content.decode())
    assert page.values["q"] == "card <b>"
    assert page.selected == {"service": "payments", "severity": "2", "status": "open"}
    assert page.invalid == {"start"}
    assert 'id="id_start_error"' in response.content.decode()
    assert "Enter a valid date/time." in response.content.decode()


def test_a_range_that_ends_before_it_starts_is_explained(desk, incident):
    now = timezone.now()
    response = desk.get("/incidents/", {"start": local_input(now), "end": local_input(now - timedelta(days=1))})
    assert response.status_code == 400
    assert "The end of the range must be after its start." in response.content.decode()


def test_pages_show_an_incident_without_engineer_or_author(desk, open_incident):
    """Imported incidents have no engineer and updates without an author; pages must still render."""
    incident = open_incident(engineer=None, by=None)
    detail = desk.get(f"/incidents/{incident.ticket}/")
    assert detail.status_code == 200
    assert "system" in detail.content.decode()
    listing = desk.get("/incidents/")
    assert listing.status_code == 200 and incident.ticket in listing.content.decode()


def test_the_email_of_an_update_without_author_is_signed_by_beacon(open_incident):
    from incidents.notifications import render_update

    incident = open_incident(engineer=None, by=None)
    text = render_update(incident.updates.get())["text"]
    assert "Opened by Beacon at" in text
