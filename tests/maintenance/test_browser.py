"""The timeline in Debian's Chromium: maintenance is a grey hatched bar with its own tooltip."""

from datetime import timedelta

import pytest
from django.utils import timezone

from maintenance import services as svc
from tests.conftest import browser_login, save_artifact

pytestmark = [pytest.mark.e2e]

MAINTENANCE_BAR = """() => {
  const chart = window.beaconTimeline;
  const d = chart.data.datasets.findIndex((set) => set.maintenance);
  const point = chart.getDatasetMeta(d).data[0].getCenterPoint();
  const box = chart.canvas.getBoundingClientRect();
  return {x: box.left + point.x, y: box.top + point.y, count: chart.data.datasets[d].data.length,
          label: chart.data.datasets[d].label, border: chart.data.datasets[d].borderColor};
}"""


def test_a_maintenance_bar_is_grey_with_a_maintenance_tooltip_and_opens_its_page(
    page, transactional_db, services, engineer_user, leader_user
):
    now = timezone.now()
    maintenance = svc.maintenance_schedule(
        title="Core router upgrade",
        description="Routers restart one by one.",
        services=[services["payments"]],
        starts_at=now - timedelta(days=2),
        ends_at=now - timedelta(days=1, hours=12),
        by=engineer_user,
    )
    browser_login(page, leader_user)
    page.goto("/")
    page.wait_for_function("() => window.beaconTimeline !== undefined")
    page.locator("#timeline").scroll_into_view_if_needed()

    bar = page.evaluate(MAINTENANCE_BAR)
    assert bar["count"] == 1 and bar["label"] == "Planned maintenance" and bar["border"] == "#6c757d"
    page.mouse.move(bar["x"], bar["y"])

    tooltip = page.locator("#timeline-tooltip")
    tooltip.wait_for(state="visible")
    assert tooltip.locator(".kind").inner_text() == "Maintenance"
    assert "Core router upgrade" in tooltip.inner_text()
    assert tooltip.locator(".services").inner_text() == "Payments"
    assert tooltip.locator("a.maintenance-link").get_attribute("href") == f"/maintenance/{maintenance.pk}/"
    save_artifact(page, "timeline-maintenance")

    page.mouse.click(bar["x"], bar["y"])
    page.wait_for_url(f"**/maintenance/{maintenance.pk}/")
    assert "Core router upgrade" in page.locator("h1").inner_text()
