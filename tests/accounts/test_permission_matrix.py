"""The permission matrix: every URL pattern Django resolves × every persona × read and
write, against the one declared table (config.access.URL_RULES → config.roles.RULES).

A URL without a declared rule fails here; so does a view that decides access by itself
differently from the table (e.g. its own permission_classes)."""

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from config.access import DECLARED_AHEAD, URL_RULES, rule_for
from config.roles import RULES, can
from tests.conftest import _user, api_key

PERSONAS = ("anonymous", "helpdesk", "engineer", "leadership", "staff", "no group", "superuser")

# What each rule means, written out by hand: who may read, who may write.
EVERY_ROLE = {"helpdesk", "engineer", "leadership", "staff", "superuser"}
SIGNED_IN = {"helpdesk", "engineer", "leadership", "staff", "no group", "superuser"}
EXPECTED = {
    "public": (set(PERSONAS), set(PERSONAS)),
    "signature": (set(PERSONAS), set(PERSONAS)),
    "signed_in": (SIGNED_IN, SIGNED_IN),
    "staff": ({"staff", "superuser"}, {"staff", "superuser"}),
    "read_incidents": (EVERY_ROLE, {"helpdesk", "engineer", "superuser"}),
    "file_incidents": ({"helpdesk", "engineer", "superuser"}, {"helpdesk", "engineer", "superuser"}),
    "postmortems": (EVERY_ROLE, {"engineer", "superuser"}),
    "correct_records": ({"engineer", "superuser"}, {"engineer", "superuser"}),
    "read_reports": (
        {"engineer", "leadership", "staff", "superuser"},
        {"engineer", "leadership", "staff", "superuser"},
    ),
    "operations": (EVERY_ROLE, {"engineer", "staff", "superuser"}),
    "batch_runs": (EVERY_ROLE, {"helpdesk", "engineer", "staff", "superuser"}),
    "maintenance": (EVERY_ROLE, {"engineer", "staff", "superuser"}),
    "maintenance_forms": ({"engineer", "staff", "superuser"}, {"engineer", "staff", "superuser"}),
    "alert_webhook": ({"helpdesk", "engineer", "superuser"}, {"helpdesk", "engineer", "superuser"}),
}

SAMPLES = {
    "ticket": "INC-999999",
    "pk": "999999",
    "month": "2999-01",
    "version": "1",
    "slug": "no-such-client",
    "object_id": "999999",
    "content_type_id": "999999",
    "app_label": "incidents",
    "uidb64": "MQ",
    "token": "set-password",
    "url": "no/such/page/",
    "id": "999999",
    "job_id": "999999",
}
# Views that end the session: the persona signs in again after them.
SIGN_OUT = {"logout", "admin:logout"}


def _walk(resolver, prefix="", namespace=""):
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            ns = pattern.namespace or ""
            full_ns = f"{namespace}:{ns}" if namespace and ns else (ns or namespace)
            yield from _walk(pattern, prefix + str(pattern.pattern), full_ns)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield prefix + str(pattern.pattern), name


def _sample_url(route: str) -> str:
    url = re.sub(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)", lambda m: SAMPLES[m.group(1)], route)
    url = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: SAMPLES[m.group(1)], url)
    url = url.replace("^", "").replace("$", "").replace("\\.", ".")
    return "/" + url


def all_patterns() -> list[tuple[str, str | None]]:
    return list(_walk(get_resolver()))


def test_the_declared_rules_mean_what_the_table_says():
    assert set(RULES) == set(EXPECTED)


def test_every_url_pattern_has_a_declared_rule_and_every_declared_name_exists():
    missing = []
    names = set()
    for route, name in all_patterns():
        url = _sample_url(route)
        match = resolve(url)
        names.add(match.view_name)
        if rule_for(match) is None:
            missing.append(f"{route} ({name or match.view_name})")
    assert not missing, "URLs without a declared access rule in config.access.URL_RULES:\n" + "\n".join(missing)
    unknown = {rule for rule in URL_RULES.values() if rule not in RULES}
    assert not unknown
    absent = {n for n in URL_RULES if not n.endswith(":*") and n not in names} - DECLARED_AHEAD
    assert not absent, f"declared but no such URL: {sorted(absent)}"


def _personas(admin_user):
    users = {
        "helpdesk": _user("m-helpdesk", "helpdesk"),
        "engineer": _user("m-engineer", "engineer"),
        "leadership": _user("m-leader", "leadership"),
        "staff": _user("m-staff", is_staff=True),
        "no group": _user("m-nobody"),
        "superuser": admin_user,
    }
    return users


def _expected(persona: str, rule: str, write: bool) -> bool:
    if rule == "signature":
        return False  # no session or token opens a signed webhook: an unsigned request is refused
    readers, writers = EXPECTED[rule]
    return persona in (writers if write else readers)


def _observed_allowed(response, url: str, match) -> bool:
    """Refused by the access rule: a page's 403 carries X-Access-Rule (a 403 without it is
    the view's own, e.g. the admin's read-only models); the API's 401/403 come only from
    its permission; anonymous visitors of pages are sent to the sign-in page."""
    if response.status_code in (401, 403):
        return not (response.has_header("X-Access-Rule") or url.startswith("/api/"))
    # Refusals send to the sign-in page with ?next= (sign-out and the admin's login page
    # redirect there too, without it).
    return not (response.status_code == 302 and response["Location"].startswith("/accounts/login/?next="))


@pytest.mark.django_db(transaction=False)
def test_every_url_answers_every_persona_as_the_declared_table_says(admin_user, settings):
    settings.STATUS_PAGE_ENABLED = True
    settings.PAGERDUTY_WEBHOOK_SECRET = "matrix-secret"  # configured, so unsigned calls get 401
    users = _personas(admin_user)
    clients, keys = {}, {}
    for persona in PERSONAS:
        clients[persona] = Client()
        if persona != "anonymous":
            clients[persona].force_login(users[persona])
            # The API is also called with the persona's token (webhooks accept only tokens).
            keys[persona] = api_key(users[persona])
    mismatches = []
    for route, _name in all_patterns():
        url = _sample_url(route)
        match = resolve(url)
        rule = rule_for(match)
        for persona in PERSONAS:
            # The table and can() agree for every persona.
            user = users.get(persona)
            for write in (False, True):
                expected = _expected(persona, rule, write)
                if user is not None and rule != "signature" and can(user, rule, write=write) != expected:
                    mismatches.append(f"can({persona}, {rule}, write={write}) != {expected}")
                client = clients[persona]
                extra = (
                    {"HTTP_AUTHORIZATION": f"Bearer {keys[persona]}"}
                    if url.startswith("/api/v1/") and persona in keys
                    else {}
                )
                response = client.post(url, **extra) if write else client.get(url, **extra)
                observed = _observed_allowed(response, url, match)
                if observed != expected:
                    mismatches.append(
                        f"{'POST' if write else 'GET'} {url} as {persona}: {response.status_code}, "
                        f"rule {rule} says {'allowed' if expected else 'denied'}"
                    )
                if match.view_name in SIGN_OUT and persona != "anonymous":
                    client.force_login(users[persona])
    assert not mismatches, f"{len(mismatches)} mismatches:\n" + "\n".join(mismatches[:80])


def test_an_undeclared_page_is_refused_at_run_time(client, engineer_user, monkeypatch):
    from config import access

    monkeypatch.delitem(access.URL_RULES, "metrics:overview")
    client.force_login(engineer_user)
    assert client.get("/metrics/").status_code == 403
