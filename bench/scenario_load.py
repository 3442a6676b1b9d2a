"""Load: 50 concurrent users for 5 minutes against gunicorn + PostgreSQL + Redis + a worker.

The whole production stack on this machine: ``gunicorn config.wsgi`` (``BENCH_GUNICORN_ARGS``,
default 4 sync workers), one ``celery worker`` consuming the Redis queue and mailing a local
SMTP server, PostgreSQL. Locust (headless, ``bench/locustfile.py``) runs the mix: dashboard,
incident list, timeline API, status page, incident create, update and close. Goal (issue 16):
0 errors, p95 under 500 ms per endpoint; requests/s reported. The reference, measured right
after on the same stack: the same users asking only ``/healthz`` for
``BENCH_LOAD_REFERENCE_SECONDS`` (60). ``BENCH_LOAD_SECONDS`` (default 300; ``--quick`` 60)
and ``BENCH_LOAD_USERS`` (default 50) shorten or shrink the run.
"""

import csv
import os
import random
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

NAME = "Load: 50 users, whole stack (gunicorn + PostgreSQL + Redis + worker)"
ROOT = Path(__file__).resolve().parent.parent
P95_GOAL_MS = 500
# How gunicorn serves the run; BENCH_GUNICORN_ARGS replaces it to compare worker models.
# Sync workers, as docker-compose.yml runs it (one more than there): measured on this 2-core
# machine, 4 sync workers served 28 requests/s where 3 gthread workers x 4 threads served 25.
GUNICORN_ARGS = os.environ.get("BENCH_GUNICORN_ARGS", "--workers 4")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    auth = db.get("USER") or "postgres"
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    return f"postgres://{auth}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def _seed(incidents: int) -> tuple[list[str], list[str], list[str]]:
    """Services, 8 responders with tokens and sessions, and a history of incidents."""
    from django.contrib.auth.models import Group, User
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone

    from accounts.services import token_create
    from incidents import services as incident_services
    from incidents.models import Incident, Service, Subscriber

    slugs = [f"load-{n}" for n in range(10)]
    for slug in slugs:
        service, _ = Service.objects.get_or_create(slug=slug, defaults={"name": slug.title()})
        Subscriber.objects.get_or_create(service=service, email=f"oncall-{slug}@example.com")
    tokens, sessions = [], []
    for n in range(8):
        user, _ = User.objects.get_or_create(username=f"load-{n}", defaults={"email": f"load-{n}@example.com"})
        user.groups.add(Group.objects.get_or_create(name="engineer" if n % 2 else "helpdesk")[0])
        tokens.append(token_create(user=user, name="load test")[1])
        store = SessionStore()
        store["_auth_user_id"] = str(user.pk)
        store["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        store["_auth_user_hash"] = user.get_session_auth_hash()
        store.create()
        sessions.append(store.session_key)
    # Incidents a previous run left open would lengthen every page of this one: close them.
    closer = User.objects.get(username="load-1")
    for leftover in Incident.objects.filter(title__startswith="Load test").exclude(status="resolved"):
        incident_services.incident_resolve(
            incident=leftover, by=closer, message="Closed after a load run.", notify=False
        )
    missing = incidents - Incident.objects.filter(title__startswith="Load history").count()
    rng = random.Random(16)
    by = User.objects.get(username="load-1")
    now = timezone.now()
    for n in range(max(0, missing)):
        started = now - timedelta(days=rng.uniform(1, 80))
        incident = incident_services.incident_open(
            title=f"Load history {n}",
            severity=rng.choice([1, 2, 3, 4]),
            services=[Service.objects.get(slug=rng.choice(slugs))],
            by=by,
            started_at=started,
            notify=False,
        )
        incident_services.incident_resolve(
            incident=incident,
            by=by,
            message="Resolved.",
            resolved_at=started + timedelta(minutes=rng.uniform(5, 240)),
        )
    return tokens, sessions, slugs


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def run(args) -> str:
    import logging

    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

    seconds = int(os.environ.get("BENCH_LOAD_SECONDS", "60" if args.quick else "300"))
    users = int(os.environ.get("BENCH_LOAD_USERS", "50"))
    reference_seconds = int(os.environ.get("BENCH_LOAD_REFERENCE_SECONDS", "60"))
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
    tokens, sessions, slugs = _seed(incidents=300 if args.quick else 2000)

    smtp_port, web_port = _free_port(), _free_port()
    smtp = Controller(Sink(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    out = Path(os.environ.get("BEACON_VAR_DIR", "var")) / "bench" / "load"
    out.mkdir(parents=True, exist_ok=True)
    queue = f"bench-load-{os.getpid()}"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": redis_url,
        "CELERY_QUEUE": queue,
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DB_CONN_MAX_AGE": "60",
        "LOG_LEVEL": "WARNING",
        "BENCH_TOKENS": ",".join(tokens),
        "BENCH_SESSIONS": ",".join(sessions),
        "BENCH_SERVICES": ",".join(slugs),
    }
    procs = []
    web_log = (out / "web.log").open("wb")
    worker_log = (out / "worker.log").open("wb")
    try:
        web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{web_port}",
             *GUNICORN_ARGS.split(), "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=web_log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        procs.append(web)
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--concurrency=1", "--loglevel=WARNING",
             "-Q", queue, "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=worker_log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        procs.append(worker)
        _wait_http(f"http://127.0.0.1:{web_port}/healthz", web)

        def locust(user_class: str, prefix: Path, duration: int) -> None:
            subprocess.run(
                [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"), "--headless",
                 "-u", str(users), "-r", str(max(1, users // 10)), "-t", f"{duration}s", "--stop-timeout", "10",
                 "--host", f"http://127.0.0.1:{web_port}", "--csv", str(prefix), "--only-summary",
                 "--loglevel", "WARNING", user_class],
                cwd=ROOT, env=env, check=False, timeout=duration + 120,
            )  # fmt: skip

        prefix, floor = out / "locust", out / "reference"
        locust("Responder", prefix, seconds)
        locust("Floor", floor, reference_seconds)
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
        smtp.stop()
        web_log.close()
        worker_log.close()
    return _report(Path(f"{prefix}_stats.csv"), Path(f"{floor}_stats.csv"), seconds=seconds, users=users)


def _report(stats: Path, reference: Path, *, seconds: int, users: int) -> str:
    with stats.open() as handle:
        rows = list(csv.DictReader(handle))
    with reference.open() as handle:
        rows += [row for row in csv.DictReader(handle) if row["Name"] != "Aggregated"]
    lines = [
        f"{users} users, {seconds} s, {os.cpu_count()} cores; gunicorn {GUNICORN_ARGS}. The last row is the "
        "reference run right after, on the same stack: the same users asking only `/healthz`.",
        "",
        "| endpoint | requests | failures | p50 ms | p95 ms | max ms | req/s | p95 < 500 ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        name = "**all**" if row["Name"] == "Aggregated" else f"{row['Type']} {row['Name']}".replace("GET GET", "GET")
        name = name.replace("POST POST", "POST")
        p95 = float(row["95%"])
        met = "—" if "reference" in name else "met" if p95 < P95_GOAL_MS else "**missed**"
        lines.append(
            f"| {name} | {row['Request Count']} | {row['Failure Count']} | {row['50%']} | {row['95%']} | "
            f"{float(row['Max Response Time']):.0f} | {float(row['Requests/s']):.1f} | {met} |"
        )
    return "\n".join(lines)
