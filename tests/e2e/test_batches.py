from datetime import timedelta

import pytest
from django.utils import timezone

from batches import services
from batches.views import OUTLIER_COLOR
from tests.batches.conftest import daily_history
from tests.conftest import browser_login, save_artifact

pytestmark = pytest.mark.e2e


@pytest.fixture
def acme(transactional_db):
    minutes = [60 + (i % 5) for i in range(60)]
    minutes[45] = 420  # seven hours: an outlier
    rows = daily_history("acme", minutes, last=timezone.now() - timedelta(hours=4), instance_size="m5.2xlarge")
    assert not services.batch_runs_ingest(rows=rows).errors
    return rows[45]["run_id"]


def chart(page, expression):
    return page.evaluate(f"() => {{ const chart = window.batchChart; return {expression}; }}")


def test_switching_minutes_and_hours_changes_the_axis_and_outliers_are_red(page, engineer_user, acme):
    browser_login(page, engineer_user)
    page.goto("/batches/acme/")
    page.wait_for_function("() => window.batchChart && window.batchChart.scales.y")
    assert chart(page, "chart.options.scales.y.title.text") == "Duration (minutes)"
    max_minutes = chart(page, "chart.scales.y.max")
    assert max_minutes >= 420

    page.click("#unit-hours")
    page.wait_for_function("() => window.batchChart.options.scales.y.title.text === 'Duration (hours)'")
    max_hours = chart(page, "chart.scales.y.max")
    assert 7 <= max_hours < 60
    assert "unit=hours" in page.url
    assert page.locator("#unit-hours").get_attribute("class").split().count("active") == 1

    # The spike is drawn as a triangle in the outlier colour; an ordinary run is not.
    index = chart(page, f"chart.data.datasets[0].data.findIndex(p => p.run_id === '{acme}')")
    assert chart(page, f"chart.data.datasets[0].data[{index}].outlier") is True
    element = f"chart.getDatasetMeta(0).data[{index}].options"
    point = chart(page, f"[{element}.backgroundColor, {element}.pointStyle]")
    assert point == [OUTLIER_COLOR, "triangle"]
    ordinary = chart(page, "chart.getDatasetMeta(0).data[10].options.backgroundColor")
    assert ordinary != OUTLIER_COLOR
    assert page.locator("#outliers").inner_text().count("7 h") == 1
    save_artifact(page, "batches-client")

    page.click("#unit-minutes")
    page.wait_for_function("() => window.batchChart.options.scales.y.title.text === 'Duration (minutes)'")
    assert chart(page, "chart.scales.y.max") == max_minutes


def test_the_monitoring_page_links_to_the_client_investigation(page, engineer_user, acme):
    browser_login(page, engineer_user)
    page.goto("/batches/")
    page.fill("input[name=client]", "acme")
    page.click("form[role=search] button")
    page.wait_for_url("**/batches/acme/")
    assert page.locator("h1").inner_text() == "Acme"
