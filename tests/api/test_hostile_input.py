"""The inputs an attacker tried: each is a JSON 400 (or 404/413) naming the problem, nothing written.

Complements the schemathesis run with the exact cases found by hand, so they stay fixed.
"""

import json

import pytest
from django.test import Client

from automation.models import AutomationJob as Job
from automation.models import Execution
from batches.models import BatchRun
from config.api import JSON_MAX_DEPTH, http_url
from incidents.models import Incident
from metrics.models import MetricSample
from tests.conftest import login
from tests.metrics.conftest import make_series, make_source


@pytest.fixture
def api(client, engineer_user):
    return login(client, engineer_user)


def post(client, url, body: str):
    return client.post(url, body, content_type="application/json")


def run_row(**extra):
    row = {
        "client": "acme",
        "run_id": "r1",
        "started_at": "2025-03-01T02:00:00+00:00",
        "status": "succeeded",
        "duration_seconds": 60,
    }
    row.update(extra)
    return row


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_durations_are_a_400(api, number):
    body = json.dumps(run_row()).replace('"duration_seconds": 60', f'"duration_seconds": {number}')
    response = post(api, "/api/v1/batch-runs/", body)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert not BatchRun.objects.exists()


def test_a_duration_given_as_the_text_nan_is_named(api):
    response = post(api, "/api/v1/batch-runs/", json.dumps(run_row(duration_seconds="nan")))
    assert response.status_code == 400
    assert "duration_seconds" in response.json()["rows"][0]["errors"]


@pytest.mark.parametrize(
    "when",
    ["2025-03-01T02:00:00+16:00", "2025-03-01T02:00:00-23:59", "0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59Z"],
)
def test_offsets_postgresql_cannot_store_and_years_at_the_edges_are_a_400(api, services, when):
    body = {"title": "Checkout down", "severity": 2, "services": ["web"], "message": "x", "started_at": when}
    response = post(api, "/api/v1/incidents/", json.dumps(body))
    assert response.status_code == 400, response.content
    assert "started_at" in response.json()
    assert not Incident.objects.exists()


def test_a_metric_sample_at_year_one_is_refused(api, db):
    make_series(make_source(), key="web-5xx", label="Web 5xx", role="http_5xx", unit="")
    rows = [{"series": "web-5xx", "ts": "0001-01-01T00:00:00Z", "value": 1}]
    response = post(api, "/api/v1/metrics/samples/", json.dumps(rows))
    assert response.status_code == 400
    assert response.json()["rows"][0]["errors"]["ts"]
    assert not MetricSample.objects.exists()


@pytest.mark.parametrize("text", ['"x\\u0000y"', '"\\ud800"', '"\\udfff tail"'])
def test_nul_and_lone_surrogates_are_a_400(api, services, text):
    body = f'{{"title": {text}, "severity": 2, "services": ["web"], "message": "x"}}'
    response = post(api, "/api/v1/incidents/", body)
    assert response.status_code == 400
    assert "detail" in response.json()
    assert not Incident.objects.exists()


def test_integers_larger_than_any_column_are_a_400(api, services):
    body = '{"title": "t", "severity": 99999999999999999999999, "services": ["web"], "message": "x"}'
    assert post(api, "/api/v1/incidents/", body).status_code == 400
    big = run_row(records_processed=2**63)
    assert post(api, "/api/v1/batch-runs/", json.dumps(big)).status_code == 400
    assert not Incident.objects.exists() and not BatchRun.objects.exists()


@pytest.mark.parametrize(
    "url", ["/api/v1/incidents/", "/api/v1/batch-runs/", "/api/v1/metrics/samples/", "/api/v1/automation/executions/"]
)
def test_deeply_nested_json_is_a_400_on_every_endpoint(api, url):
    body = "[" * (JSON_MAX_DEPTH + 1) + "]" * (JSON_MAX_DEPTH + 1)
    response = post(api, url, body)
    assert response.status_code == 400
    assert "nested deeper" in response.json()["detail"]
    very_deep = "[" * 100_000 + "]" * 100_000
    assert post(api, url, very_deep).status_code == 400


def test_an_oversize_body_is_a_json_413(api, settings):
    settings.API_MAX_BODY_BYTES = 1000
    response = post(api, "/api/v1/incidents/", json.dumps({"title": "x" * 2000}))
    assert response.status_code == 413
    assert "1000 bytes" in response.json()["detail"]


def test_automation_times_without_an_offset_are_refused_like_the_other_apis(api):
    Job.objects.create(external_id="nightly", name="Nightly")
    row = {
        "job": "nightly",
        "external_id": "e1",
        "status": "succeeded",
        "started_at": "2025-03-01T02:00:00",
        "ended_at": "2025-03-01T02:10:00",
    }
    response = post(api, "/api/v1/automation/executions/", json.dumps(row))
    assert response.status_code == 400
    assert "offset" in " ".join(response.json()["rows"][0]["errors"]["started_at"])
    assert not Execution.objects.exists()


@pytest.mark.parametrize(
    "path", ["/api/v1/maintenances/%C3%A5b/", "/api/v1/no-such-thing/", "/api/v1/incidents/INC-0/"]
)
def test_unknown_api_addresses_are_a_json_404(api, path):
    response = api.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("ticket", ["²", "%00", "INC-99999999999999999999"])
def test_odd_ticket_parameters_on_pages_are_not_a_500(api, ticket):
    response = api.get("/incidents/", {"ticket": ticket})
    assert response.status_code in (200, 302, 400, 404)


@pytest.mark.parametrize(
    "path", ["/incidents/?ticket=%00", "/incidents/INC-%00/", "/api/v1/incidents/%00/", "/api/v1/incidents/?q=a%00b"]
)
def test_a_nul_in_the_address_is_a_400(api, path):
    response = api.get(path)
    assert response.status_code == 400


def test_a_year_9999_range_on_the_timeline_page_is_not_a_500(api):
    response = api.get("/", {"start": "9999-12-30", "end": "9999-12-31"})
    assert response.status_code == 400  # refused, naming the field; the page shows the default range
    assert "Choose dates between" in response.content.decode()
    response = api.get("/api/v1/timeline/", {"start": "9999-12-01T00:00:00Z", "end": "9999-12-31T00:00:00Z"})
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://rundeck.example.com/job/1", "https://rundeck.example.com/job/1"),
        ("http://x.test/", "http://x.test/"),
        ("javascript:alert(1)", ""),
        ("JaVaScRiPt:alert(1)", ""),
        (" javascript:alert(1)", ""),
        ("data:text/html,<script>", ""),
        ("//evil.test/x", ""),
        (None, ""),
    ],
)
def test_only_http_links_are_kept(value, expected):
    assert http_url(value) == expected


def test_a_javascript_job_link_is_not_rendered_as_a_link(db, leader_user, engineer_user):
    Job.objects.create(external_id="evil", name="Evil job", url="javascript:alert(document.cookie)")
    client = login(Client(), engineer_user)
    html = client.get("/automation/", {"period": "all"}).content.decode()
    assert "javascript:alert" not in html
