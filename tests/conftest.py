"""Shared fixtures: fixed personas, a real SMTP server, a real Celery worker process.

Personas (all with password ``PASSWORD``): ``helpdesk_user``, ``engineer_user``,
``leader_user``, ``outsider`` (logged in, no group) and ``admin_user``.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import connection

from incidents.models import Service, Subscriber

PASSWORD = "correct-horse-battery"
ROOT = Path(__file__).resolve().parent.parent


def ci_from_env(value: str | None) -> bool:
    """CI services set CI=true, others CI=1: either way a missing browser is a failure there."""
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


IN_CI = ci_from_env(os.environ.get("CI"))


# --- personas -------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_shared_caches():
    """The cached /status/ page and the shared snapshots (config.snapshots) outlive a test's
    database; never let them leak into the next."""
    from config import snapshots
    from dashboard import status_cache

    status_cache.reset()
    snapshots.forget()
    yield
    status_cache.reset()
    snapshots.forget()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Real hashing costs ~0.3 s per persona; it is not what these tests are about."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _pinned_settings(settings):
    """Settings a developer's shell could change are fixed for every test (a test may
    still override them); ``tests/pytest_environment.py`` does the same before Django loads."""
    settings.TIME_ZONE = "UTC"
    settings.REPORT_TIME_ZONE = "UTC"
    settings.LANGUAGE_CODE = "en-gb"
    settings.USE_TZ = True
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.DEBUG = False
    # A page cached by one test must not be served to the next (tests of the cache set it).
    settings.STATUS_PAGE_CACHE_SECONDS = 0
    settings.STATUS_PAGE_RENDER_INTERVAL_SECONDS = 0
    settings.TIMELINE_REUSE_SECONDS = 0


def _user(username, *groups, **extra):
    user = User.objects.create_user(username, f"{username}@example.com", PASSWORD, **extra)
    for name in groups:
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    return user


@pytest.fixture
def helpdesk_user(db):
    return _user("hana", "helpdesk", first_name="Hana", last_name="Desk")


@pytest.fixture
def engineer_user(db):
    return _user("eli", "engineer", first_name="Eli", last_name="Ngata")


@pytest.fixture
def leader_user(db):
    return _user("lena", "leadership", first_name="Lena", last_name="Director")


@pytest.fixture
def outsider(db):
    return _user("otto")


@pytest.fixture
def admin_user(db):
    return _user("root", is_staff=True, is_superuser=True)


@pytest.fixture
def services(db):
    """Two services with two subscribers each."""
    web = Service.objects.create(slug="web", name="Web Storefront", slo_target="99.9")
    pay = Service.objects.create(slug="payments", name="Payments", slo_target="99.95")
    for service in (web, pay):
        for who in ("oncall", "support"):
            Subscriber.objects.create(service=service, email=f"{who}-{service.slug}@example.com")
    return {"web": web, "payments": pay}


def api_key(user, name: str = "test", expires_days: int | None = None) -> str:
    """A new API token of ``user`` (Beacon's hashed tokens); returns the key to send."""
    from accounts.services import token_create

    return token_create(user=user, name=name, expires_days=expires_days)[1]


def login(client, user):
    client.force_login(user)
    return client


# --- SMTP -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mailbox:
    """Collects what the SMTP server accepted; ``delay`` slows each message down."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()
        self.delay = 0.0

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            time.sleep(self.delay)
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def clear(self):
        with self.lock:
            self.messages.clear()

    def recipients(self) -> list[str]:
        with self.lock:
            return [rcpt for rcpts, _ in self.messages for rcpt in rcpts]

    def wait_for(self, count: int, timeout: float = 30) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        with self.lock:
            raise AssertionError(f"expected {count} emails within {timeout}s, got {len(self.messages)}")


class SMTPServer:
    def __init__(self, port: int):
        self.port = port
        self.mailbox = Mailbox()
        self.controller = None

    def start(self):
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None


@pytest.fixture(scope="session")
def smtp_server():
    server = SMTPServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(smtp_server, settings):
    """A clean mailbox on the real SMTP server, with Django pointed at it."""
    if smtp_server.controller is None:
        smtp_server.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp_server.port
    smtp_server.mailbox.clear()
    smtp_server.mailbox.delay = 0.0
    yield smtp_server.mailbox
    smtp_server.mailbox.delay = 0.0


# --- Celery worker --------------------------------------------------------------


class WorkerProcess:
    """A real ``celery worker`` process against the test database and broker."""

    def __init__(self, env: dict):
        self.env = env
        self.proc = None
        self.log_path = Path(env["BEACON_VAR_DIR"]) / f"worker-{os.getpid()}.log"

    def start(self):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        # Only what this start writes counts: after a kill the log already says "ready.".
        offset = self.log_path.stat().st_size
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--loglevel=INFO",
             "-Q", self.env["CELERY_QUEUE"], "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Celery worker exited; see {self.log_path}")
            if b"ready." in self.log_path.read_bytes()[offset:]:
                return
            time.sleep(0.2)
        raise RuntimeError(f"Celery worker did not start within 60 s; see {self.log_path}")

    def kill(self):
        """SIGKILL, as a crash or an OOM kill would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    auth = f"{user}:{db['PASSWORD']}" if db.get("PASSWORD") else user
    return f"postgres://{auth}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


# Passed through to the worker process; nothing else of the test's environment is.
WORKER_ENV_ALLOWED = (
    "PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV", "REDIS_URL", "CI",
    "DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG", "TIME_ZONE", "REPORT_TIME_ZONE",
    # CI's faked-clock pass (libfaketime): the worker must run on the same shifted clock.
    "LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_FAKE_MONOTONIC", "FAKETIME_NO_CACHE",
)  # fmt: skip


@pytest.fixture(scope="session")
def celery_queue():
    return f"beacon-test-{os.getpid()}"


@pytest.fixture(scope="session", autouse=True)
def _tasks_reach_the_worker_only_when_asked(celery_queue):
    """Tasks sent by a test that did not ask for the worker wait in a queue nobody reads.

    The worker process outlives the test that started it: without this, a later test that
    commits (``transactional_db``, a browser test) would have its tasks run against its
    rows, racing the flush that ends the test.
    """
    from config.celery import app

    app.conf.task_default_queue = f"{celery_queue}-unattended"


@pytest.fixture(scope="session")
def worker_env(django_db_setup, django_db_blocker, smtp_server, celery_queue):
    with django_db_blocker.unblock():
        url = _database_url()
    # Only what the worker needs: the test process's own secrets and tokens stay out.
    env = {name: os.environ[name] for name in WORKER_ENV_ALLOWED if name in os.environ}
    env.update(
        {
            "DATABASE_URL": url,
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp_server.port),
            "CELERY_QUEUE": celery_queue,
            "NOTIFY_LEASE_SECONDS": "3",
            # Shortened retries: an outage of seconds stands for one of hours.
            "NOTIFY_RETRY_BACKOFF_BASE": "0.2",
            "NOTIFY_RETRY_BACKOFF_MAX": "1",
            "NOTIFY_BATCH_SIZE": "200",  # so a few hundred recipients fan out into batches
            "SITE_URL": "http://beacon.test",
            "BEACON_VAR_DIR": str(Path(settings.BROKER_DIR).parent),
        }
    )
    return env


