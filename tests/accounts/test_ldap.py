"""LDAP sign-in against a real OpenLDAP (slapd) loaded from directory.ldif."""

import subprocess

import pytest
from django.contrib.auth.models import User

from audit.choices import Action
from audit.models import AuditEntry

from .conftest import LDAP_ADMIN, LDAP_ADMIN_PASSWORD, LDAP_BASE, LDAP_PASSWORD

pytestmark = pytest.mark.django_db


def sign_in(client, username, password=LDAP_PASSWORD):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_a_directory_user_signs_in_and_gets_the_role_of_their_group(client, beacon_ldap):
    response = sign_in(client, "alice")

    assert response.status_code == 302 and response["Location"] == "/"
    alice = User.objects.get(username="alice")
    assert (alice.first_name, alice.last_name, alice.email) == ("Alice", "Engineer", "alice@example.com")
    assert list(alice.groups.values_list("name", flat=True)) == ["engineer"]
    assert client.get("/incidents/new/").status_code == 200
    assert AuditEntry.objects.filter(action=Action.SIGN_IN, actor=alice, summary="with ldap").exists()


def test_a_group_given_by_its_full_dn_makes_staff(client, beacon_ldap):
    assert sign_in(client, "dana").status_code == 302
    dana = User.objects.get(username="dana")
    assert dana.is_staff and not dana.is_superuser
    assert client.get("/audit/").status_code == 200


def test_leadership_from_the_directory_reads_reports_but_files_nothing(client, beacon_ldap):
    assert sign_in(client, "bob").status_code == 302
    assert client.get("/reports/").status_code == 200
    assert client.get("/incidents/new/").status_code == 403


def test_a_wrong_password_is_refused_with_the_form_error_and_recorded(client, beacon_ldap):
    response = sign_in(client, "alice", "not-her-password")

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert not User.objects.filter(username="alice").exists()
    assert AuditEntry.objects.filter(action=Action.SIGN_IN_FAILED, actor_name="alice").exists()


def test_a_disabled_directory_account_cannot_sign_in_even_if_it_did_before(client, beacon_ldap):
    # carol signed in while she was active: she has a Beacon user with the engineer role.
    carol = User.objects.create_user("carol")
    carol.set_unusable_password()
    carol.save()

    response = sign_in(client, "carol")

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def _membership(directory, change: str, group: str, member: str):
    ldif = f"dn: cn={group},ou=groups,{LDAP_BASE}\nchangetype: modify\n{change}: member\nmember: {member}\n"
    subprocess.run(
        ["ldapmodify", "-x", "-H", directory.uri, "-D", LDAP_ADMIN, "-w", LDAP_ADMIN_PASSWORD],
        input=ldif.encode(), check=True, capture_output=True,
    )  # fmt: skip


def test_a_user_removed_from_the_directory_group_loses_the_role_at_the_next_sign_in(client, beacon_ldap):
    alice_dn = f"uid=alice,ou=people,{LDAP_BASE}"
    assert sign_in(client, "alice").status_code == 302
    assert User.objects.get(username="alice").groups.filter(name="engineer").exists()
    client.post("/accounts/logout/")
    _membership(beacon_ldap, "delete", "engineers", alice_dn)
    try:
        assert sign_in(client, "alice").status_code == 302
        assert not User.objects.get(username="alice").groups.exists()
        assert client.get("/incidents/new/").status_code == 403
        assert AuditEntry.objects.filter(
            action=Action.ROLE_CHANGE, object_repr="alice", changes__has_key="groups removed"
        ).exists()
    finally:
        _membership(beacon_ldap, "add", "engineers", alice_dn)
