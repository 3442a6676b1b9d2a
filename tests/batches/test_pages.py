import re
from datetime import timedelta

import pytest
from django.utils import timezone

from batches import services
from batches.models import Client

from .conftest import NOW, daily_history, run_row

MONITORING = "/batches/"


def page(client, user, url):
    client.force_login(user)
    return client.get(url)


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


# --- permissions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [MONITORING, "/batches/healthy/"])
def test_anonymous_visitors_are_sent_to_the_login_page(client, fleet, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", [MONITORING, "/batches/healthy/"])
def test_users_without_a_role_get_403(client, fleet, outsider, url):
    assert page(client, outsider, url).status_code == 403


@pytest.mark.parametrize("persona", ["helpdesk_user", "engineer_user", "leader_user", "admin_user"])
@pytest.mark.parametrize("url", [MONITORING, "/batches/healthy/"])
def test_every_operations_role_may_read_the_batch_pages(client, fleet, persona, url, request):
    assert page(client, request.getfixturevalue(persona), url).status_code == 200


def test_an_unknown_client_is_404(client, fleet, engineer_user):
    assert page(client, engineer_user, "/batches/nobody/").status_code == 404


# --- monitoring ----------------------------------------------------------------------------------------


def test_monitoring_lists_stale_long_and_short_clients_most_urgent_first(client, fleet, engineer_user):
    response = page(client, engineer_user, MONITORING)
    rows = [row.client.slug for row in response.context["overview"].rows]
    assert rows == ["stale", "slowpoke", "did-nothing"]
    body = text(response)
    assert "Stale no run for 3 d" in body
    assert "Long 5.0× the recent average" in body
    assert "Short 0.03× the recent average" in body
    assert "Registered, never ran Newcomer" in body


def test_monitoring_states_its_rules_and_thresholds(client, fleet, engineer_user, settings):
    settings.BATCH_LONG_FACTOR = 2.5
    body = text(page(client, engineer_user, MONITORING))
    assert "more than 2.5× the mean of the previous 14 succeeded runs" in body
    assert "less than 0.25× that mean" in body
    assert "expected interval (default one day) plus its grace period" in body


def test_a_long_run_with_a_higher_threshold_is_no_longer_listed(client, fleet, engineer_user, settings):
    settings.BATCH_LONG_FACTOR = 6
    rows = [row.client.slug for row in page(client, engineer_user, MONITORING).context["overview"].rows]
    assert "slowpoke" not in rows


def test_recent_failed_runs_are_listed_newest_first(client, fleet, engineer_user, ingest):
    ingest([run_row("healthy", NOW - timedelta(days=2, hours=1), 3, status="failed", run_id="f-old")])
    ingest([run_row("stale", NOW - timedelta(days=1), 3, status="failed", run_id="f-new")])
    ingest([run_row("stale", NOW - timedelta(days=9), 3, status="failed", run_id="f-too-old")])
    response = page(client, engineer_user, MONITORING)
    assert [run.run_id for run in response.context["overview"].failed_runs] == ["f-new", "f-old"]
    assert "Failed latest run failed" in text(response)  # "stale" now ends in a failure


def test_an_empty_monitoring_page_says_how_runs_arrive(client, engineer_user):
    body = text(page(client, engineer_user, MONITORING))
    assert "No clients yet" in body and "import_batch_runs" in body


def test_when_all_is_well_the_page_says_so(client, ingest, engineer_user):
    ingest(daily_history("fine", [30] * 5, last=NOW - timedelta(hours=1)))
    assert "All 1 clients ran on time" in text(page(client, engineer_user, MONITORING))


def test_the_client_picker_opens_a_client_by_slug_or_name(client, fleet, engineer_user):
    client.force_login(engineer_user)
    assert client.get(MONITORING, {"client": "Healthy"})["Location"] == "/batches/healthy/"
    response = client.get(MONITORING, {"client": "nobody"}, follow=True)
    assert "No client is called" in text(response)


def test_monitoring_queries_do_not_grow_with_clients(client, engineer_user, ingest, django_assert_max_num_queries):
    def many(count, prefix):
        for i in range(count):
            ingest(daily_history(f"{prefix}{i}", [30] * 4 + [90], last=NOW - timedelta(days=i % 3, hours=1)))

    many(3, "a")
    client.force_login(engineer_user)
    with django_assert_max_num_queries(8):
        client.get(MONITORING)
    many(30, "b")
    with django_assert_max_num_queries(8):
        response = client.get(MONITORING)
    assert response.context["overview"].client_count == 33


# --- client investigation ----------------------------------------------------------------------------------


@pytest.fixture
def acme(ingest):
    minutes = [60] * 70
    minutes[50] = 400  # a spike: an outlier
    minutes[60] = 200
    rows = daily_history("acme", minutes, last=NOW - timedelta(hours=5), instance_size="c5.4xlarge")
    rows[30]["status"] = "failed"
    rows[0]["average_daily_volume"] = 1250000
    ingest(rows)
    return Client.objects.get(slug="acme")


def test_the_client_page_shows_tiles_for_latest_run_size_volume_and_success_rate(client, acme, engineer_user):
    response = page(client, engineer_user, "/batches/acme/?start=&end=")
    body = text(response)
    assert "Time since latest run 5 h" in body
    assert "Instance size c5.4xlarge" in body
    assert "Average daily volume 1,250,000 records a day" in body
    assert "Success rate (range) 98.6 % 69 succeeded, 1 failed" in body


def test_outliers_are_marked_and_the_rule_explained(client, acme, engineer_user):
    response = page(client, engineer_user, "/batches/acme/")
    points = response.context["chart"]["points"]
    outliers = [p["run_id"] for p in points if p["outlier"]]
    spike_day = (NOW - timedelta(hours=5) - timedelta(days=19)).strftime("%Y%m%d")
    assert spike_day in outliers
    body = text(response)
    assert "beyond the median ± 3.0 × MAD (median absolute deviation, scaled by 1.4826" in body
    assert "previous 30 succeeded runs" in body
    assert "Outliers in range (2)" in body


def test_month_over_month_change_of_the_average_duration_is_shown(client, acme, engineer_user):
    response = page(client, engineer_user, "/batches/acme/")
    months = response.context["data"].months
    assert months and all(m.mean_seconds > 0 for m in months)
    assert any(m.change_percent is not None for m in months[1:])
    assert "Change from previous month" in text(response)


def test_a_client_without_runs_shows_no_data_rather_than_zero(client, fleet, engineer_user):
    body = text(page(client, engineer_user, "/batches/newcomer/"))
    assert "Time since latest run no runs yet" in body
    assert "Instance size not recorded" in body
    assert "Success rate (range) no finished runs" in body
    assert "No runs in this range." in body
    assert "0 %" not in body


def test_a_date_range_narrows_the_chart(client, acme, engineer_user):
    end = timezone.localdate()
    start = end - timedelta(days=9)
    response = page(client, engineer_user, f"/batches/acme/?start={start}&end={end}&unit=hours")
    assert len(response.context["chart"]["points"]) == 10
    assert response.context["chart"]["unit"] == "hours"


def test_a_reversed_range_is_a_form_error_and_the_default_range_is_shown(client, acme, engineer_user):
    response = page(client, engineer_user, "/batches/acme/?start=2025-03-10&end=2025-03-01")
    assert response.status_code == 400
    assert "The start date must be on or before the end date." in text(response)
    assert response.context["data"].end == timezone.localdate()


def test_the_client_page_uses_a_fixed_number_of_queries(client, acme, engineer_user, django_assert_max_num_queries):
    client.force_login(engineer_user)
    with django_assert_max_num_queries(9):
        client.get("/batches/acme/?start=2020-01-01")


def test_the_chart_is_drawn_with_the_vendored_chartjs(client, acme, engineer_user):
    body = page(client, engineer_user, "/batches/acme/").content.decode()
    assert "/static/vendor/chartjs/chart.umd.min.js" in body and "cdn" not in body.lower()


def test_latest_state_follows_late_and_out_of_order_runs(ingest):
    ingest(daily_history("late", [10, 10, 10], last=NOW - timedelta(hours=2)))
    ingest([run_row("late", NOW - timedelta(days=10), 99, run_id="old")])
    late = Client.objects.select_related("latest_run").get(slug="late")
    assert late.latest_run.run_id == f"{NOW - timedelta(hours=2):%Y%m%d}"
    assert services.client_state(late, now=NOW).duration.flag is None
