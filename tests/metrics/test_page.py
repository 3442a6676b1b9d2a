import json
from datetime import timedelta

import pytest
from django.utils import timezone

from metrics.choices import PollStatus, SourceKind
from metrics.models import MetricSample, PollResult
from tests.conftest import login

from .conftest import make_series, make_source

URL = "/metrics/"


@pytest.fixture
def populated(db):
    now = timezone.now()
    prod = make_source(name="aws-prod", kind=SourceKind.CLOUDWATCH, environment="production", region="us-east-1")
    staging = make_source(name="aws-staging", kind=SourceKind.CLOUDWATCH, environment="staging", region="us-east-1")
    latency = make_series(prod, key="api-latency", label="API Latency", warning_threshold=100)
    for minutes in range(0, 24 * 60, 5):
        MetricSample.objects.create(series=latency, ts=now - timedelta(minutes=minutes + 1), value=120 - minutes / 100)
    silent = make_series(staging, key="cs-latency", label="CS Latency")
    PollResult.objects.create(
        series=silent, window_start=now - timedelta(minutes=10), window_end=now - timedelta(minutes=5),
        status=PollStatus.ERROR, message="CloudWatch throttled the request (Throttling): Rate exceeded",
        polled_at=now - timedelta(minutes=4),
    )  # fmt: skip
    return {"latency": latency, "silent": silent}


def test_anonymous_users_are_sent_to_the_login_page(client, populated):
    response = client.get(URL)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_a_user_without_a_role_gets_403(client, populated, outsider):
    login(client, outsider)
    assert client.get(URL).status_code == 403


@pytest.mark.parametrize("persona", ["helpdesk_user", "engineer_user", "leader_user", "admin_user"])
def test_every_role_can_read_the_metrics_page(client, populated, persona, request):
    login(client, request.getfixturevalue(persona))
    assert client.get(URL).status_code == 200


def test_the_page_groups_by_environment_and_region_with_latest_change_and_failures(
    client, populated, helpdesk_user, django_assert_max_num_queries
):
    login(client, helpdesk_user)
    with django_assert_max_num_queries(15):
        response = client.get(URL)
    html = response.content.decode()
    assert 'data-environment="production" data-region="us-east-1"' in html
    assert 'data-environment="staging" data-region="us-east-1"' in html
    assert "120ms" in html
    assert "vs previous hour" in html
    assert "WARNING: above 100ms" in html
    # the silent series: "no data", and its source listed with the reason
    assert "Sources that failed their last poll" in html
    assert "CloudWatch throttled the request (Throttling): Rate exceeded" in html
    row = html[html.index('data-series="cs-latency"') :]
    row = row[: row.index("</tr>")]
    assert "no data" in row
    assert ">0<" not in row
    charts = response.context["charts"]
    assert 200 <= len(charts["api-latency"]) <= 288
    assert charts["cs-latency"] == []


def test_query_count_does_not_grow_with_the_number_of_series(
    client, populated, helpdesk_user, django_assert_max_num_queries
):
    source = populated["latency"].source
    for i in range(20):
        series = make_series(source, key=f"extra-{i}", label=f"Extra {i}")
        MetricSample.objects.create(series=series, ts=timezone.now() - timedelta(minutes=3), value=i)
    login(client, helpdesk_user)
    with django_assert_max_num_queries(15):
        assert client.get(URL).status_code == 200


def test_an_empty_install_shows_how_to_get_started(client, db, engineer_user):
    login(client, engineer_user)
    html = client.get(URL).content.decode()
    assert "No metric series yet" in html
    assert "/api/v1/metrics/samples/" in html


@pytest.mark.parametrize(
    "url",
    ["/admin/metrics/metricsource/", "/admin/metrics/metricseries/", "/admin/metrics/pollresult/",
     "/admin/metrics/metricsource/add/", "/admin/metrics/metricseries/add/"],
)  # fmt: skip
def test_staff_configure_sources_and_series_in_the_admin(client, populated, admin_user, url):
    login(client, admin_user)
    assert client.get(url).status_code == 200