@pytest.fixture(scope="session")
def celery_worker_process(worker_env):
    worker = WorkerProcess(worker_env)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def worker(celery_worker_process, transactional_db, mailbox, settings):
    """A running worker; the test's writes are committed so the worker sees them."""
    settings.NOTIFY_LEASE_SECONDS = 3
    settings.NOTIFY_RETRY_BACKOFF_BASE = 0.2
    settings.NOTIFY_RETRY_BACKOFF_MAX = 1
    settings.SITE_URL = "http://beacon.test"
    if celery_worker_process.proc.poll() is not None:
        celery_worker_process.start()
    from config.celery import app

    unattended = app.conf.task_default_queue
    app.conf.task_default_queue = celery_worker_process.env["CELERY_QUEUE"]
    try:
        yield celery_worker_process
        # The tables are emptied next: a task still running would race that (and on
        # PostgreSQL can deadlock it), and its rows would leak into the next test.
        wait_idle()
    finally:
        app.conf.task_default_queue = unattended


def work_left() -> dict[str, int]:
    """What the worker still has to do: deliveries pending or claimed, updates whose
    recipients are not written yet, and messages in its broker queue."""
    from config.celery import app
    from incidents.models import ChatDelivery, Delivery, IncidentUpdate
    from maintenance.models import MaintenanceDelivery

    left = {
        "emails pending": Delivery.objects.filter(status="pending").count(),
        "maintenance emails pending": MaintenanceDelivery.objects.filter(status="pending").count(),
        "chat posts pending": ChatDelivery.objects.filter(status="pending").count(),
        "recipients not written": IncidentUpdate.objects.filter(notify=True, recipients_at__isnull=True).count(),
    }
    with app.connection_for_write() as conn:
        try:
            left["queued tasks"] = conn.default_channel.queue_declare(
                app.conf.task_default_queue, passive=True
            ).message_count
        except Exception:  # noqa: BLE001 - a queue never declared holds nothing
            left["queued tasks"] = 0
    return {name: count for name, count in left.items() if count}


def wait_idle(timeout: float = 60.0) -> None:
    """Wait until the worker has nothing left (``work_left`` empty twice in a row, 0.2 s apart).

    Exactly-once assertions count after this, never after a fixed pause: a late duplicate
    can only come from a pending row or a queued task, and both are checked.
    """
    deadline = time.monotonic() + timeout
    quiet = 0
    left: dict = {}
    while time.monotonic() < deadline:
        left = work_left()
        quiet = quiet + 1 if not left else 0
        if quiet >= 2:
            return
        time.sleep(0.2)
    raise AssertionError(f"the worker was still busy after {timeout}s: {left}")


def wait_until(predicate, timeout=30.0, interval=0.1, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


# --- Browser --------------------------------------------------------------------

CHROMIUM = os.environ.get("BEACON_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright; never a downloaded browser."""
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"{CHROMIUM} is missing: .ci/run must install Debian's chromium")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    # Playwright's sync API runs an event loop in this thread; the test still talks to
    # the database synchronously, which is safe here.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )  # fmt: skip
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def browser_login(page, user, password=PASSWORD):
    page.goto("/accounts/login/")
    page.fill("input[name=username]", user.get_username())
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def save_artifact(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# --- markers --------------------------------------------------------------------

# A test that uses one of these fixtures gets the marker if it lacks it, so `-m "not worker"`
# or `-m "not e2e"` really leaves out every test that needs a worker process or a browser.
MARKER_FIXTURES = {"worker": {"worker", "celery_worker_process"}, "e2e": {"page", "browser"}}


def pytest_collection_modifyitems(config, items):
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in MARKER_FIXTURES.items():
            if fixtures & used and not item.get_closest_marker(marker):
                item.add_marker(marker)
