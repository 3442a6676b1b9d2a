"""Every page × every role in Debian's Chromium at 1440×900 and 390×844 (issue 15).

For each page: no horizontal page overflow, no console error, no request to another host;
axe-core (test-only, from tests/e2e/node_modules, injected from disk) finds no serious or
critical violation. Then the French interface, the timeline by touch, the status page by
tap, and the live refresh. One browser context per role keeps the whole matrix short.
"""

import re
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from incidents import services as incident_services
from incidents.models import Service
from maintenance import services as maintenance_services
from reports.uptime import Month
from tests.conftest import PASSWORD, ROOT, browser_login

pytestmark = [pytest.mark.e2e]

AXE = ROOT / "tests" / "e2e" / "node_modules" / "axe-core" / "axe.min.js"
AXE_SOURCE = [""]
VIEWPORTS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def world(transactional_db, helpdesk_user, engineer_user, leader_user, outsider):
    """Services, overlapping incidents of every severity (one ongoing, one 25-minute Sev 1),
    Sev 1–2 incidents without postmortem, and a planned maintenance."""
    names = ["Web Storefront", "Payments", "Search", "Single Sign-On", "Order Service", "Mobile App API"]
    services = {
        name: Service.objects.create(slug=re.sub(r"\W+", "-", name.lower()), name=name, slo_target="99.9")
        for name in names
    }
    now = timezone.now()

    def incident(hours_ago, hours, severity, on, title):
        started = now - timedelta(hours=hours_ago)
        obj = incident_services.incident_open(
            title=title, severity=severity, services=[services[n] for n in on], description="Clients: erreur 502.",
            engineer=engineer_user, started_at=started, by=helpdesk_user, now=started, notify=False,
        )  # fmt: skip
        if hours is not None:
            end = started + timedelta(hours=hours)
            incident_services.incident_resolve(
                incident=obj, message="Corrigé.", resolved_at=end, by=helpdesk_user, now=end, notify=False
            )
        return obj

    made = {
        "ongoing": incident(3, None, 2, ["Payments"], "Paiements refusés"),
        "long": incident(60, 20, 4, ["Web Storefront"], "Images lentes"),
        "short": incident(50, 25 / 60, 1, ["Web Storefront"], "Panne complète du site"),
        "sso": incident(30, 2, 3, ["Single Sign-On", "Order Service"], "Connexions en boucle"),
    }
    for n in range(7):
        incident(24 * (10 + n), 2, 2, ["Search"], f"Recherche indisponible {n}")
    maintenance_services.maintenance_schedule(
        title="Rotation des certificats", services=[services["Web Storefront"]], description="",
        starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=2), by=engineer_user,
    )  # fmt: skip
    return {"services": services, "incidents": made, "now": now}


def _pages(world) -> dict[str, list[str]]:
    ticket = world["incidents"]["ongoing"].ticket
    today = timezone.localdate()
    month = str(Month(today.year, today.month).previous())
    everyone = [
        "/", "/incidents/", f"/incidents/{ticket}/", "/metrics/", "/batches/", "/automation/", "/maintenance/",
        "/status/", "/api/docs/",
    ]  # fmt: skip
    return {
        "helpdesk": [*everyone, "/incidents/new/", f"/incidents/{ticket}/update/", "/reports/"],
        "engineer": [*everyone, "/reports/", f"/reports/{month}/", f"/incidents/{ticket}/postmortem/",
                     f"/incidents/{ticket}/edit/", "/maintenance/new/", "/incidents/?flag=postmortem-due"],
        "leadership": ["/", "/reports/", f"/reports/{month}/", "/incidents/", "/status/"],
        "outsider": ["/", "/status/"],
        "anonymous": ["/status/", "/accounts/login/"],
    }  # fmt: skip


