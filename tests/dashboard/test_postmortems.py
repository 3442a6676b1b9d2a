"""/incidents/<ticket>/postmortem/: engineers write, other roles read, nothing half-written."""

from datetime import date, timedelta

import pytest

from incidents.models import ActionItem, Postmortem
from incidents.postmortems import ActionItemInput, postmortem_save

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(make_incident, now, engineer_user):
    return make_incident(
        started_at=now - timedelta(days=3),
        resolved_at=now - timedelta(days=3) + timedelta(hours=2),
        severity=1,
        title="Database failover during peak",
        engineer=engineer_user,
    )


def url(incident):
    return f"/incidents/{incident.ticket}/postmortem/"


def form_data(*, version="", items=(), initial_items=0, **text):
    data = {
        "summary": "The primary disk filled up and the database failed over.",
        "impact": "Checkout failed for 2 hours.",
        "root_cause": "A runaway log table.",
        "lessons": "Alert on disk usage.",
        "version": version,
        "items-TOTAL_FORMS": str(len(items)),
        "items-INITIAL_FORMS": str(initial_items),
        "items-MIN_NUM_FORMS": "0",
        "items-MAX_NUM_FORMS": "100",
        **text,
    }
    for index, item in enumerate(items):
        for key, value in item.items():
            data[f"items-{index}-{key}"] = value
    return data


def test_an_engineer_writes_a_postmortem_with_action_items(client, engineer_user, leader_user, incident):
    client.force_login(engineer_user)
    assert 'id="postmortem-form"' in client.get(url(incident)).content.decode()

    response = client.post(
        url(incident),
        form_data(
            items=[
                {"title": "Alert on disk usage above 80 %", "owner": str(leader_user.pk), "due_date": "2030-01-31"},
                {"title": "Rotate the log table daily", "done": "on"},
                {"title": ""},  # a blank extra row is ignored
            ]
        ),
    )

    assert response.status_code == 302 and response.url == url(incident)
    postmortem = Postmortem.objects.get(incident=incident)
    assert postmortem.summary.startswith("The primary disk filled up")
    assert postmortem.root_cause == "A runaway log table." and postmortem.author == engineer_user
    items = {i.title: i for i in postmortem.action_items.all()}
    assert set(items) == {"Alert on disk usage above 80 %", "Rotate the log table daily"}
    assert items["Alert on disk usage above 80 %"].owner == leader_user
    assert items["Alert on disk usage above 80 %"].due_date == date(2030, 1, 31)
    assert items["Rotate the log table daily"].done and items["Rotate the log table daily"].done_at is not None


def test_editing_changes_ticks_off_and_removes_action_items(client, engineer_user, incident):
    postmortem = postmortem_save(
        incident=incident,
        by=engineer_user,
        summary="First draft.",
        action_items=[ActionItemInput(title="Keep me"), ActionItemInput(title="Drop me")],
    )
    keep, drop = postmortem.action_items.order_by("id")
    client.force_login(engineer_user)
    page = client.get(url(incident)).content.decode()
    assert 'value="Keep me"' in page and 'value="First draft."' not in page and "First draft." in page

    response = client.post(
        url(incident),
        form_data(
            version=str(postmortem.version),
            initial_items=2,
            items=[
                {"id": str(keep.pk), "title": "Keep me, renamed", "done": "on"},
                {"id": str(drop.pk), "title": "Drop me", "DELETE": "on"},
                {"title": "A new one"},
            ],
        ),
    )

    assert response.status_code == 302
    titles = {i.title: i.done for i in ActionItem.objects.filter(postmortem=postmortem)}
    assert titles == {"Keep me, renamed": True, "A new one": False}
    postmortem.refresh_from_db()
    assert postmortem.version == 2


def test_a_postmortem_needs_a_summary_and_nothing_is_written_without_one(client, engineer_user, incident):
    client.force_login(engineer_user)

    response = client.post(url(incident), form_data(summary="  ", items=[{"title": "Orphan item"}]))

    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert not Postmortem.objects.exists() and not ActionItem.objects.exists()


def test_an_action_item_with_an_owner_but_no_title_is_refused(client, engineer_user, incident):
    client.force_login(engineer_user)

    response = client.post(url(incident), form_data(items=[{"title": "", "owner": str(engineer_user.pk)}]))

    assert response.status_code == 400
    assert "Give the action item a title." in response.content.decode()
    assert not Postmortem.objects.exists()


def test_two_engineers_saving_at_once_cannot_overwrite_each_other(client, engineer_user, incident):
    postmortem = postmortem_save(incident=incident, by=engineer_user, summary="Version one.")
    postmortem_save(incident=incident, by=engineer_user, summary="Someone else's version two.", expected_version=1)
    client.force_login(engineer_user)

    response = client.post(url(incident), form_data(version=str(postmortem.version), summary="My stale edit."))

    assert response.status_code == 409
    assert "saved by someone else" in response.content.decode()
    assert Postmortem.objects.get().summary == "Someone else's version two."


def test_an_unknown_ticket_is_a_404(client, engineer_user, services):
    client.force_login(engineer_user)
    assert client.get("/incidents/INC-999999/postmortem/").status_code == 404


def test_the_incident_page_links_to_its_postmortem(client, engineer_user, incident):
    client.force_login(engineer_user)
    assert (
        f'href="/incidents/{incident.ticket}/postmortem/"'
        in client.get(f"/incidents/{incident.ticket}/").content.decode()
    )


# --- permissions -------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page(client, incident):
    for response in (client.get(url(incident)), client.post(url(incident), form_data())):
        assert response.status_code == 302 and response.url.startswith("/accounts/login/")
    assert not Postmortem.objects.exists()


def test_a_user_without_a_role_gets_403(client, outsider, incident):
    client.force_login(outsider)
    assert client.get(url(incident)).status_code == 403
    assert client.post(url(incident), form_data()).status_code == 403


@pytest.mark.parametrize("persona", ["helpdesk_user", "leader_user"])
def test_helpdesk_and_leadership_read_but_cannot_write(client, request, persona, engineer_user, incident):
    postmortem_save(
        incident=incident,
        by=engineer_user,
        summary="Disk full.",
        action_items=[ActionItemInput(title="Alert on disk usage", owner=engineer_user)],
    )
    client.force_login(request.getfixturevalue(persona))

    page = client.get(url(incident))
    refused = client.post(url(incident), form_data(summary="Vandalised"))

    assert page.status_code == 200
    html = page.content.decode()
    assert "Disk full." in html and "Alert on disk usage" in html and "Eli Ngata" in html
    assert 'id="postmortem-form"' not in html
    assert refused.status_code == 403
    assert Postmortem.objects.get().summary == "Disk full."


def test_a_reader_is_told_when_no_postmortem_exists_yet(client, leader_user, incident):
    client.force_login(leader_user)
    assert "No postmortem has been written" in client.get(url(incident)).content.decode()
