from datetime import timedelta

import pytest
from django.utils import timezone

from metrics.choices import PollStatus, SourceKind
from metrics.models import MetricSample, PollResult
from tests.conftest import browser_login, save_artifact

from .conftest import make_series, make_source


@pytest.mark.e2e
def test_the_metrics_page_draws_sparklines_and_says_no_data(page, transactional_db, helpdesk_user):
    now = timezone.now()
    prod = make_source(name="aws-prod", kind=SourceKind.CLOUDWATCH, environment="production", region="us-east-1")
    latency = make_series(prod, key="api-latency", label="API Latency")
    for minutes in range(0, 24 * 60, 5):
        MetricSample.objects.create(series=latency, ts=now - timedelta(minutes=minutes + 1), value=100 + minutes % 40)
    silent = make_series(prod, key="hosts", label="Healthy Hosts", unit="hosts")
    PollResult.objects.create(
        series=silent, window_start=now - timedelta(minutes=5), window_end=now, status=PollStatus.NO_DATA,
        message="No data after 5 attempt(s).", polled_at=now,
    )  # fmt: skip
    browser_login(page, helpdesk_user)
    page.goto("/metrics/")
    assert page.locator("tr[data-series='api-latency'] canvas.sparkline").count() == 1
    page.wait_for_function("() => window.Chart && Chart.getChart(document.querySelector('canvas.sparkline'))")
    assert page.locator("tr[data-series='hosts'] .latest").inner_text().strip() == "no data"
    assert "No data after 5 attempt(s)." in page.locator("#failed-sources").inner_text()
    save_artifact(page, "metrics-overview")
