"""The dashboard in Debian's Chromium: the Chart.js timeline, its tooltip, presets, a screenshot."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import services as incident_services
from tests.conftest import browser_login, save_artifact

pytestmark = [pytest.mark.e2e]

BAR_POSITION = """(ticket) => {
  const chart = window.beaconTimeline;
  for (let d = 0; d < chart.data.datasets.length; d++) {
    const index = chart.data.datasets[d].data.findIndex((p) => p.ticket === ticket);
    if (index >= 0) {
      const point = chart.getDatasetMeta(d).data[index].getCenterPoint();
      const box = chart.canvas.getBoundingClientRect();
      return {x: box.left + point.x, y: box.top + point.y};
    }
  }
  return null;
}"""

BARS = """() => {
  const chart = window.beaconTimeline;
  return chart.data.datasets.flatMap((dataset, d) =>
    chart.getDatasetMeta(d).data.map((element, i) =>
      ({ticket: dataset.data[i].ticket, service: dataset.data[i].service})));
}"""


def _incident(services, by, *, hours_ago, hours, severity=2, on=("web",), engineer=None, title="Checkout errors"):
    now = timezone.now()
    started = now - timedelta(hours=hours_ago)
    incident = incident_services.incident_open(
        title=title,
        severity=severity,
        services=[services[s] for s in on],
        description=f"{title}: customers see a 502 page.",
        engineer=engineer,
        started_at=started,
        by=by,
        now=started,
        notify=False,
    )
    if hours is not None:
        end = started + timedelta(hours=hours)
        incident_services.incident_resolve(
            incident=incident, message="Fixed.", resolved_at=end, by=by, now=end, notify=False
        )
    return incident


@pytest.fixture
def history(transactional_db, services, helpdesk_user, engineer_user):
    """Four incidents in the last week (one on two services, one ongoing) and one three weeks ago."""
    s, by = services, helpdesk_user
    return {
        "web": _incident(s, by, hours_ago=120, hours=20, severity=1, engineer=engineer_user, title="Checkout errors"),
        "both": _incident(s, by, hours_ago=70, hours=16, severity=2, on=("web", "payments"), title="Card timeouts"),
        "pay": _incident(s, by, hours_ago=40, hours=12, severity=3, on=("payments",), title="Slow refunds"),
        "ongoing": _incident(s, by, hours_ago=10, hours=None, severity=4, title="Images load slowly"),
        "old": _incident(s, by, hours_ago=21 * 24, hours=30, severity=2, on=("payments",), title="Old outage"),
    }


def test_the_chart_draws_one_bar_per_incident_and_service_in_range(page, leader_user, history):
    browser_login(page, leader_user)
    page.goto("/")
    page.wait_for_function("() => window.beaconTimeline !== undefined")

    bars = page.evaluate(BARS)

    in_range = {history[k].ticket for k in ("web", "both", "pay", "ongoing")}
    assert {bar["ticket"] for bar in bars} == in_range
    # One row per service: the two-service incident has a bar on each row, the others one.
    assert len(bars) == 5
    assert sorted(b["service"] for b in bars if b["ticket"] == history["both"].ticket) == ["Payments", "Web Storefront"]
    assert page.evaluate("() => window.beaconTimeline.scales.y.ticks.map((t) => t.label)") == [
        "Payments",
        "Web Storefront",
    ]


def test_hovering_a_bar_shows_its_details_and_clicking_opens_the_incident(page, helpdesk_user, history):
    incident = history["web"]
    browser_login(page, helpdesk_user)
    page.goto("/")
    page.wait_for_function("() => window.beaconTimeline !== undefined")
    page.locator("#timeline").scroll_into_view_if_needed()

    position = page.evaluate(BAR_POSITION, incident.ticket)
    page.mouse.move(position["x"], position["y"])

    tooltip = page.locator("#timeline-tooltip")
    tooltip.wait_for(state="visible")
    assert tooltip.locator(".engineer").inner_text() == "Eli Ngata"
    link = tooltip.locator("a.ticket")
    assert link.inner_text() == incident.ticket
    assert link.get_attribute("href") == f"/incidents/{incident.ticket}/"
    assert "customers see a 502 page" in tooltip.locator(".description").inner_text()
    assert tooltip.locator(".services").inner_text() == "Web Storefront"
    assert tooltip.locator(".end").inner_text() != "ongoing"

    page.mouse.click(position["x"], position["y"])
    page.wait_for_url(f"**/incidents/{incident.ticket}/")
    assert incident.title in page.locator("h1").inner_text()


def test_an_ongoing_bar_says_ongoing(page, engineer_user, history):
    browser_login(page, engineer_user)
    page.goto("/")
    page.wait_for_function("() => window.beaconTimeline !== undefined")
    page.locator("#timeline").scroll_into_view_if_needed()

    position = page.evaluate(BAR_POSITION, history["ongoing"].ticket)
    page.mouse.move(position["x"], position["y"])

    page.locator("#timeline-tooltip").wait_for(state="visible")
    assert page.locator("#timeline-tooltip .end").inner_text() == "ongoing"
    assert page.locator("#timeline-tooltip .engineer").inner_text() == "none assigned"


def test_a_preset_changes_the_url_and_the_bars(page, engineer_user, history):
    browser_login(page, engineer_user)
    page.goto("/?service=payments")
    page.wait_for_function("() => window.beaconTimeline !== undefined")
    before = {bar["ticket"] for bar in page.evaluate(BARS)}

    page.click("#presets a[data-preset='30d']")
    page.wait_for_url("**/?service=payments&range=30d")
    page.wait_for_function("() => window.beaconTimeline !== undefined")
    after = {bar["ticket"] for bar in page.evaluate(BARS)}

    assert before == {history["both"].ticket, history["pay"].ticket}
    assert after == before | {history["old"].ticket}
    assert page.locator("#presets a.btn-primary").inner_text() == "30 d"
    assert page.locator("#id_service").input_value() == "payments"


def test_a_screenshot_of_the_dashboard_is_kept(page, engineer_user, history):
    browser_login(page, engineer_user)
    page.goto("/")
    page.wait_for_function("() => window.beaconTimeline !== undefined")
    page.locator("#timeline").scroll_into_view_if_needed()
    position = page.evaluate(BAR_POSITION, history["both"].ticket)
    page.mouse.move(position["x"], position["y"])
    page.locator("#timeline-tooltip").wait_for(state="visible")

    path = save_artifact(page, "dashboard-home")

    assert path.exists() and path.stat().st_size > 20_000


def test_the_public_status_page_renders_without_login(page, history):
    page.goto("/status/")
    assert page.locator("#overall").inner_text().strip() == "Some systems are degraded"
    save_artifact(page, "status-page")
