"""API tokens: owned by a user, named, optional expiry, last use shown, revocable; only a
hash of the key is stored; ``create_token`` prints the key as the last word."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from audit.choices import Action
from audit.models import AuditEntry
from tests.conftest import api_key

pytestmark = pytest.mark.django_db


def create_token(*args) -> str:
    out = StringIO()
    call_command("create_token", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("keyword", ["Token", "Bearer"])
def test_create_token_prints_a_key_that_works_with_both_keywords(engineer_user, keyword):
    output = create_token("eli", "--name", "grafana", "--expires-days", "30")
    key = output.split()[-1]

    response = APIClient().get("/api/v1/services/", HTTP_AUTHORIZATION=f"{keyword} {key}")

    assert response.status_code == 200
    token = ApiToken.objects.get(user=engineer_user)
    assert token.name == "grafana"
    assert timedelta(days=29, hours=23) < token.expires_at - timezone.now() <= timedelta(days=30)
    assert token.last_used_at is not None


def test_only_a_hash_of_the_key_is_stored(engineer_user):
    key = create_token("eli").split()[-1]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apitoken")
        stored = " ".join(str(value) for row in cursor.fetchall() for value in row)
    assert key not in stored
    assert key[:8] in stored  # the prefix that identifies it on the page


def test_create_token_names_an_unknown_user_and_a_bad_expiry(engineer_user):
    with pytest.raises(CommandError, match="no user 'nobody'"):
        create_token("nobody")
    with pytest.raises(CommandError, match="expires_days"):
        create_token("eli", "--expires-days", "0")
    assert not ApiToken.objects.exists()


def test_an_expired_token_is_refused(engineer_user):
    key = api_key(engineer_user, expires_days=1)
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = APIClient().get("/api/v1/services/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code in (401, 403)
    assert response.json()["detail"] == "Invalid token."


def test_the_owner_creates_sees_and_revokes_a_token_on_the_tokens_page(client, engineer_user):
    client.force_login(engineer_user)
    response = client.post("/accounts/tokens/", {"name": "cron job", "expires_days": ""})
    assert response.status_code == 201
    key = response.context["new_key"]
    assert key in response.content.decode()
    assert APIClient().get("/api/v1/services/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200

    page = client.get("/accounts/tokens/").content.decode()
    assert "cron job" in page and key not in page and key[:8] in page and "never" in page

    token = ApiToken.objects.get(name="cron job")
    assert client.post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 302
    assert APIClient().get("/api/v1/services/", HTTP_AUTHORIZATION=f"Token {key}").status_code in (401, 403)
    assert AuditEntry.objects.filter(action=Action.TOKEN_REVOKE, actor=engineer_user).exists()
    assert AuditEntry.objects.filter(action=Action.TOKEN_CREATE, actor=engineer_user).exists()


def test_a_token_without_a_name_is_a_form_error_and_nothing_is_created(client, engineer_user):
    client.force_login(engineer_user)
    response = client.post("/accounts/tokens/", {"name": "  ", "expires_days": "-3"})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"name", "expires_days"}
    assert not ApiToken.objects.exists()


def test_nobody_can_revoke_another_users_token(client, engineer_user, helpdesk_user):
    api_key(engineer_user, name="eli's")
    token = ApiToken.objects.get()
    client.force_login(helpdesk_user)
    assert client.post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
