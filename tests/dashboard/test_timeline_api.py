"""GET /api/v1/timeline/: exactly the incidents overlapping the range, in a fixed number of queries."""

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import api_key

pytestmark = pytest.mark.django_db

FIELDS = {
    "ticket",
    "title",
    "severity",
    "status",
    "services",
    "engineer",
    "started_at",
    "resolved_at",
    "description",
    "url",
    "external_url",
}


def timeline(client, **params):
    return client.get(
        "/api/v1/timeline/?"
        + urlencode({k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in params.items()})
    )


def tickets(response):
    assert response.status_code == 200, response.content
    return {row["ticket"] for row in response.json()["results"]}


@pytest.fixture
def window(now):
    """A 10-day range ending 20 days ago, so every edge lies in the past."""
    end = now - timedelta(days=20)
    return end - timedelta(days=10), end


def test_the_timeline_returns_exactly_the_incidents_overlapping_the_range(client, engineer_user, make_incident, window):
    start, end = window
    h = timedelta(hours=1)
    inside = make_incident(started_at=start + h, resolved_at=start + 2 * h)
    spanning = make_incident(started_at=start - 5 * h, resolved_at=end + 5 * h)
    ending_at_start = make_incident(started_at=start - 3 * h, resolved_at=start)
    ending_before_start = make_incident(started_at=start - 3 * h, resolved_at=start - timedelta(seconds=1))
    starting_at_end = make_incident(started_at=end, resolved_at=end + h)
    starting_before_end = make_incident(started_at=end - timedelta(seconds=1), resolved_at=end + h)
    ongoing_from_before = make_incident(started_at=start - 48 * h)
    ongoing_from_after = make_incident(started_at=end + h)
    client.force_login(engineer_user)

    found = tickets(timeline(client, start=start, end=end))

    assert found == {
        inside.ticket,
        spanning.ticket,
        ending_at_start.ticket,  # resolved at the start is not "resolved before the start"
        starting_before_end.ticket,
        ongoing_from_before.ticket,
    }
    assert ending_before_start.ticket not in found
    assert starting_at_end.ticket not in found
    assert ongoing_from_after.ticket not in found


def test_each_timeline_row_has_exactly_the_documented_fields(client, leader_user, engineer_user, make_incident, now):
    incident = make_incident(
        started_at=now - timedelta(hours=5),
        resolved_at=now - timedelta(hours=4),
        on=("web", "payments"),
        engineer=engineer_user,
        description="Checkout failed",
        severity=2,
    )
    ongoing = make_incident(started_at=now - timedelta(hours=1), severity=1)
    client.force_login(leader_user)

    body = timeline(client).json()

    assert body["count"] == 2 and body["truncated"] is False
    rows = {row["ticket"]: row for row in body["results"]}
    assert all(set(row) == FIELDS for row in rows.values())
    row = rows[incident.ticket]
    assert row["services"] == ["payments", "web"]  # slugs, ordered by service name
    assert row["engineer"] == "eli"
    assert row["severity"] == 2 and row["status"] == "resolved"
    assert row["description"] == "Checkout failed"
    assert row["url"] == f"http://testserver/incidents/{incident.ticket}/"
    assert row["started_at"].endswith("Z") and row["resolved_at"].endswith("Z")
    assert rows[ongoing.ticket]["resolved_at"] is None and rows[ongoing.ticket]["engineer"] is None
    # Newest first.
    assert [r["ticket"] for r in body["results"]] == [ongoing.ticket, incident.ticket]


def test_the_default_range_is_the_last_seven_days(client, helpdesk_user, make_incident, now):
    recent = make_incident(started_at=now - timedelta(days=6), resolved_at=now - timedelta(days=6, hours=-1))
    make_incident(started_at=now - timedelta(days=9), resolved_at=now - timedelta(days=8))
    client.force_login(helpdesk_user)

    assert tickets(timeline(client)) == {recent.ticket}


def test_filters_narrow_the_timeline(client, engineer_user, make_incident, now):
    a = make_incident(started_at=now - timedelta(hours=9), severity=1, on=("payments",), title="Card declines")
    b = make_incident(started_at=now - timedelta(hours=8), resolved_at=now - timedelta(hours=7), severity=3)
    client.force_login(engineer_user)

    assert tickets(timeline(client, service="payments")) == {a.ticket}
    assert tickets(timeline(client, severity=3)) == {b.ticket}
    assert tickets(timeline(client, status="open")) == {a.ticket}
    assert tickets(timeline(client, status="resolved")) == {b.ticket}
    assert tickets(timeline(client, q="card")) == {a.ticket}
    assert tickets(timeline(client, q=b.ticket)) == {b.ticket}


@pytest.mark.parametrize(
    "params, field",
    [
        ({"start": "yesterday"}, "start"),
        ({"end": "2024-13-45T00:00:00Z"}, "end"),
        ({"start": "2024-02-01T00:00:00Z", "end": "2024-01-01T00:00:00Z"}, "end"),
        ({"start": "2020-01-01T00:00:00Z", "end": "2024-01-01T00:00:00Z"}, "end"),  # too long a range
        ({"severity": "7"}, "severity"),
        ({"status": "sleeping"}, "status"),
    ],
)
def test_bad_parameters_get_a_400_naming_the_field(client, engineer_user, params, field):
    client.force_login(engineer_user)

    response = client.get("/api/v1/timeline/?" + urlencode(params))

    assert response.status_code == 400
    assert field in response.json()


def test_a_range_holding_more_incidents_than_the_cap_says_so(client, engineer_user, make_incident, now, settings):
    settings.TIMELINE_MAX_ROWS = 2
    made = [make_incident(started_at=now - timedelta(hours=h)) for h in (1, 2, 3)]
    client.force_login(engineer_user)

    body = timeline(client).json()

    assert body["truncated"] is True and body["count"] == 2
    assert [r["ticket"] for r in body["results"]] == [made[0].ticket, made[1].ticket]


def test_the_timeline_query_count_does_not_grow_with_the_number_of_incidents(
    client, engineer_user, leader_user, make_incident, now
):
    client.force_login(leader_user)
    make_incident(started_at=now - timedelta(hours=2), engineer=engineer_user)
    client.get("/api/v1/timeline/")  # warm the session and role caches
    with CaptureQueriesContext(connection) as few:
        assert timeline(client).status_code == 200
    for hours in range(3, 30):
        make_incident(started_at=now - timedelta(hours=hours), on=("web", "payments"), engineer=engineer_user)
    with CaptureQueriesContext(connection) as many:
        body = timeline(client).json()

    assert body["count"] == 28
    assert len(many) == len(few) <= 10


# --- permissions -------------------------------------------------------------------


def test_anonymous_callers_are_refused(client):
    assert client.get("/api/v1/timeline/").status_code in (401, 403)


def test_a_user_without_a_role_gets_403(client, outsider):
    client.force_login(outsider)
    assert client.get("/api/v1/timeline/").status_code == 403


@pytest.mark.parametrize("persona", ["helpdesk_user", "engineer_user", "leader_user"])
def test_every_role_may_read_the_timeline(client, request, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get("/api/v1/timeline/").status_code == 200


def test_scripts_read_the_timeline_with_a_token(client, engineer_user):
    token_key = api_key(engineer_user)
    response = client.get("/api/v1/timeline/", HTTP_AUTHORIZATION=f"Token {token_key}")
    assert response.status_code == 200
