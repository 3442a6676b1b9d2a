"""The dashboard in a real browser: the vendored Chart.js draws the trend without errors."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.conftest import browser_login, save_artifact

from .conftest import make_job, make_run

pytestmark = pytest.mark.e2e


def test_a_leader_sees_tiles_and_the_weekly_trend_chart(page, leader_user, transactional_db):
    now = timezone.now()
    job = make_job("restart", "Restart web workers", minutes="30", cost="80", tags=["web"])
    for day in range(0, 60, 2):
        make_run(job, started=now - timedelta(days=day, hours=1), seconds=45)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Missing scripts or styles count; the browser's own /favicon.ico probe does not.
    page.on("response", lambda r: errors.append(r.url) if r.status >= 400 and "/static/" in r.url else None)
    browser_login(page, leader_user)
    page.goto("/automation/?period=30d")
    assert page.locator("[data-tile=runs]").inner_text() == "15"
    page.wait_for_function("() => window.Chart && Chart.getChart('trend-chart') !== undefined")
    bars = page.evaluate("() => Chart.getChart('trend-chart').data.datasets[0].data.filter(v => v !== null).length")
    assert bars >= 8
    save_artifact(page, "automation-dashboard")
    page.get_by_role("button", name="Custom").click()
    page.fill("#id_start", "2020-01-01T00:00")
    page.fill("#id_end", "2020-02-01T00:00")
    page.get_by_role("button", name="Show range").click()
    page.wait_for_url("**period=custom**")
    assert "no runs in this period" in page.locator("[data-tile=hours]").inner_text()
    save_artifact(page, "automation-dashboard-empty")
    assert errors == []
