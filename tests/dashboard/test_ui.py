"""Issue 15 without a browser: language, formats, CSP, the cached status page, the 403 page,
the "and N more" links and the timeline's rows."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone, translation

from config.formatting import format_number, format_percent, format_when
from dashboard.selectors import public_service_status
from tests.conftest import login
from tests.dashboard.test_home import chart as embedded_chart

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


# --- one format helper, localised ---------------------------------------------------


def test_dates_and_numbers_follow_the_active_language(settings):
    settings.TIME_ZONE = "UTC"
    moment = datetime(2026, 3, 4, 5, 6, tzinfo=UTC)
    with translation.override("en-gb"):
        assert format_when(moment) == "2026-03-04 05:06"
        assert format_when(moment, zone=True) == "2026-03-04 05:06 UTC"
        assert format_when(date(2026, 3, 4), "date") == "2026-03-04"
        assert format_number(12345.678, 1) == "12,345.7"
        assert format_percent(99.955, 2) == "99.96\u00a0%"
    with translation.override("fr"):
        assert format_when(moment) == "04/03/2026 05:06"
        assert format_when(date(2026, 3, 4), "date") == "04/03/2026"
        assert format_number(12345.678, 1) == "12\u202f345,7"
        assert format_percent(99.5, 1) == "99,5\u00a0%"
    assert format_when(None) == ""


def test_formatted_times_follow_a_change_of_zone_or_language_on_the_same_value(settings):
    """Formatting is memoised per value; the active zone and language must still decide the text."""
    settings.TIME_ZONE = "UTC"
    moment = datetime(2026, 7, 4, 5, 6, tzinfo=UTC)
    with translation.override("en-gb"):
        assert format_when(moment, zone=True) == "2026-07-04 05:06 UTC"
        with timezone.override("Europe/Paris"):
            assert format_when(moment, zone=True) == "2026-07-04 07:06 CEST"
        settings.TIME_ZONE = "America/New_York"
        assert format_when(moment, zone=True) == "2026-07-04 01:06 EDT"
    with translation.override("fr"):
        assert format_when(moment) == "04/07/2026 01:06"


def test_an_unknown_date_style_is_an_error_not_a_guess():
    with pytest.raises(ValueError):
        format_when(datetime(2026, 1, 1, tzinfo=UTC), "fancy")


# --- language -----------------------------------------------------------------------


def test_the_browser_language_picks_french(client, services):
    html = client.get("/status/", HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9").content.decode()
    assert '<html lang="fr">' in html
    assert "Tous les systèmes sont opérationnels" in html
    assert "All systems operational" not in html


def test_the_language_switch_stores_the_choice_and_returns_to_the_page(client, services):
    response = client.get("/i18n/language/?language=fr&next=/status/")
    assert response.status_code == 302 and response["Location"] == "/status/"
    assert response.cookies["django_language"].value == "fr"
    html = client.get("/status/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Tous les systèmes sont opérationnels" in html


def test_the_language_switch_never_redirects_to_another_site(client):
    response = client.get("/i18n/language/?language=fr&next=https://evil.example/")
    assert response["Location"] == "/"
    response = client.get("/i18n/language/?language=xx&next=/status/")
    assert "django_language" not in response.cookies


# --- self-contained pages -----------------------------------------------------------


def test_every_page_has_a_content_security_policy_without_inline_scripts(client, engineer_user, services):
    login(client, engineer_user)
    for path in ("/", "/incidents/", "/status/", "/metrics/", "/automation/", "/batches/", "/maintenance/"):
        response = client.get(path)
        assert response.status_code == 200, path
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
        html = response.content.decode()
        inline = [m for m in re.findall(r"<script([^>]*)>", html) if "src=" not in m and "application/json" not in m]
        assert inline == [], (path, inline)
        assert not re.search(r"""(src|href)=["']https?://""", html), path


def test_the_api_docs_load_swagger_ui_from_our_own_static_files(client, engineer_user):
    login(client, engineer_user)
    html = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "https://" not in html
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()
    redoc = client.get("/api/redoc/").content.decode()
    assert "/static/drf_spectacular_sidecar/redoc/" in redoc and "fonts.googleapis" not in redoc


# --- the public status page ------------------------------------------------------------