def _wait(page, expression, timeout=15.0):
    """Poll ``expression`` with page.evaluate: wait_for_function needs eval, which the CSP forbids."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.evaluate(expression):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {expression}")


def _watch(page, origin):
    log = {"errors": [], "foreign": []}
    page.on("console", lambda m: log["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: log["errors"].append(str(e)))

    def request(r):
        parts = urlsplit(r.url)
        if parts.scheme in ("data", "blob", "about"):
            return
        if f"{parts.scheme}://{parts.netloc}" != origin:
            log["foreign"].append(r.url)

    page.on("request", request)
    return log


def _axe(page) -> list[str]:
    # Evaluated through the DevTools protocol: the page's CSP (rightly) refuses script tags.
    page.evaluate(AXE_SOURCE[0] or AXE_SOURCE.__setitem__(0, AXE.read_text()) or AXE_SOURCE[0])
    result = page.evaluate(
        """async () => {
          const r = await axe.run(document, {resultTypes: ["violations"]});
          return r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
            .map(v => v.id + ": " + v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(" | "));
        }"""
    )
    return result


def test_every_page_for_every_role_fits_both_screens_is_self_contained_and_accessible(
    browser, live_server, world, helpdesk_user, engineer_user, leader_user, outsider
):
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` in tests/e2e (.ci/run does)")
    users = {"helpdesk": helpdesk_user, "engineer": engineer_user, "leadership": leader_user, "outsider": outsider}
    problems: list[str] = []
    audited: set[str] = set()
    for role, paths in _pages(world).items():
        context = browser.new_context(base_url=live_server.url, viewport=VIEWPORTS["desktop"], locale="en-GB")
        page = context.new_page()
        page.set_default_timeout(15_000)
        if role in users:
            browser_login(page, users[role], PASSWORD)
        log = _watch(page, live_server.url)
        for path in paths:
            for size, viewport in VIEWPORTS.items():
                page.set_viewport_size(viewport)
                log["errors"].clear()
                log["foreign"].clear()
                response = page.goto(path, wait_until="networkidle")
                expected_denied = role == "outsider" and path == "/" or role == "helpdesk" and path == "/reports/"
                status = response.status if response else 0
                if status != (403 if expected_denied else 200):
                    problems.append(f"{role} {path}: HTTP {status}")
                widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
                if widths[0] > widths[1]:
                    problems.append(f"{role} {size} {path}: page is {widths[0]} px wide on a {widths[1]} px screen")
                errors = [e for e in log["errors"] if not (expected_denied and "403" in e)]
                if errors:
                    problems.append(f"{role} {size} {path}: console errors {errors}")
                if log["foreign"]:
                    problems.append(f"{role} {size} {path}: requests to other hosts {log['foreign']}")
                key = f"{size} {path.split('?')[0]}"
                if key not in audited and not path.startswith("/api/docs"):
                    audited.add(key)
                    problems.extend(f"{role} {size} {path}: axe {v}" for v in _axe(page))
        context.close()
    assert not problems, "\n".join(problems)


# French labels that are the same word in English ("Services", "Maintenance", …) and
# technical names are not evidence of an untranslated page.
SAME_IN_BOTH = {"Services", "Description", "Maintenance", "Incidents", "Version", "Service", "Message",
                "Impact", "Client", "Menu", "Ticket", "PagerDuty", "Page", "Administration", "Post-mortem"}  # fmt: skip


def _english_catalogue() -> set[str]:
    """Every English text of the app's catalogue that French writes differently."""
    text = (ROOT / "locale" / "fr" / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
    pairs = re.findall(r'^msgid "(.+)"\nmsgstr "(.+)"$', text, re.M)
    english = set()
    for msgid, msgstr in pairs:
        if msgid != msgstr and "%" not in msgid and len(msgid) >= 8 and " " in msgid and msgid not in SAME_IN_BOTH:
            english.add(msgid.replace('\\"', '"'))
    return english


def test_a_french_speaking_leader_reads_the_main_pages_in_french(browser, live_server, world, leader_user):
    english = _english_catalogue()
    assert len(english) > 200  # the check itself would be empty otherwise
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORTS["desktop"], locale="fr-FR")
    page = context.new_page()
    browser_login(page, leader_user, PASSWORD)
    found = []
    for path in ("/", "/incidents/", f"/incidents/{world['incidents']['ongoing'].ticket}/", "/reports/", "/status/"):
        page.goto(path, wait_until="networkidle")
        assert page.locator("html").get_attribute("lang") == "fr"
        visible = page.evaluate("document.body.innerText")
        found += [f"{path}: {text!r}" for text in english if text in visible]
        found += [f"{path}: 'Sev N'" for _ in re.findall(r"\bSev \d", visible)]
        found += [f"{path}: ISO date" for _ in re.findall(r"\b20\d\d-\d\d-\d\d\b", visible)]
    context.close()
    assert not found, "\n".join(found)


def test_the_language_switch_turns_the_interface_french_and_back(page, leader_user, world):
    browser_login(page, leader_user, PASSWORD)
    page.goto("/incidents/")
    page.click("a[hreflang=fr]")
    page.wait_for_url("**/incidents/")
    assert page.locator("h1").inner_text() == "Incidents"
    assert page.locator("button", has_text="Filtrer").count() == 1
    page.click("a[hreflang=en]")
    assert page.locator("button", has_text="Filter").count() == 1


