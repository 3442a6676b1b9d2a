"""`/automation/` and its CSV export: periods in the URL, figures, empty states, permissions, query counts."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from .conftest import make_job, make_run

pytestmark = pytest.mark.django_db
PAGE = "/automation/"
EXPORT = "/automation/export.csv"
CUSTOM = "?period=custom&start=2024-03-04T00:00&end=2024-03-18T00:00"


@pytest.fixture
def history():
    a = make_job("a", "Restart web workers", minutes="30", cost="60", tags=["web", "remediation"])
    b = make_job("b", "Verify backups", minutes="90", cost="100", tags=["database"])
    at = datetime(2024, 3, 4, 10, tzinfo=UTC)
    make_run(a, started=at, seconds=60)
    make_run(a, started=at + timedelta(days=1), seconds=120, hours=2)
    make_run(a, started=at + timedelta(days=8), seconds=30, status="failed")
    make_run(b, started=at + timedelta(days=2), seconds=600)
    return a, b


@pytest.mark.parametrize("url", [PAGE, EXPORT])
def test_anonymous_visitors_are_sent_to_the_login_page(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", [PAGE, EXPORT])
def test_a_user_without_a_role_gets_403(client, outsider, url):
    client.force_login(outsider)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("persona", ["helpdesk_user", "engineer_user", "leader_user", "admin_user"])
@pytest.mark.parametrize("url", [PAGE, EXPORT])
def test_every_role_may_read_automation_roi(client, request, persona, url):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(url).status_code == 200


def test_a_custom_range_in_the_url_shows_its_tiles_tables_and_chart(client, leader_user, history):
    client.force_login(leader_user)
    response = client.get(PAGE + CUSTOM)
    html = response.content.decode()
    assert response.context["period"] == "custom"
    totals = response.context["totals"]
    assert (totals.runs, totals.succeeded) == (4, 3)
    # 0.5 h + 2 h (its own ROI value) at $60, 1.5 h at $100.
    assert totals.hours_saved == pytest.approx(4.0) and totals.money_saved == pytest.approx(300.0)
    assert 'data-tile="hours">4.0 h' in html and 'data-tile="money">$300' in html
    assert 'data-tile="success">75.0 %' in html
    assert "Restart web workers" in html and "database" in html and 'id="trend-chart"' in html
    assert "vendor/chartjs/chart.umd.min.js" in html and "cdn" not in html.lower()
    assert f"{EXPORT}?period=custom&amp;start=2024-03-04T00:00&amp;end=2024-03-18T00:00" in html
    trend = response.context["trend"]
    assert trend["labels"][-2:] == ["2024-03-04", "2024-03-11"] and trend["hours"][-2:] == [4.0, 0.0]


def test_presets_count_only_runs_inside_the_period(client, helpdesk_user):
    job = make_job("a", minutes="60", cost="10")
    now = timezone.now()
    make_run(job, started=now - timedelta(minutes=30))
    make_run(job, started=now - timedelta(hours=5))
    make_run(job, started=now - timedelta(days=10))
    make_run(job, started=now - timedelta(days=20))
    client.force_login(helpdesk_user)
    runs = {p: client.get(f"{PAGE}?period={p}").context["totals"].runs for p in ("1h", "24h", "14d", "30d")}
    assert runs == {"1h": 1, "24h": 2, "14d": 3, "30d": 4}
    assert client.get(PAGE).context["period"] == "30d"


def test_a_period_without_runs_says_so_instead_of_showing_zeros(client, helpdesk_user, history):
    client.force_login(helpdesk_user)
    html = client.get(PAGE + "?period=1h").content.decode()
    assert "no runs in this period" in html and "No automation ran in this period" in html
    assert "0.0 %" not in html and "No runs in these weeks yet." in html and 'id="trend-chart"' not in html


def test_an_impossible_custom_range_is_explained_and_the_default_period_shown(client, helpdesk_user):
    client.force_login(helpdesk_user)
    response = client.get(PAGE + "?period=custom&start=2024-03-18T00:00&end=2024-03-04T00:00")
    assert response.status_code == 400
    assert "The end must be after the start." in response.content.decode()
    assert response.context["period"] == "30d"
    assert "A custom range needs a start." in client.get(PAGE + "?period=custom").content.decode()


def test_the_csv_export_holds_the_same_per_job_table(client, engineer_user, history):
    client.force_login(engineer_user)
    response = client.get(EXPORT + CUSTOM)
    assert response["Content-Type"].startswith("text/csv")
    assert "automation-jobs_20240304-0000_20240318-0000.csv" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["job"], r["runs"], r["success_rate_percent"], r["hours_saved"], r["money_saved"]) for r in rows] == [
        ("Restart web workers", "3", "66.7", "2.50", "150.00"),
        ("Verify backups", "1", "100.0", "1.50", "150.00"),
    ]
    assert rows[0]["tags"] == "remediation web" and rows[0]["avg_run_seconds"] == "70.0"


def test_the_csv_export_per_tag(client, engineer_user, history):
    client.force_login(engineer_user)
    rows = list(csv.DictReader(io.StringIO(client.get(EXPORT + CUSTOM + "&table=tags").content.decode())))
    assert {r["tag"]: r["hours_saved"] for r in rows} == {"web": "2.50", "remediation": "2.50", "database": "1.50"}


def test_an_empty_period_exports_headers_only(client, engineer_user):
    client.force_login(engineer_user)
    lines = client.get(EXPORT).content.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("job,job_id,project,tags")


def test_the_page_and_export_need_a_fixed_number_of_queries(client, leader_user, django_assert_max_num_queries):
    now = timezone.now()
    for n in range(30):
        job = make_job(f"job-{n}", minutes="15", cost="50", tags=[f"team-{n % 4}", "all"])
        for k in range(5):
            make_run(job, started=now - timedelta(days=k * 3 + 1), status="failed" if k == 2 else "succeeded")
    client.force_login(leader_user)
    with django_assert_max_num_queries(12):
        response = client.get(PAGE)
    assert len(response.context["jobs"]) == 30 and response.context["totals"].runs == 150
    with django_assert_max_num_queries(8):
        assert client.get(EXPORT).status_code == 200
