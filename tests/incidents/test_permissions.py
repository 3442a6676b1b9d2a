"""Who may do what, for every incident page and API call.

Anonymous visitors are sent to the login page (pages) or refused (API); a logged-in user
without a group gets 403; leadership reads but cannot write; help desk, engineers and
admins may write. A refused write leaves nothing behind.
"""

import pytest
from rest_framework.test import APIClient

from incidents import services as svc
from tests.conftest import api_key
from tests.incidents.conftest import counts

PERSONAS = ["anonymous", "outsider", "helpdesk_user", "engineer_user", "leader_user", "admin_user"]
READERS = {"helpdesk_user", "engineer_user", "leader_user", "admin_user"}
WRITERS = {"helpdesk_user", "engineer_user", "admin_user"}

# (method, path); {open} / {resolved} are tickets. An empty POST is a form error (400) for
# anyone allowed in, so a 400 proves the permission check was passed and nothing was written.
PAGE_READS = [
    ("get", "/incidents/"),
    ("get", "/incidents/{open}/"),
]
PAGE_WRITES = [
    ("get", "/incidents/new/"),
    ("post", "/incidents/new/"),
    ("get", "/incidents/{open}/update/"),
    ("post", "/incidents/{open}/update/"),
    ("get", "/incidents/{open}/close/"),
    ("post", "/incidents/{open}/close/"),
    ("get", "/incidents/{resolved}/reopen/"),
    ("post", "/incidents/{resolved}/reopen/"),
]
API_READS = [
    ("get", "/api/v1/incidents/"),
    ("get", "/api/v1/incidents/{open}/"),
    ("get", "/api/v1/services/"),
]
API_WRITES = [
    ("post", "/api/v1/incidents/"),
    ("patch", "/api/v1/incidents/{open}/"),
    ("post", "/api/v1/incidents/{open}/updates/"),
    ("post", "/api/v1/incidents/{open}/close/"),
    ("post", "/api/v1/incidents/{resolved}/reopen/"),
]


@pytest.fixture
def tickets(open_incident, helpdesk_user):
    resolved = open_incident(title="Old outage")
    svc.incident_resolve(incident=resolved, message="Fixed", by=helpdesk_user, notify=False)
    return {"open": open_incident().ticket, "resolved": resolved.ticket}


def persona(request, name):
    return None if name == "anonymous" else request.getfixturevalue(name)


@pytest.mark.parametrize("who", PERSONAS)
@pytest.mark.parametrize(("method", "path"), PAGE_READS + PAGE_WRITES)
def test_incident_pages_let_in_exactly_the_right_roles(request, client, tickets, who, method, path):
    user = persona(request, who)
    if user:
        client.force_login(user)
    url = path.format(**tickets)
    before = counts()
    response = getattr(client, method)(url)
    allowed = READERS if (method, path) in PAGE_READS else WRITERS
    if user is None:
        assert response.status_code == 302
        assert response["Location"].startswith(f"/accounts/login/?next={url}")
    elif who in allowed:
        assert response.status_code == (200 if method == "get" else 400)
    else:
        assert response.status_code == 403
        assert "You don't have access to this page" in response.content.decode()
    assert counts() == before


@pytest.mark.parametrize("who", PERSONAS)
@pytest.mark.parametrize(("method", "path"), API_READS + API_WRITES)
def test_incident_api_calls_let_in_exactly_the_right_roles(request, tickets, who, method, path):
    client = APIClient()
    user = persona(request, who)
    if user:
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_key(user)}")
    before = counts()
    response = getattr(client, method)(path.format(**tickets), {}, format="json")
    allowed = READERS if (method, path) in API_READS else WRITERS
    if user is None:
        assert response.status_code in (401, 403)
        assert response.json()["detail"] == "Authentication credentials were not provided."
    elif who in allowed:
        # An empty PATCH is a valid no-op; every other empty write is a 400.
        assert response.status_code == (200 if method in ("get", "patch") else 400)
    else:
        assert response.status_code == 403
        assert "role" in response.json()["detail"]
    assert counts() == before


def test_a_wrong_token_is_refused(tickets):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = client.get("/api/v1/incidents/")
    assert response.status_code in (401, 403)
    assert response.json()["detail"] == "Invalid token."


def test_healthz_is_open_to_everyone(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_leadership_sees_no_buttons_that_would_403(client, leader_user, tickets):
    client.force_login(leader_user)
    page = client.get(f"/incidents/{tickets['open']}/").content.decode()
    assert "Post update" not in page and "Report incident" not in page
    page = client.get(f"/incidents/{tickets['resolved']}/").content.decode()
    assert "Reopen" not in page


def test_the_help_desk_sees_the_buttons_it_may_use(client, helpdesk_user, tickets):
    client.force_login(helpdesk_user)
    page = client.get(f"/incidents/{tickets['open']}/").content.decode()
    assert "Post update" in page and "Report incident" in page and "Close" in page
