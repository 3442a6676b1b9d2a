"""OpenID Connect sign-in against a real provider process (django-oidc-provider), through
Chromium: the button, the provider's login, back to Beacon with the role of the groups."""

import re
from urllib.parse import parse_qs, urljoin, urlparse

import pytest
import requests
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore

from audit.choices import Action
from audit.models import AuditEntry

from .conftest import PROVIDER_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in_with_provider(page, username, *, provider_login=True):
    page.goto("/accounts/login/")
    page.click("#sso-sign-in")
    if provider_login:
        page.wait_for_selector("#provider-login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PROVIDER_PASSWORD)
        page.click("#provider-submit")


def test_a_new_user_signs_in_with_the_company_account_and_gets_the_role_of_their_group(page, beacon_oidc, live_server):
    beacon_oidc.set_groups({"pat": ["Platform Engineers", "Coffee Club"]})

    page.goto("/accounts/login/")
    assert page.locator("#sso-sign-in").inner_text() == "Sign in with Example Corp"
    sign_in_with_provider(page, "pat")
    page.wait_for_url(f"{live_server.url}/")

    pat = User.objects.get(username="pat")
    assert set(pat.groups.values_list("name", flat=True)) == {"engineer"}
    assert pat.email == "pat@example.com" and pat.first_name == "Pat"
    assert not pat.has_usable_password()
    assert page.get_by_role("link", name="Report incident").is_visible()  # engineers file incidents
    assert AuditEntry.objects.filter(action=Action.SIGN_IN, actor=pat, summary="with openid-connect").exists()


def test_a_user_removed_from_the_group_loses_the_role_at_the_next_sign_in(page, beacon_oidc, live_server):
    beacon_oidc.set_groups({"quinn": ["Executives", "Beacon Admins"]})
    sign_in_with_provider(page, "quinn")
    page.wait_for_url(f"{live_server.url}/")
    quinn = User.objects.get(username="quinn")
    assert set(quinn.groups.values_list("name", flat=True)) == {"leadership"} and quinn.is_staff

    beacon_oidc.set_groups({"quinn": []})
    page.click("text=Log out")
    page.wait_for_url("**/accounts/login/")
    # Still signed in at the provider: straight back without its login form.
    sign_in_with_provider(page, "quinn", provider_login=False)
    page.wait_for_url(f"{live_server.url}/")

    quinn.refresh_from_db()
    assert list(quinn.groups.values_list("name", flat=True)) == []
    assert not quinn.is_staff
    assert page.locator("h1").first.inner_text()  # the 403 page, rendered
    assert page.goto("/reports/").status == 403
    removed = AuditEntry.objects.filter(
        action=Action.ROLE_CHANGE, object_repr="quinn", changes__has_key="groups removed"
    )
    assert removed.exists()


def _flow_until_callback(live_server, username="robin"):
    """The authorization-code flow by plain HTTP up to the provider's redirect back to
    Beacon, stopped there; returns the session (Beacon's cookie included) and that URL."""
    http = requests.Session()
    response = http.get(f"{live_server.url}/oidc/authenticate/", allow_redirects=False)
    assert response.status_code == 302
    authorize = response.headers["Location"]
    response = http.get(authorize, allow_redirects=False)  # not signed in there: to its login form
    login_url = urljoin(authorize, response.headers["Location"])
    form = http.get(login_url)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    next_url = parse_qs(urlparse(login_url).query)["next"][0]
    response = http.post(
        login_url,
        data={"csrfmiddlewaretoken": csrf, "username": username, "password": PROVIDER_PASSWORD, "next": next_url},
        headers={"Referer": login_url},
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text[:500]
    response = http.get(urljoin(login_url, response.headers["Location"]), allow_redirects=False)
    callback = response.headers["Location"]
    assert callback.startswith(f"{live_server.url}/oidc/callback/?"), callback
    return http, callback


def _session(http):
    return SessionStore(session_key=http.cookies.get("sessionid"))


def test_a_callback_with_a_state_beacon_did_not_issue_is_refused(beacon_oidc, live_server):
    beacon_oidc.set_groups({"robin": ["Platform Engineers"]})
    http, url = _flow_until_callback(live_server)
    query = parse_qs(urlparse(url).query)
    forged = f"{live_server.url}/oidc/callback/?code={query['code'][0]}&state=forged-state"

    response = http.get(forged, allow_redirects=False)

    assert response.status_code == 400
    assert not User.objects.filter(username="robin").exists()
    assert http.get(f"{live_server.url}/", allow_redirects=False).headers["Location"].startswith("/accounts/login/")


def test_an_id_token_whose_nonce_does_not_match_is_refused(beacon_oidc, live_server):
    beacon_oidc.set_groups({"robin": ["Platform Engineers"]})
    http, url = _flow_until_callback(live_server)
    state = parse_qs(urlparse(url).query)["state"][0]
    session = _session(http)
    states = session["oidc_states"]
    states[state]["nonce"] = "not-the-nonce-the-provider-signed"
    session["oidc_states"] = states
    session.save()

    response = http.get(url, allow_redirects=False)

    assert response.status_code == 400
    assert not User.objects.filter(username="robin").exists()


def test_the_untouched_callback_signs_in(beacon_oidc, live_server):
    """Control for the two refusals above: the same flow, not tampered with, works."""
    beacon_oidc.set_groups({"robin": ["Service Desk"]})
    http, url = _flow_until_callback(live_server)
    response = http.get(url, allow_redirects=False)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert http.get(f"{live_server.url}/").status_code == 200
    assert list(User.objects.get(username="robin").groups.values_list("name", flat=True)) == ["helpdesk"]


def test_a_provider_that_is_down_sends_people_back_to_the_sign_in_page_with_a_message(client, settings):
    from accounts import oidc
    from tests.conftest import free_port

    oidc._documents.clear()
    settings.OIDC_ENABLED = True
    settings.OIDC_ISSUER = f"http://127.0.0.1:{free_port()}/openid"  # nothing listens there
    settings.OIDC_RP_CLIENT_ID = "beacon"

    response = client.get("/oidc/authenticate/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/?sso=failed"
    page = client.get(response["Location"]).content.decode()
    assert "did not complete" in page