@pytest.mark.parametrize(
    "open_incidents, expected",
    [
        ([], "operational"),
        ([(4, "investigating")], "degraded"),
        ([(4, "monitoring")], "operational"),
        ([(3, "monitoring")], "operational"),
        ([(3, "identified")], "degraded"),
        ([(2, "monitoring")], "degraded"),
        ([(1, "investigating")], "outage"),
        ([(4, "investigating"), (2, "identified")], "outage"),
    ],
)
def test_the_public_status_rule(open_incidents, expected):
    assert public_service_status(open_incidents) == expected


def test_a_sev_4_with_its_fix_deployed_leaves_the_service_operational(client, make_incident, now):
    make_incident(started_at=now - timedelta(hours=1), severity=4, on=("payments",), updates=[{"status": "monitoring"}])
    html = client.get("/status/").content.decode()
    assert "All systems operational" in html
    row = html[html.index('data-service="payments"') :]
    assert 'status-pill operational">Operational' in row[:2000]
    assert 'id="status-rules"' in html and "How a service" in html


def test_each_service_shows_its_90_day_uptime(client, make_incident, now):
    make_incident(started_at=now - timedelta(days=3, hours=9), resolved_at=now - timedelta(days=3), severity=1,
                  on=("payments",))  # fmt: skip
    make_incident(started_at=now - timedelta(days=2, hours=5), resolved_at=now - timedelta(days=2), severity=3,
                  on=("web",))  # fmt: skip
    html = client.get("/status/").content.decode()
    payments = html[html.index('data-service="payments"') :]
    web = html[html.index('data-service="web"') :]
    uptime = float(re.search(r'class="uptime[^>]*>([\d.]+)', payments).group(1))
    assert 99.4 < uptime < 99.7  # 9 h of 89–90 days
    assert re.search(r'class="uptime[^>]*>100.00', web)  # Sev 3 is not downtime


def test_a_day_with_incidents_can_be_opened_by_keyboard_or_tap(client, make_incident, now):
    make_incident(started_at=now - timedelta(days=1, hours=2), resolved_at=now - timedelta(days=1, hours=1),
                  severity=2, on=("web",), title="Checkout slow")  # fmt: skip
    html = client.get("/status/").content.decode()
    assert re.search(r'<button type="button" class="day sev-2" data-detail="web-\d+"', html)
    template = html[html.index('<template id="day-web-') :]
    assert "Checkout slow" in template[: template.index("</template>")]