def test_a_cloudwatch_source_without_a_region_is_refused(db):
    from django.core.exceptions import ValidationError

    from metrics.models import MetricSource

    with pytest.raises(ValidationError, match="region"):
        MetricSource(kind=SourceKind.CLOUDWATCH, name="x", environment="production").full_clean()


def test_a_gap_in_the_data_is_drawn_as_a_gap_not_a_line(client, populated, helpdesk_user):
    now = timezone.now()
    series = make_series(populated["latency"].source, key="gappy", label="Gappy")
    for minutes in [*range(0, 60, 5), *range(180, 240, 5)]:
        MetricSample.objects.create(series=series, ts=now - timedelta(minutes=minutes + 1), value=1)
    login(client, helpdesk_user)
    chart = client.get(URL).context["charts"]["gappy"]
    assert [v for _, v in chart].count(None) == 1
    assert 0 not in [v for _, v in chart if v != 1]


def test_hundreds_of_series_take_a_fixed_number_of_queries_with_hourly_sparklines(
    client, db, helpdesk_user, django_assert_max_num_queries
):
    """Above CHART_RAW_MAX_SERIES the sparklines come from the hourly aggregates; nothing is read per series."""
    from metrics.models import MetricSeries
    from metrics.selectors import CHART_RAW_MAX_SERIES
    from metrics.services.ingest import samples_upsert

    now = timezone.now()
    source = make_source(name="prom-many")
    count = CHART_RAW_MAX_SERIES + 20
    series = MetricSeries.objects.bulk_create(
        MetricSeries(source=source, key=f"many-{i:03d}", label=f"Many {i:03d}", role="latency_ms", unit="ms",
                     query="up", warning_threshold=100, critical_threshold=200)
        for i in range(count)
    )  # fmt: skip
    # One sample an hour for a day: the newest a minute ago, the one an hour before 4 ms higher.
    samples_upsert(
        points=[(s.pk, now - timedelta(minutes=60 * h + 1), float(i + (4 if h == 1 else 0))) for i, s in
                enumerate(series) for h in range(24)]
    )  # fmt: skip
    for s in series[:3]:
        PollResult.objects.create(
            series=s, window_start=now - timedelta(minutes=5), window_end=now, status=PollStatus.OK, polled_at=now
        )
    PollResult.objects.create(
        series=series[3], window_start=now - timedelta(minutes=5), window_end=now, status=PollStatus.ERROR,
        message="Prometheus answered 503", polled_at=now,
    )  # fmt: skip
    login(client, helpdesk_user)
    with django_assert_max_num_queries(15):
        response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("<tr data-series=") == count
    row = html[html.index('data-series="many-110"') :]
    row = row[: row.index("</tr>")]
    assert "110ms" in row and "WARNING: above 100ms" in row and "text-warning-emphasis" in row
    assert "−4ms / −4% vs previous hour" in row
    assert "Prometheus answered 503" in html[html.index('id="failed-sources"') :]
    charts = response.context["charts"]
    assert len(charts) == count
    assert all(23 <= len(points) <= 25 for points in charts.values())
    assert charts["many-007"][-1][1] == 7
    # The sparklines' data travels as JSON in a non-executable script element (no inline script: CSP).
    opening = '<script id="metric-charts" type="application/json">'
    embedded = html[html.index(opening) + len(opening) :]
    assert json.loads(embedded[: embedded.index("</script>")]) == charts


def test_chart_values_are_sent_to_six_significant_digits_of_the_largest():
    from metrics.views import _compact

    points = [(1, 0.5833333333333334), (2, None), (3, 120.123456789), (4, 0.0)]
    assert _compact(points) == [[1, 0.583], [2, None], [3, 120.123], [4, 0.0]]
    assert _compact([(1, 0.000123456789)]) == [[1, 0.000123457]]
    assert _compact([(1, 0.0), (2, None)]) == [[1, 0.0], [2, None]]
