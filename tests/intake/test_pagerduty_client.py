from datetime import timedelta

import pytest

from integrations.pagerduty import PagerDutyAuthError, PagerDutyClient, PagerDutyError

from .conftest import T0, TOKEN, Fault


def client_for(fake, **options):
    waits = []
    options = {"base_url": fake.url, "token": TOKEN, "page_size": 10, "max_retries": 3, "backoff_factor": 0.5,
               "backoff_max": 4, "retry_after_max": 30, "sleep": waits.append} | options  # fmt: skip
    return PagerDutyClient(**options), waits


@pytest.fixture
def fake(pagerduty):
    for n in range(3):
        pagerduty.add_incident(f"P{n}", created=T0 + timedelta(hours=n))
    return pagerduty


def test_a_429_waits_what_retry_after_says_and_a_5xx_backs_off_exponentially(fake):
    fake.fail("incidents", Fault(status=429, headers={"Retry-After": "7"}), Fault(status=500), Fault(status=503))
    client, waits = client_for(fake)
    pages = list(client.incident_pages(since=T0, until=T0 + timedelta(days=1)))
    assert [i["id"] for p in pages for i in p.incidents] == ["P0", "P1", "P2"]
    assert waits == [7.0, 1.0, 2.0]  # Retry-After, then 0.5 × 2^1, 0.5 × 2^2: one retry layer


def test_a_retry_after_beyond_the_cap_is_capped(fake):
    fake.fail("log_entries", Fault(status=429, headers={"Retry-After": "3600"}))
    client, waits = client_for(fake, retry_after_max=30)
    assert [e["type"] for e in client.log_entries("P0")] == ["trigger_log_entry"]
    assert waits == [30]


def test_a_refused_token_is_not_retried(fake):
    client, waits = client_for(fake, token="wrong")
    with pytest.raises(PagerDutyAuthError, match=r"HTTP 401: Unauthorized\): check PAGERDUTY_TOKEN"):
        client.incident("P0")
    assert waits == [] and len(fake.log) == 1


def test_giving_up_names_the_last_problem(fake):
    fake.fail("incident", *[Fault(status=500)] * 4)
    client, waits = client_for(fake)
    with pytest.raises(PagerDutyError, match="failed after 4 attempts; last: HTTP 500"):
        client.incident("P0")
    assert len(waits) == 3


def test_the_token_goes_in_pagerdutys_header_and_a_missing_incident_is_none(fake):
    client, _ = client_for(fake)
    assert client.incident("NOPE") is None
    assert client.session.headers["Authorization"] == f"Token token={TOKEN}"


def test_the_environments_proxy_is_used_and_a_netrc_does_not_replace_the_token(fake, monkeypatch, tmp_path):
    """Proxy settings are read once per client, not per request; they still apply."""
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", fake.url)  # the fake answers absolute URIs as a proxy would
    (tmp_path / ".netrc").write_text("machine pagerduty.invalid login someone password secret\n")
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    client, _ = client_for(fake, base_url="http://pagerduty.invalid")
    pages = list(client.incident_pages(since=T0, until=T0 + timedelta(days=1)))
    assert [i["id"] for p in pages for i in p.incidents] == ["P0", "P1", "P2"]
    assert client.log_entries("P0")[0]["type"] == "trigger_log_entry"
