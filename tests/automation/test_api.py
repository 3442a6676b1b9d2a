"""`POST /api/v1/automation/executions/`: push, idempotence, all-or-nothing bad input, permissions."""

import pytest
from rest_framework.test import APIClient

from automation.models import Execution
from tests.conftest import api_key

from .conftest import make_job

pytestmark = pytest.mark.django_db
URL = "/api/v1/automation/executions/"


def row(external_id="rd-1", job="job-1", **changes):
    data = {
        "job": job,
        "external_id": external_id,
        "status": "succeeded",
        "started_at": "2024-05-02T10:00:00+02:00",
        "ended_at": "2024-05-02T10:03:30+02:00",
    }
    return data | changes


@pytest.fixture
def api(engineer_user):
    make_job("job-1", "Restart web workers")
    client = APIClient()
    client.force_authenticate(engineer_user)
    return client


def test_a_job_step_pushes_one_execution(api):
    response = api.post(URL, row(hours_saved="1.25"), format="json")
    assert response.status_code == 201, response.json()
    assert response.json() == {"created": 1, "updated": 0}
    execution = Execution.objects.get()
    assert execution.job.external_id == "job-1" and execution.source == "pushed"
    assert execution.started_at.isoformat() == "2024-05-02T08:00:00+00:00"  # stored in UTC
    assert execution.duration_seconds == 210 and str(execution.hours_saved) == "1.2500"


def test_a_list_is_stored_and_sending_it_again_changes_nothing(api):
    batch = [row("rd-1"), row("rd-2", status="failed"), row("rd-3", hours_saved=None)]
    assert api.post(URL, batch, format="json").json() == {"created": 3, "updated": 0}
    again = api.post(URL, batch, format="json")
    assert again.status_code == 200 and again.json() == {"created": 0, "updated": 3}
    assert Execution.objects.count() == 3


def test_sending_an_execution_again_updates_it_instead_of_adding_one(api):
    api.post(URL, row("rd-1", status="failed"), format="json")
    api.post(URL, row("rd-1", status="succeeded", hours_saved="0.5"), format="json")
    execution = Execution.objects.get()
    assert execution.status == "succeeded" and str(execution.hours_saved) == "0.5000"


def test_bad_rows_reject_the_whole_batch_name_each_row_and_write_nothing(api):
    batch = [
        row("ok-1"),
        row("bad-job", job="no-such-job"),
        row("bad-times", started_at="2024-05-02T10:00:00Z", ended_at="2024-05-02T09:00:00Z"),
        row("bad-hours", hours_saved="-2"),
        row("ok-2"),
    ]
    response = api.post(URL, batch, format="json")
    assert response.status_code == 400
    body = response.json()
    assert "Nothing was saved" in body["detail"]
    errors = {row["index"]: row["errors"] for row in body["rows"]}
    assert set(errors) == {1, 2, 3}
    assert body["rows"][0]["key"] == "bad-job" and "no-such-job" in errors[1]["job"][0]
    assert errors[2]["ended_at"] == ["The execution cannot end before it started."]
    assert errors[3]["hours_saved"] == ["Hours saved cannot be negative."]
    assert Execution.objects.count() == 0


def test_malformed_rows_are_named_too(api):
    response = api.post(URL, [row("ok"), row("no-date", started_at="yesterday"), {"job": "job-1"}], format="json")
    assert response.status_code == 400
    errors = {row["index"]: row["errors"] for row in response.json()["rows"]}
    assert set(errors) == {1, 2}
    assert "started_at" in errors[1] and {"external_id", "status", "started_at"} <= set(errors[2])
    assert Execution.objects.count() == 0


def test_an_id_twice_in_one_batch_is_refused(api):
    response = api.post(URL, [row("rd-1"), row("rd-1")], format="json")
    assert response.status_code == 400
    assert "appears twice" in response.json()["rows"][0]["errors"]["external_id"][0]


def test_an_execution_ending_in_the_future_is_refused(api):
    response = api.post(URL, row(started_at="2999-01-01T00:00:00Z", ended_at="2999-01-01T00:10:00Z"), format="json")
    assert response.status_code == 400 and "future" in response.json()["rows"][0]["errors"]["ended_at"][0]


@pytest.mark.parametrize("payload", [[], "text", [1, 2]])
def test_a_body_that_is_not_executions_is_refused(api, payload):
    assert api.post(URL, payload, format="json").status_code == 400


def test_anonymous_callers_are_refused(db):
    assert APIClient().post(URL, row(), format="json").status_code in (401, 403)


@pytest.mark.parametrize("persona", ["outsider", "helpdesk_user", "leader_user"])
def test_only_engineers_may_push_executions(request, persona):
    make_job("job-1")
    client = APIClient()
    client.force_authenticate(request.getfixturevalue(persona))
    assert client.post(URL, row(), format="json").status_code == 403
    assert Execution.objects.count() == 0


def test_an_api_token_works_for_a_job_step(engineer_user):

    make_job("job-1")
    token_key = api_key(engineer_user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_key}")
    assert client.post(URL, row(), format="json").status_code == 201


def test_the_endpoint_takes_posts_and_reads_but_nothing_else(api):
    # GET became the read API for BI tools (DESIGN section 12); other methods stay refused.
    assert api.get(URL).status_code == 200
    assert api.put(URL, [], format="json").status_code == 405
    assert api.delete(URL).status_code == 405
