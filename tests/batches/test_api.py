from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from batches.models import BatchRun, Client
from tests.conftest import _user, api_key

from .conftest import NOW, daily_history, run_row

URL = "/api/v1/batch-runs/"
START = NOW - timedelta(hours=3)


def single_row_errors(response) -> dict:
    """The messages per field of a single posted run, in the shared bulk error shape."""
    body = response.json()
    assert response.status_code == 400 and body["detail"].startswith("Nothing was saved"), body
    [row] = body["rows"]
    assert row["index"] == 0
    return row["errors"]


def api(user=None):
    client = APIClient()
    if user:
        client.force_authenticate(user)
    return client


def good(**extra):
    return run_row("acme", START, 42, records_processed=1200, **extra)


# --- permissions ----------------------------------------------------------------------------------


def test_anonymous_callers_are_refused(db):
    response = api().post(URL, good(), format="json")
    assert response.status_code in (401, 403)
    assert not BatchRun.objects.exists()


def test_users_without_a_role_are_forbidden(outsider):
    assert api(outsider).post(URL, good(), format="json").status_code == 403


def test_leadership_may_read_but_not_push_runs(leader_user):
    assert api(leader_user).post(URL, good(), format="json").status_code == 403
    assert not BatchRun.objects.exists()


@pytest.mark.parametrize("persona", ["engineer_user", "helpdesk_user", "admin_user"])
def test_engineers_helpdesk_and_admins_may_push_runs(persona, request):
    user = request.getfixturevalue(persona)
    assert api(user).post(URL, good(), format="json").status_code == 201


def test_a_staff_service_account_may_push_runs_with_a_token(db):
    robot = _user("batch-robot", is_staff=True)
    token_key = api_key(robot)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_key}")
    assert client.post(URL, good(), format="json").status_code == 201


# --- ingest -----------------------------------------------------------------------------------------


def test_one_run_is_recorded_with_its_duration_and_registers_the_client(engineer_user):
    response = api(engineer_user).post(URL, good(instance_size="m5.large", average_daily_volume="50000"), format="json")
    assert response.status_code == 201
    assert response.json() == {"created": 1, "updated": 0, "unchanged": 0}
    run = BatchRun.objects.get()
    assert run.duration == timedelta(minutes=42) and run.records_processed == 1200
    assert run.run_date == START.date()
    client = Client.objects.get(slug="acme")
    assert (client.instance_size, client.average_daily_volume) == ("m5.large", 50000)
    assert client.latest_run == run


def test_a_list_of_runs_is_recorded_and_the_baseline_kept(engineer_user):
    rows = daily_history("acme", [30, 30, 60, 90], last=START)
    response = api(engineer_user).post(URL, rows, format="json")
    assert response.status_code == 201 and response.json()["created"] == 4
    client = Client.objects.get(slug="acme")
    assert client.latest_run.run_id == f"{START:%Y%m%d}"
    assert client.baseline_runs == 3 and client.baseline_mean_seconds == pytest.approx(40 * 60)


def test_sending_the_same_runs_again_changes_nothing(engineer_user):
    rows = daily_history("acme", [30, 31, 32], last=START)
    api(engineer_user).post(URL, rows, format="json")
    response = api(engineer_user).post(URL, rows, format="json")
    assert response.status_code == 200
    assert response.json() == {"created": 0, "updated": 0, "unchanged": 3}
    assert BatchRun.objects.count() == 3


def test_a_running_run_is_completed_by_sending_it_again(engineer_user):
    api(engineer_user).post(URL, run_row("acme", START, 0, status="running", run_id="r1"), format="json")
    assert BatchRun.objects.get().duration is None
    response = api(engineer_user).post(URL, run_row("acme", START, 12, run_id="r1"), format="json")
    assert response.json() == {"created": 0, "updated": 1, "unchanged": 0}
    run = BatchRun.objects.get()
    assert run.status == "succeeded" and run.duration == timedelta(minutes=12)


def test_duration_seconds_may_stand_in_for_finished_at(engineer_user):
    row = {"client": "acme", "run_id": "x", "started_at": START.isoformat(), "status": "failed", "duration_seconds": 90}
    assert api(engineer_user).post(URL, row, format="json").status_code == 201
    assert BatchRun.objects.get().finished_at == START + timedelta(seconds=90)


# --- bad input ------------------------------------------------------------------------------------------


def test_a_bad_single_run_gets_a_message_per_field(engineer_user):
    row = {"client": "acme", "started_at": START.isoformat(), "status": "exploded", "finished_at": "yesterday"}
    response = api(engineer_user).post(URL, row, format="json")
    assert response.status_code == 400
    body = single_row_errors(response)
    assert body["run_id"] == ["This field is required."]
    assert "Unknown status 'exploded'" in body["status"][0]
    assert "not a date and time" in body["finished_at"][0]
    assert not Client.objects.exists()


def test_a_run_cannot_finish_before_it_starts(engineer_user):
    row = good(finished_at=(START - timedelta(minutes=1)).isoformat())
    response = api(engineer_user).post(URL, row, format="json")
    assert response.status_code == 400
    assert single_row_errors(response)["finished_at"] == ["The run cannot finish before it started."]


def test_times_without_a_time_zone_are_refused(engineer_user):
    row = good(started_at="2025-03-20T09:00:00")
    response = api(engineer_user).post(URL, row, format="json")
    assert response.status_code == 400 and "time zone" in single_row_errors(response)["started_at"][0]


def test_a_finished_run_needs_its_end_and_a_running_one_has_none(engineer_user):
    no_end = {"client": "acme", "run_id": "1", "started_at": START.isoformat(), "status": "succeeded"}
    assert (
        "needs finished_at" in single_row_errors(api(engineer_user).post(URL, no_end, format="json"))["finished_at"][0]
    )
    running = good(status="running", finished_at=NOW.isoformat())
    assert single_row_errors(api(engineer_user).post(URL, running, format="json"))["finished_at"] == [
        "A running run has no finished_at yet."
    ]


def test_one_bad_row_rejects_the_whole_batch_with_errors_by_position(engineer_user):
    rows = daily_history("acme", [30, 31, 32, 33], last=START)
    rows[1]["status"] = "maybe"
    del rows[3]["started_at"]
    response = api(engineer_user).post(URL, rows, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Nothing was saved: 2 of 4 rows are invalid."
    assert [(row["index"], list(row["errors"])) for row in body["rows"]] == [(1, ["status"]), (3, ["started_at"])]
    assert body["rows"][0]["key"] == rows[1]["run_id"]
    assert not BatchRun.objects.exists() and not Client.objects.exists()


@pytest.mark.parametrize("body", [[], "runs", 42, ["not an object"]])
def test_a_body_that_is_not_runs_is_refused(engineer_user, body):
    response = api(engineer_user).post(URL, body, format="json")
    assert response.status_code == 400
    assert not BatchRun.objects.exists()


def test_too_many_rows_in_one_call_are_refused(engineer_user, settings):
    settings.BATCH_API_MAX_ROWS = 2
    response = api(engineer_user).post(URL, daily_history("acme", [1, 2, 3], last=START), format="json")
    assert response.status_code == 400 and "At most 2 runs" in response.json()["detail"]


def test_a_bad_client_slug_is_refused(engineer_user):
    response = api(engineer_user).post(URL, run_row("Acme Retail!", START, 3), format="json")
    assert response.status_code == 400 and "client slug" in single_row_errors(response)["client"][0]