def test_an_engineer_reads_the_timeline_by_touch(browser, live_server, world, engineer_user):
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORTS["phone"], has_touch=True,
                                  is_mobile=True, locale="en-GB")  # fmt: skip
    page = context.new_page()
    browser_login(page, engineer_user, PASSWORD)
    page.goto("/")
    _wait(page, "!!(window.beaconTimeline && window.beaconTimeline.data.datasets.length > 0)")
    page.locator("#timeline").scroll_into_view_if_needed()
    short = world["incidents"]["short"]
    info = page.evaluate(
        """(ticket) => {
          const c = window.beaconTimeline;
          for (let d = 0; d < c.data.datasets.length; d++) {
            const i = c.data.datasets[d].data.findIndex(p => p.ticket === ticket);
            if (i >= 0) {
              const el = c.getDatasetMeta(d).data[i];
              const box = c.canvas.getBoundingClientRect();
              const p = el.getCenterPoint();
              return {x: box.left + p.x, y: box.top + p.y, width: Math.abs(el.width), lanes: c.data.labels.length};
            }
          }
          return null;
        }""",
        short.ticket,
    )
    assert info is not None
    assert info["width"] >= 7  # a 25-minute Sev 1 on a week-long chart is still visible
    # The short Sev 1 overlaps the long Sev 4 on the same service: they get separate lanes.
    assert info["lanes"] > len(world["services"])
    page.touchscreen.tap(info["x"], info["y"])
    tooltip = page.locator("#timeline-tooltip")
    tooltip.wait_for(state="visible")
    assert short.ticket in tooltip.inner_text()
    assert page.url.endswith("/")  # the first tap only shows the tooltip
    page.touchscreen.tap(info["x"], info["y"])
    page.wait_for_url(f"**/incidents/{short.ticket}/")
    context.close()


def test_the_timeline_has_empty_rows_a_now_line_and_severity_toggles(page, engineer_user, world):
    browser_login(page, engineer_user, PASSWORD)
    page.goto("/")
    _wait(page, "!!window.beaconTimeline")
    ticks = page.evaluate("window.beaconTimeline.scales.y.ticks.map(t => t.label)")
    assert "Mobile App API · no incidents" in ticks
    count = "window.beaconTimeline.data.datasets.filter(d => !d.hidden).reduce((n, d) => n + d.data.length, 0)"
    before = page.evaluate(count)
    page.click(".legend-toggle[data-severity='4']")
    assert page.locator(".legend-toggle[data-severity='4']").get_attribute("aria-pressed") == "false"
    assert page.evaluate(count) < before
    assert page.evaluate("window.beaconTimeline.config.plugins.some(p => p.id === 'nowLine')")


def test_dragging_across_the_timeline_zooms_and_the_url_keeps_it(page, engineer_user, world):
    browser_login(page, engineer_user, PASSWORD)
    page.goto("/")
    _wait(page, "!!window.beaconTimeline")
    page.locator("#timeline").scroll_into_view_if_needed()
    area = page.evaluate(
        "(() => { const c = window.beaconTimeline, b = c.canvas.getBoundingClientRect(), a = c.chartArea;"
        " return {x0: b.left + a.left + 40, x1: b.left + a.left + 200, y: b.top + (a.top + a.bottom) / 2}; })()"
    )
    page.mouse.move(area["x0"], area["y"])
    page.mouse.down()
    page.mouse.move(area["x1"], area["y"], steps=5)
    page.mouse.up()
    page.wait_for_url(re.compile(r"since=.*until="))
    assert "since=" in page.url and "range=" not in page.url
    data = "JSON.parse(document.getElementById('timeline-data').textContent)"
    span = page.evaluate(f"(() => {{ const d = {data}; return d.end - d.start; }})()")
    assert span < 7 * 24 * 3600 * 1000


def test_a_tap_on_a_status_day_shows_its_incidents(browser, live_server, world):
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORTS["phone"], has_touch=True,
                                  is_mobile=True, locale="en-GB")  # fmt: skip
    page = context.new_page()
    page.goto("/status/")
    day = page.locator("[data-service='search'] button.day").first
    day.tap()
    detail = page.locator("#detail-search")
    assert "Recherche indisponible" in detail.inner_text()
    context.close()


def test_the_dashboard_refreshes_its_data_without_a_reload(page, engineer_user, world, settings):
    settings.LIVE_REFRESH_SECONDS = 1
    browser_login(page, engineer_user, PASSWORD)
    page.goto("/")
    page.evaluate("window.__notReloaded = true")
    assert "Base de données" not in page.locator("#ongoing").inner_text()
    incident_services.incident_open(
        title="Base de données saturée", severity=1, services=[world["services"]["Search"]], by=engineer_user,
        notify=False,
    )  # fmt: skip
    _wait(page, "document.querySelector('#ongoing').innerText.includes('Base de données saturée')")
    assert page.evaluate("window.__notReloaded") is True


def test_live_refresh_pauses_while_the_tab_is_hidden(page, engineer_user, world, settings):
    settings.LIVE_REFRESH_SECONDS = 1
    browser_login(page, engineer_user, PASSWORD)
    polls = []
    page.on("request", lambda r: polls.append(r.url) if r.headers.get("x-beacon-live") else None)
    page.goto("/")
    page.wait_for_timeout(1500)
    assert polls, "the dashboard polls while visible"
    page.evaluate(
        "Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    polls.clear()
    page.wait_for_timeout(2500)
    assert polls == []
    page.evaluate(
        "Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    page.wait_for_timeout(1500)
    assert polls, "polling resumes when the tab is shown again"
