"""Read APIs for BI tools: executions and ROI, filtered, paginated, as CSV; same numbers as /automation/."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from tests.automation.conftest import make_job, make_run

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def runs():
    deploy = make_job("deploy", '=HYPERLINK("http://evil")', minutes="30", cost="60", tags=["release"])
    backup = make_job("backup", "Backup", minutes="6", cost="100")
    for i in range(7):
        make_run(deploy, started=T0 + timedelta(hours=i), status="succeeded" if i % 3 else "failed")
    make_run(backup, started=T0 + timedelta(days=1), hours="2.5")
    make_run(backup, started=T0 + timedelta(days=40))  # outside the range below
    return deploy, backup


def test_executions_are_filtered_by_time_and_job_and_paged_with_a_cursor(client, leader_user, runs):
    client.force_login(leader_user)
    url = "/api/v1/automation/executions/?start=2025-03-01&end=2025-03-31&page_size=3"
    seen, pages = [], 0
    while url:
        body = client.get(url).json()
        seen += body["results"]
        url, pages = body["next"], pages + 1
    assert pages == 3 and len(seen) == 8
    assert [r["started_at"] for r in seen] == sorted(r["started_at"] for r in seen)
    assert set(seen[0]) >= {"job", "external_id", "status", "started_at", "ended_at", "hours_saved"}
    only = client.get("/api/v1/automation/executions/?job=backup").json()["results"]
    assert [r["hours_saved"] for r in only] == [2.5, 0.1]


def test_roi_matches_the_dashboard_csv(client, leader_user, runs):
    client.force_login(leader_user)
    body = client.get("/api/v1/automation/roi/?start=2025-03-01&end=2025-03-31").json()
    rows = {r["job"]: r for r in body["results"]}
    assert rows["deploy"]["runs"] == 7 and rows["deploy"]["succeeded"] == 4
    assert rows["deploy"]["hours_saved"] == 2.0 and rows["deploy"]["money_saved"] == 120.0
    assert rows["backup"] == {**rows["backup"], "runs": 1, "hours_saved": 2.5, "money_saved": 250.0}
    tagged = client.get("/api/v1/automation/roi/?tag=release").json()["results"]
    assert [r["job"] for r in tagged] == ["deploy"]


def test_csv_columns_are_named_like_the_json_keys_and_formulas_are_neutralised(client, leader_user, runs):
    client.force_login(leader_user)
    response = client.get("/api/v1/automation/roi/?format=csv&start=2025-03-01&end=2025-03-31")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert list(lines[0]) == ["job", "job_name", "runs", "succeeded", "hours_saved", "money_saved"]
    deploy = next(r for r in lines if r["job"] == "deploy")
    assert deploy["job_name"].startswith("'=HYPERLINK")
    assert float(deploy["money_saved"]) == 120.0
    executions = client.get("/api/v1/automation/executions/?format=csv")
    assert len(list(csv.reader(io.StringIO(b"".join(executions.streaming_content).decode())))) == 1 + 9


@pytest.mark.parametrize(
    ("query", "name", "code"),
    [("start=yesterday", "start", 400), ("end=2025-13-01", "end", 400), ("job=nope", "job", 404), ("tag=x", "tag", 404),
     ("start=2025-03-05&end=2025-03-01", "end", 400)],
)  # fmt: skip
def test_bad_filters_name_the_parameter(client, leader_user, runs, query, name, code):
    client.force_login(leader_user)
    for path in ("executions", "roi"):
        response = client.get(f"/api/v1/automation/{path}/?{query}")
        assert response.status_code == code
        assert name in response.json()


def test_the_read_apis_need_a_login(client, outsider):
    assert client.get("/api/v1/automation/roi/").status_code in (401, 403)
    client.force_login(outsider)
    assert client.get("/api/v1/automation/executions/").status_code == 403


def test_the_dashboard_csv_neutralises_formula_cells(client, leader_user, runs):
    client.force_login(leader_user)
    text = client.get("/automation/export.csv?period=custom&start=2025-03-01&end=2025-03-31").content.decode()
    assert "'=HYPERLINK" in text and "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text
