"""Real identity providers for the sign-in tests, started on free ports for the session:
an OpenID provider (django-oidc-provider, tests/oidc_provider/) and OpenLDAP's slapd with
a temporary database loaded from tests/accounts/directory.ldif."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import IN_CI, ROOT, free_port

HERE = Path(__file__).resolve().parent
OIDC_CLIENT_ID = "beacon-test"
OIDC_CLIENT_SECRET = "beacon-test-secret"
PROVIDER_PASSWORD = "provider-pass-1"
# Role mapping used by both providers' tests: provider groups → Beacon roles.
ROLE_GROUPS = {
    "helpdesk": ["Service Desk", "servicedesk"],
    "engineer": ["Platform Engineers", "engineers"],
    "leadership": ["Executives", "leadership"],
    "staff": ["Beacon Admins", "cn=beacon-admins,ou=groups,dc=example,dc=com"],
}


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited; see {log}:\n{log.read_text()[-2000:]}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s; see {log}")


class OpenIDProvider:
    def __init__(self, state: Path, port: int, proc: subprocess.Popen):
        self.state, self.port, self.proc = state, port, proc
        self.issuer = f"http://127.0.0.1:{port}/openid"

    def set_groups(self, groups: dict[str, list[str]]) -> None:
        (self.state / "groups.json").write_text(json.dumps(groups))


@pytest.fixture(scope="session")
def oidc_provider(live_server, tmp_path_factory):
    """django-oidc-provider in its own process; Beacon (the live server) is its client."""
    state = tmp_path_factory.mktemp("oidc-provider")
    port = free_port()
    users = [
        {"username": "pat", "password": PROVIDER_PASSWORD, "email": "pat@example.com", "first_name": "Pat"},
        {"username": "quinn", "password": PROVIDER_PASSWORD, "email": "quinn@example.com", "first_name": "Quinn"},
        {"username": "robin", "password": PROVIDER_PASSWORD, "email": "robin@example.com", "first_name": "Robin"},
    ]
    setup = {
        "client_id": OIDC_CLIENT_ID,
        "client_secret": OIDC_CLIENT_SECRET,
        "redirect_uri": f"{live_server.url}/oidc/callback/",
        "users": users,
    }
    (state / "setup.json").write_text(json.dumps(setup))
    log = state / "provider.log"
    env = {**os.environ, "OIDC_PROVIDER_STATE": str(state), "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.oidc_provider.serve", str(port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    provider = OpenIDProvider(state, port, proc)
    try:
        _wait_http(f"{provider.issuer}/.well-known/openid-configuration", proc, log)
        yield provider
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def beacon_oidc(oidc_provider, settings):
    """Beacon configured for the provider as the README says (issuer + client only)."""
    from accounts import oidc

    oidc._documents.clear()
    settings.OIDC_ENABLED = True
    settings.OIDC_ISSUER = oidc_provider.issuer
    settings.OIDC_RP_CLIENT_ID = OIDC_CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = OIDC_CLIENT_SECRET
    settings.OIDC_PROVIDER_NAME = "Example Corp"
    settings.ROLE_GROUPS = ROLE_GROUPS
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "accounts.backends.BeaconOIDCBackend"]
    oidc_provider.set_groups({})
    return oidc_provider


# --- OpenLDAP -------------------------------------------------------------------------

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SLAPADD = shutil.which("slapadd") or "/usr/sbin/slapadd"
LDAP_BASE = "dc=example,dc=com"
LDAP_ADMIN = f"cn=admin,{LDAP_BASE}"
LDAP_ADMIN_PASSWORD = "ldap-admin-secret"
LDAP_PASSWORD = "directory-pass-1"

SLAPD_CONF = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {state}/slapd.pid
database mdb
maxsize 10485760
suffix "{base}"
rootdn "{admin}"
rootpw {admin_password}
directory {state}/data
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
"""


class Directory:
    def __init__(self, uri: str, state: Path):
        self.uri, self.state = uri, state


@pytest.fixture(scope="session")
def slapd(tmp_path_factory):
    """A real OpenLDAP server with users and groups from directory.ldif."""
    if not Path(SLAPD).exists():
        if IN_CI:
            pytest.fail("slapd is missing: .ci/run must install Debian's slapd")
        pytest.skip("slapd not installed (apt-get install slapd ldap-utils)")
    state = tmp_path_factory.mktemp("slapd")
    (state / "data").mkdir()
    conf = state / "slapd.conf"
    conf.write_text(
        SLAPD_CONF.format(state=state, base=LDAP_BASE, admin=LDAP_ADMIN, admin_password=LDAP_ADMIN_PASSWORD)
    )
    ldif = (HERE / "directory.ldif").read_text().replace("{password}", LDAP_PASSWORD)
    (state / "directory.ldif").write_text(ldif)
    subprocess.run([SLAPADD, "-f", str(conf), "-l", str(state / "directory.ldif")], check=True, capture_output=True)
    port = free_port()
    uri = f"ldap://127.0.0.1:{port}"
    log = state / "slapd.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [SLAPD, "-f", str(conf), "-h", f"{uri}/", "-d", "256"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"slapd exited:\n{log.read_text()[-2000:]}")
            probe = subprocess.run(
                ["ldapsearch", "-x", "-H", uri, "-b", LDAP_BASE, "-s", "base", "(objectClass=*)"],
                capture_output=True,
            )
            if probe.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"slapd did not answer on {uri}:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield Directory(uri, state)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def beacon_ldap(slapd, settings):
    """Beacon configured for the directory as the README says (its LDAP_* variables)."""
    import ldap
    from django_auth_ldap.config import GroupOfNamesType, LDAPSearch

    settings.LDAP_ENABLED = True
    settings.AUTH_LDAP_SERVER_URI = slapd.uri
    settings.AUTH_LDAP_BIND_DN = LDAP_ADMIN
    settings.AUTH_LDAP_BIND_PASSWORD = LDAP_ADMIN_PASSWORD
    settings.AUTH_LDAP_USER_SEARCH = LDAPSearch(
        f"ou=people,{LDAP_BASE}", ldap.SCOPE_SUBTREE, "(&(uid=%(user)s)(!(employeeType=disabled)))"
    )
    settings.AUTH_LDAP_GROUP_SEARCH = LDAPSearch(
        f"ou=groups,{LDAP_BASE}", ldap.SCOPE_SUBTREE, "(objectClass=groupOfNames)"
    )
    settings.AUTH_LDAP_GROUP_TYPE = GroupOfNamesType()
    settings.AUTH_LDAP_USER_ATTR_MAP = {"first_name": "givenName", "last_name": "sn", "email": "mail"}
    settings.ROLE_GROUPS = ROLE_GROUPS
    settings.AUTHENTICATION_BACKENDS = [
        "axes.backends.AxesStandaloneBackend",
        "django.contrib.auth.backends.ModelBackend",
        "accounts.backends.BeaconLDAPBackend",
        "accounts.backends.StaffConfigurationBackend",
    ]
    return slapd