def test_the_status_page_is_cached_with_an_etag_and_a_repeat_gets_304(client, services):
    first = client.get("/status/")
    etag = first["ETag"]
    assert etag and "public" in first["Cache-Control"]
    again = client.get("/status/", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b""


def test_a_change_to_an_incident_invalidates_the_cached_status_page(client, make_incident, now):
    etag = client.get("/status/")["ETag"]
    make_incident(started_at=now - timedelta(minutes=10), severity=1, on=("web",), title="Storefront down")
    response = client.get("/status/", HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200
    assert "Storefront down" in response.content.decode() and response["ETag"] != etag


def test_the_cached_page_is_per_language(client, services):
    assert "All systems operational" in client.get("/status/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    french = client.get("/status/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Tous les systèmes sont opérationnels" in french


def test_signed_in_users_get_their_own_fresh_page(client, engineer_user, services):
    login(client, engineer_user)
    response = client.get("/status/")
    assert "private" in response["Cache-Control"] and "ETag" not in response
    assert engineer_user.username in response.content.decode()


# --- dashboard ----------------------------------------------------------------------


def test_and_n_more_postmortems_links_to_the_whole_filtered_list(client, make_incident, engineer_user, now):
    for n in range(8):
        make_incident(started_at=now - timedelta(days=20 + n, hours=2), resolved_at=now - timedelta(days=20 + n),
                      severity=2, title=f"Outage {n}")  # fmt: skip
    login(client, engineer_user)
    html = client.get("/").content.decode()
    assert 'href="/incidents/?flag=postmortem-due" id="more-postmortems">and 3 more' in html
    listed = client.get("/incidents/?flag=postmortem-due").content.decode()
    assert all(f"Outage {n}" in listed for n in range(8))
    assert 'id="flag-filter"' in listed


def test_the_timeline_has_a_row_for_every_service_even_without_incidents(client, make_incident, helpdesk_user, now):
    make_incident(started_at=now - timedelta(hours=3), severity=2, on=("web",))
    login(client, helpdesk_user)
    response = client.get("/")
    chart = embedded_chart(response)
    assert set(chart["services"]) == {"web", "payments"}
    assert chart["empty_services"] == ["payments"]
    only = embedded_chart(client.get("/?service=payments"))
    assert set(only["services"]) == {"payments"}


def test_a_zoomed_range_from_the_url_is_exact(client, make_incident, helpdesk_user, now):
    make_incident(started_at=now - timedelta(hours=30), resolved_at=now - timedelta(hours=29), severity=1)
    login(client, helpdesk_user)
    since = (now - timedelta(hours=31)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M+00:00")
    until = (now - timedelta(hours=28)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M+00:00")
    response = client.get("/", {"since": since, "until": until})
    chart = embedded_chart(response)
    assert chart["end"] - chart["start"] == 3 * 3600 * 1000
    assert len(chart["incidents"]) == 1
    assert client.get("/", {"since": until, "until": since}).context["form"].errors


# --- the 403 page -------------------------------------------------------------------


def test_the_403_page_knows_the_user_has_no_role(client, outsider):
    login(client, outsider)
    html = client.get("/").content.decode()
    assert "has no Beacon role yet" in html


def test_the_403_page_does_not_tell_a_member_to_join_a_group_they_are_in(client, helpdesk_user):
    login(client, helpdesk_user)
    response = client.get("/reports/")
    html = response.content.decode()
    assert response.status_code == 403
    assert "Your role is helpdesk" in html
    assert "add you to the helpdesk" not in html


# --- emails and PDF in French ---------------------------------------------------------


def test_incident_emails_are_written_in_the_configured_language(make_incident, now, settings):
    from incidents.notifications import render_update

    settings.EMAIL_LANGUAGE = "fr"
    incident = make_incident(started_at=now - timedelta(hours=1), severity=2, title="Paiements en échec")
    rendered = render_update(incident.updates.first())
    assert "Paiements en échec" in rendered["subject"]
    assert "Gravité" in rendered["text"] and "Severity" not in rendered["text"]
    assert "Grav. 2 – majeur" in rendered["text"] and "Suivre l'incident" in rendered["text"]


def test_a_cached_status_page_costs_no_database_query_and_is_sent_gzipped(client, services, settings):
    import gzip

    settings.STATUS_PAGE_CACHE_SECONDS = 30

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    plain = client.get("/status/").content
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/status/", HTTP_ACCEPT_ENCODING="gzip, deflate")
    assert len(queries) == 0
    assert response["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.content) == plain
    again = client.get("/status/", HTTP_ACCEPT_ENCODING="gzip", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304


def test_the_monthly_report_pdf_is_written_in_the_report_language(services, settings):
    from reports import selectors as report_selectors
    from reports.pdf import render_html
    from reports.uptime import Month

    settings.REPORT_LANGUAGE = "fr"
    html = render_html(report_selectors.monthly_report(month=Month(2025, 3), include_http_5xx=False))
    assert "Rapport de disponibilité" in html and "mars 2025" in html
    assert "How these figures are calculated" not in html and "Comment ces chiffres sont calculés" in html
    settings.REPORT_LANGUAGE = "en-gb"
    english = render_html(report_selectors.monthly_report(month=Month(2025, 3), include_http_5xx=False))
    assert "How these figures are calculated" in english and "March 2025" in english


def test_the_batch_monitoring_page_has_live_regions(client, engineer_user):
    login(client, engineer_user)
    html = client.get("/batches/").content.decode()
    assert 'id="tiles" data-live' in html and 'id="needs-attention" data-live' in html
    assert 'data-live-seconds="30"' in html


def test_the_browsable_api_keeps_working_under_the_policy(client, engineer_user):
    login(client, engineer_user)
    browsable = client.get("/api/v1/incidents/", HTTP_ACCEPT="text/html")
    assert browsable.status_code == 200
    assert "'unsafe-inline'" in browsable["Content-Security-Policy"].split("script-src")[1].split(";")[0]
    page = client.get("/incidents/")
    assert "'unsafe-inline'" not in page["Content-Security-Policy"].split("script-src")[1].split(";")[0]


def test_no_template_uses_inline_event_handlers():
    from pathlib import Path

    from tests.conftest import ROOT

    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "templates").rglob("*.html")
        if re.search(r"""\son[a-z]+=["']""", path.read_text()) or re.search(r"<script>", path.read_text())
    ]
    assert offenders == []
    assert Path(ROOT / "static" / "js" / "beacon.js").exists()
