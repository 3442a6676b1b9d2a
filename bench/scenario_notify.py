"""Incident with 1,000 affected parties: the request does no mail work; the worker sends fast.

Two measurements, on the database ``make bench`` set up and the broker of the settings
(Redis when ``REDIS_URL`` is set, else the embedded filesystem broker):

1. Latency of ``POST /api/v1/incidents/`` with 1,000 ``extra_recipients`` (through Django's
   test client, the whole request/response cycle minus the socket), no worker running:
   the request only writes the incident, its first update and 1,000 delivery rows, and
   queues one task after commit.
2. Time from that request until a local SMTP server (aiosmtpd) has accepted all 1,000
   messages from a real ``celery worker`` process, and a check that each address got
   exactly one message and every delivery row is marked sent.
"""

import logging
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

NAME = "Incident with 1,000 affected parties (notifications)"
ROOT = Path(__file__).resolve().parent.parent


class _Counter:
    def __init__(self):
        self.lock = threading.Lock()
        self.recipients: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.recipients.extend(envelope.rcpt_tos)
        return "250 OK"

    def count(self) -> int:
        with self.lock:
            return len(self.recipients)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _purge(app, queue: str) -> None:
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(queue)


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def _start_worker(queue: str, smtp_port: int, log_path: Path, concurrency: int) -> subprocess.Popen:
    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        url = f"sqlite:///{db['NAME']}"
    else:
        auth = db.get("USER") or "postgres"
        if db.get("PASSWORD"):
            auth += f":{db['PASSWORD']}"
        url = f"postgres://{auth}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "CELERY_QUEUE": queue,
        "BEACON_VAR_DIR": str(Path(settings.BROKER_DIR).parent),
        "LOG_LEVEL": "WARNING",
    }
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "wb")  # noqa: SIM115 - lives as long as the worker
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", f"--concurrency={concurrency}", "--loglevel=INFO",
         "-Q", queue, "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited; see {log_path}")
        if b"ready." in log_path.read_bytes():
            return proc
        time.sleep(0.2)
    raise RuntimeError(f"worker not ready after 60 s; see {log_path}")


def run(args) -> str:
    from aiosmtpd.controller import Controller
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.test import Client

    from config.celery import app
    from incidents.models import Delivery, Incident, Service

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    parties = 100 if args.quick else 1000
    creations = 5 if args.quick else 20
    queue = f"bench-notify-{os.getpid()}"
    app.conf.task_default_queue = queue

    service, _ = Service.objects.get_or_create(slug="bench-notify", defaults={"name": "Bench notify"})
    user, _ = User.objects.get_or_create(username="bench-helpdesk", defaults={"email": "bench-helpdesk@example.com"})
    user.groups.add(Group.objects.get_or_create(name="helpdesk")[0])
    from accounts.services import token_create

    token = token_create(user=user, name="bench")[1]
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    run_id = uuid.uuid4().hex[:8]

    def create(label: str) -> tuple[float, str]:
        body = {
            "title": f"Bench {label}",
            "severity": 2,
            "services": [service.slug],
            "extra_recipients": [f"party{n:04d}-{label}-{run_id}@example.com" for n in range(parties)],
            "message": "Benchmark incident.",
        }
        started = time.perf_counter()
        response = client.post("/api/v1/incidents/", body, content_type="application/json")
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 201, response.content[:500]
        return elapsed, response.json()["ticket"]

    # 1. Request latency, with no worker consuming the queue.
    tickets = [create("warmup")[1]]
    latencies = []
    for index in range(creations):
        elapsed, ticket = create(f"lat{index}")
        latencies.append(elapsed)
        tickets.append(ticket)
    rows_per_request = Delivery.objects.filter(update__incident__ticket=tickets[-1]).count()
    _purge(app, queue)
    Incident.objects.filter(ticket__in=tickets).delete()

    # 2. End to end: one incident, a real worker, a real SMTP server.
    counter = _Counter()
    port = _free_port()
    smtp = Controller(counter, hostname="127.0.0.1", port=port)
    smtp.start()
    concurrency = 2
    log_path = Path(settings.BROKER_DIR).parent / "bench" / "notify-worker.log"
    worker = _start_worker(queue, port, log_path, concurrency)
    try:
        started = time.perf_counter()
        _, ticket = create("e2e")
        deadline = time.monotonic() + 120
        while counter.count() < parties and time.monotonic() < deadline:
            time.sleep(0.02)
        send_seconds = time.perf_counter() - started
        time.sleep(1.0)  # catch any duplicate
        received = list(counter.recipients)
        sent_rows = Delivery.objects.filter(update__incident__ticket=ticket, status="sent").count()
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        smtp.stop()
        _purge(app, queue)
    Incident.objects.filter(ticket=ticket).delete()

    unique = len(set(received))
    p50, p95 = statistics.median(latencies), _percentile(latencies, 95)
    broker = "Redis" if settings.REDIS_URL else "embedded filesystem broker"
    ok_latency = "met" if p95 < 150 else "MISSED"
    ok_send = "met" if send_seconds < 30 and unique == parties == len(received) else "MISSED"
    return "\n".join(
        [
            f"Setup: {connection.vendor} database, {broker}, one `celery worker --concurrency={concurrency}`, "
            f"aiosmtpd on 127.0.0.1; {parties:,} affected parties per incident (`extra_recipients`).",
            "",
            "| measure | goal | result |",
            "| --- | --- | --- |",
            f"| `POST /api/v1/incidents/` latency over {creations} creations | p95 < 150 ms | "
            f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {max(latencies):.0f} ms ({ok_latency}) |",
            f"| work done in the request | no mail work | {rows_per_request:,} delivery rows written, "
            "1 task queued after commit, 0 SMTP connections |",
            f"| request → all {parties:,} messages accepted by SMTP | < 30 s | {send_seconds:.1f} s "
            f"({parties / send_seconds:.0f} msg/s) ({ok_send}) |",
            f"| messages received / distinct recipients / rows marked sent | {parties:,} each | "
            f"{len(received):,} / {unique:,} / {sent_rows:,} |",
        ]
    )
