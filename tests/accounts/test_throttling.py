"""Failed sign-ins are locked out per user and per address (django-axes); bad API tokens
and password-reset requests are rate-limited per address."""

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from audit.choices import Action
from audit.models import AuditEntry
from tests.conftest import PASSWORD, api_key

pytestmark = pytest.mark.django_db


def sign_in(client, username, password, address="10.0.0.7"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def test_after_five_wrong_passwords_the_account_is_locked_even_for_the_right_one(client, engineer_user, settings):
    settings.AXES_FAILURE_LIMIT = 5
    for attempt in range(4):
        assert sign_in(client, "eli", f"wrong-{attempt}").status_code == 200
    response = sign_in(client, "eli", "wrong-5")
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()

    # From another address too, and with the right password: the account is locked.
    response = sign_in(client, "eli", PASSWORD, address="10.0.0.8")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert AuditEntry.objects.filter(action=Action.LOCKED_OUT, actor_name="eli").exists()
    assert AuditEntry.objects.filter(action=Action.SIGN_IN_FAILED, actor_name="eli").count() >= 5


def test_one_address_trying_many_accounts_is_locked(client, engineer_user, leader_user, settings):
    settings.AXES_FAILURE_LIMIT = 5
    for n in range(5):
        sign_in(client, f"user{n}", "guess", address="10.9.9.9")
    response = sign_in(client, "lena", PASSWORD, address="10.9.9.9")
    assert response.status_code == 429
    # Lena herself, from her own address, is not locked out.
    assert sign_in(client, "lena", PASSWORD, address="10.0.0.20").status_code == 302


def test_a_lockout_ends_after_the_cool_off(client, engineer_user, settings):
    from axes.models import AccessAttempt
    from django.utils import timezone

    settings.AXES_FAILURE_LIMIT = 3
    for n in range(3):
        sign_in(client, "eli", f"wrong-{n}")
    assert sign_in(client, "eli", PASSWORD).status_code == 429
    # As if the cool-off (LOGIN_LOCKOUT_MINUTES) had passed.
    AccessAttempt.objects.update(attempt_time=timezone.now() - timezone.timedelta(hours=1))
    assert sign_in(client, "eli", PASSWORD).status_code == 302


def test_a_right_password_before_the_limit_signs_in_and_clears_the_count(client, engineer_user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    sign_in(client, "eli", "wrong")
    sign_in(client, "eli", "wrong")
    assert sign_in(client, "eli", PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    sign_in(client, "eli", "wrong")
    sign_in(client, "eli", "wrong")
    assert sign_in(client, "eli", PASSWORD).status_code == 302


def test_bad_api_tokens_from_one_address_are_throttled(engineer_user, settings):
    settings.API_TOKEN_FAILURE_LIMIT = 3
    client = APIClient(REMOTE_ADDR="10.1.1.1")
    for n in range(3):
        assert client.get("/api/v1/services/", HTTP_AUTHORIZATION=f"Bearer guess-{n}").status_code in (401, 403)
    response = client.get("/api/v1/services/", HTTP_AUTHORIZATION="Bearer guess-4")
    assert response.status_code == 429
    assert "bad token" in response.json()["detail"]
    # Another address with a good token is served.
    key = api_key(engineer_user)
    assert (
        APIClient(REMOTE_ADDR="10.1.1.2").get("/api/v1/services/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code
        == 200
    )


def test_password_reset_requests_are_rate_limited(client, mailbox, engineer_user, settings):
    settings.PASSWORD_RESET_LIMIT = 2
    for _ in range(2):
        response = client.post("/accounts/password_reset/", {"email": "eli@example.com"}, REMOTE_ADDR="10.2.2.2")
        assert response.status_code == 302
    response = client.post("/accounts/password_reset/", {"email": "eli@example.com"}, REMOTE_ADDR="10.2.2.3")
    assert response.status_code == 429
    assert "Too many password reset requests" in response.content.decode()
    assert len(mailbox.wait_for(2)) == 2
    assert User.objects.get(username="eli").check_password(PASSWORD)


def test_behind_a_trusted_proxy_each_client_address_counts_apart(client, engineer_user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.TRUSTED_PROXY_IPS = ["10.0.0.1"]

    def through_proxy(forwarded, password="wrong"):
        return client.post(
            "/accounts/login/", {"username": f"guess-{forwarded}", "password": password},
            REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded,
        )  # fmt: skip

    for _ in range(3):
        through_proxy("203.0.113.9")
    assert through_proxy("203.0.113.9").status_code == 429
    # Another client behind the same proxy is not locked out; a forged left part changes nothing.
    assert through_proxy("198.51.100.7").status_code == 200
    assert through_proxy("1.2.3.4, 203.0.113.9").status_code == 429
    assert through_proxy("not-an-address").status_code == 200  # counted against the proxy, never a 500
    # The header from anyone else is ignored: the sender's own address counts.
    response = client.post(
        "/accounts/login/", {"username": "eli", "password": PASSWORD},
        REMOTE_ADDR="192.0.2.50", HTTP_X_FORWARDED_FOR="203.0.113.9",
    )  # fmt: skip
    assert response.status_code == 302
