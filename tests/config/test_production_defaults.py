"""Production defaults, read from a fresh interpreter per environment (settings load once)."""

import json
import os
import subprocess
import sys

import pytest
from django.db import connection

from tests.conftest import ROOT

PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({k: getattr(s, k, None) for k in ('SECRET_KEY', 'CSRF_COOKIE_SECURE', "
    "'SESSION_COOKIE_SECURE', 'SECURE_HSTS_PRELOAD', 'SECURE_HSTS_SECONDS', 'SECURE_SSL_REDIRECT')}))"
)


def settings_under(**env):
    base = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "BEACON_PRODUCTION")}
    base.update(DJANGO_SETTINGS_MODULE="config.settings", **env)
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=base, capture_output=True, text=True)
    if done.returncode:
        return done.stderr
    return json.loads(done.stdout)


def start_web_app(**env):
    """Load the WSGI application in a fresh interpreter, as gunicorn would."""
    base = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "BEACON_PRODUCTION")}
    base.update(DJANGO_SETTINGS_MODULE="config.settings", **env)
    return subprocess.run([sys.executable, "-c", "import config.wsgi"], cwd=ROOT, env=base, capture_output=True,
                          text=True)  # fmt: skip


def test_without_a_secret_key_the_web_app_refuses_to_start_unless_debug():
    refused = start_web_app()
    assert refused.returncode != 0 and "Set SECRET_KEY" in refused.stderr
    assert start_web_app(DEBUG="true").returncode == 0
    assert start_web_app(SECRET_KEY="k" * 50).returncode == 0
    assert settings_under(DEBUG="true")["SECRET_KEY"].startswith("dev-only")


def test_without_a_secret_key_read_only_tools_run_on_a_key_that_dies_with_the_process():
    first, second = settings_under(), settings_under()
    assert not first["SECRET_KEY"].startswith("dev-only")
    assert first["SECRET_KEY"] != second["SECRET_KEY"]


def test_a_production_stack_over_plain_http_can_keep_its_csrf_cookie():
    lan = settings_under(BEACON_PRODUCTION="true", SECRET_KEY="k" * 50, SECURE_COOKIES="false")
    assert lan["CSRF_COOKIE_SECURE"] is False and lan["SESSION_COOKIE_SECURE"] is False
    assert lan["SECURE_HSTS_SECONDS"] == 0


def test_behind_tls_cookies_are_secure_and_hsts_preload_is_only_on_when_asked():
    tls = settings_under(BEACON_PRODUCTION="true", SECRET_KEY="k" * 50)
    assert tls["CSRF_COOKIE_SECURE"] is True and tls["SECURE_HSTS_SECONDS"] > 0
    assert tls["SECURE_HSTS_PRELOAD"] is False
    asked = settings_under(BEACON_PRODUCTION="true", SECRET_KEY="k" * 50, SECURE_HSTS_PRELOAD="true")
    assert asked["SECURE_HSTS_PRELOAD"] is True


def test_the_compose_file_serves_plain_http_by_default():
    compose = (ROOT / "docker-compose.yml").read_text()
    assert 'SECURE_COOKIES: "${SECURE_COOKIES:-false}"' in compose
    assert 'SECURE_SSL_REDIRECT: "${SECURE_SSL_REDIRECT:-false}"' in compose


@pytest.mark.django_db
def test_healthz_says_ok_and_nothing_more(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_healthz_says_fail_without_naming_the_database(client, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError(f"could not connect to server at {connection.settings_dict.get('HOST') or 'db.internal'}")

    monkeypatch.setattr(connection, "cursor", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "fail"}


def test_without_a_secret_key_the_worker_refuses_to_start(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "BEACON_PRODUCTION")}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", BEACON_VAR_DIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--without-mingle"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0 and "Set SECRET_KEY" in done.stderr + done.stdout
