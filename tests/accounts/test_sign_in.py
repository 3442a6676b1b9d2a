"""The sign-in page, two-factor for password staff, the trusted proxy header, and
configuration from environment variables alone."""

import os
import subprocess
import sys

import pytest
from django.contrib.auth.models import User
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import PASSWORD, ROOT, _user

pytestmark = pytest.mark.django_db


def sign_in(client, username, password=PASSWORD):
    return client.post("/accounts/login/", {"username": username, "password": password})


def current_code(device: TOTPDevice, offset: int = 0) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits) + offset:06d}"[-6:]


# --- two-factor ---------------------------------------------------------------------------


def test_a_staff_member_signing_in_with_a_password_must_set_up_totp_first(client, settings):
    settings.TWO_FACTOR_FOR_STAFF = True
    _user("stella", is_staff=True)
    response = sign_in(client, "stella")
    assert response.status_code == 302

    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/two-factor/")
    assert client.get("/api/v1/services/").status_code == 403
    page = client.get(response["Location"])
    assert page.status_code == 200 and "<svg" in page.content.decode()  # the QR code to scan

    device = TOTPDevice.objects.get(user__username="stella", confirmed=False)
    wrong = client.post("/accounts/two-factor/", {"code": "000000" if current_code(device) != "000000" else "111111"})
    assert wrong.status_code == 400 and "code" in wrong.context["form"].errors
    assert client.get("/admin/").status_code == 302
    # django-otp's back-off doubles with each wrong code; after ten the wait is minutes long.
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=10)
    too_soon = client.post("/accounts/two-factor/", {"code": current_code(device)})
    assert too_soon.status_code == 429 and "wait" in too_soon.context["form"].errors["code"][0]
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)  # as if it had passed

    done = client.post("/accounts/two-factor/?next=/admin/", {"code": current_code(device), "next": "/admin/"})
    assert done.status_code == 302 and done["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    device.refresh_from_db()
    assert device.confirmed


def test_at_the_next_sign_in_a_staff_member_only_enters_the_code(client, settings):
    settings.TWO_FACTOR_FOR_STAFF = True
    stella = _user("stella", is_staff=True)
    device = TOTPDevice.objects.create(user=stella, name="phone", confirmed=True)
    sign_in(client, "stella")
    page = client.get("/accounts/two-factor/")
    assert "<svg" not in page.content.decode()
    assert client.post("/accounts/two-factor/", {"code": current_code(device)}).status_code == 302
    assert client.get("/audit/").status_code == 200


def test_people_without_staff_rights_are_not_asked_for_a_code(client, engineer_user, settings):
    settings.TWO_FACTOR_FOR_STAFF = True
    sign_in(client, "eli")
    assert client.get("/incidents/").status_code == 200


# --- local passwords switched off -----------------------------------------------------------


def test_with_local_login_off_the_password_form_is_gone_and_refused(client, engineer_user, settings):
    settings.LOCAL_LOGIN_ENABLED = False
    settings.LDAP_ENABLED = False
    settings.OIDC_ENABLED = True
    settings.OIDC_PROVIDER_NAME = "Okta"
    settings.AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "accounts.backends.BeaconOIDCBackend"]

    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with Okta" in page
    assert 'name="password"' not in page
    assert sign_in(client, "eli").status_code == 404
    assert "_auth_user_id" not in client.session
    assert client.get("/accounts/password_reset/").status_code == 404


def test_the_admin_login_page_is_the_one_sign_in_page(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=/admin/"


# --- trusted proxy header ---------------------------------------------------------------------


@pytest.fixture
def proxy(settings):
    settings.REMOTE_USER_HEADER = "Remote-User"
    settings.REMOTE_GROUPS_HEADER = "Remote-Groups"
    settings.TRUSTED_PROXY_IPS = ["10.0.0.1"]
    settings.ROLE_GROUPS = {"helpdesk": ["desk"], "engineer": ["eng"], "leadership": [], "staff": []}
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "accounts.backends.TrustedProxyBackend"]


def test_the_proxy_header_signs_in_from_a_trusted_proxy_with_roles_from_its_groups(client, proxy):
    response = client.get(
        "/incidents/new/", REMOTE_ADDR="10.0.0.1", HTTP_REMOTE_USER="sam", HTTP_REMOTE_GROUPS="eng, x"
    )
    assert response.status_code == 200
    sam = User.objects.get(username="sam")
    assert list(sam.groups.values_list("name", flat=True)) == ["engineer"]


def test_the_proxy_header_is_ignored_from_any_other_address(client, proxy, engineer_user):
    response = client.get("/incidents/", REMOTE_ADDR="192.0.2.66", HTTP_REMOTE_USER="eli", HTTP_REMOTE_GROUPS="eng")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in client.session


# --- environment variables alone --------------------------------------------------------------


def _check(env: dict) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OIDC_", "LDAP_", "ROLE_GROUPS_", "REMOTE_"))}
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         "from django.conf import settings as s; from django.contrib.auth import get_backends;"
         "print([type(b).__name__ for b in get_backends()]); print(s.ROLE_GROUPS)"],
        cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_oidc_and_ldap_are_switched_on_by_environment_variables_alone():
    result = _check(
        {
            "OIDC_CLIENT_ID": "beacon", "OIDC_CLIENT_SECRET": "s", "OIDC_ISSUER": "https://idp.example.com",
            "LDAP_SERVER_URI": "ldap://ldap.example.com", "LDAP_USER_SEARCH_BASE": "ou=people,dc=example,dc=com",
            "LDAP_GROUP_SEARCH_BASE": "ou=groups,dc=example,dc=com", "ROLE_GROUPS_ENGINEER": "SRE, Platform",
            "LOCAL_LOGIN_ENABLED": "false",
        }
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "BeaconOIDCBackend" in result.stdout and "BeaconLDAPBackend" in result.stdout
    assert "ModelBackend" not in result.stdout.replace("BeaconOIDCBackend", "")
    assert "'engineer': ['SRE', 'Platform']" in result.stdout


def test_a_half_configured_provider_is_named_at_start_up():
    result = _check({"OIDC_CLIENT_ID": "beacon"})
    assert result.returncode != 0 and "OIDC_ISSUER" in result.stderr
    result = _check({"LDAP_SERVER_URI": "ldap://ldap.example.com"})
    assert result.returncode != 0 and "LDAP_USER_SEARCH_BASE" in result.stderr
    result = _check({"REMOTE_USER_HEADER": "Remote-User"})
    assert result.returncode != 0 and "TRUSTED_PROXY_IPS" in result.stderr


def test_without_a_role_mapping_sign_ins_leave_hand_given_roles_alone(engineer_user, settings):
    from accounts.services import roles_sync

    settings.ROLE_GROUPS = {"helpdesk": [], "engineer": [], "leadership": [], "staff": []}
    roles_sync(user=engineer_user, groups=["anything"])
    assert list(engineer_user.groups.values_list("name", flat=True)) == ["engineer"]

    settings.ROLE_GROUPS = {"helpdesk": ["desk"], "engineer": [], "leadership": [], "staff": []}
    roles_sync(user=engineer_user, groups=["desk"])
    assert list(engineer_user.groups.values_list("name", flat=True)) == ["helpdesk"]
