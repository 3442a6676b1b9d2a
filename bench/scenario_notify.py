"""Incident with 10,000 affected parties: the request does no per-recipient work; the worker sends fast.

Three measurements, on the database ``make bench`` set up and the broker of the settings
(Redis when ``REDIS_URL`` is set, else the embedded filesystem broker):

1. Latency of ``POST /api/v1/incidents/`` for a service with 10,000 subscribers (through
   Django's test client, the whole request/response cycle minus the socket), no worker
   running: the request writes the incident and its first update and queues one task after
   commit; the worker writes the 10,000 delivery rows.
2. Time from that request until a local SMTP server (aiosmtpd) has accepted all 10,000
   messages from a real ``celery worker`` process (the update fans out into batches of
   ``NOTIFY_BATCH_SIZE``, each over its own SMTP connection), and a check that each address
   got exactly one message and every delivery row is marked sent.
3. The same 10,000 messages (same size) sent by a bare ``smtplib`` loop over one connection
   to the same server, in the same run: the floor of what the server and machine allow.
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

NAME = "Incident with 10,000 affected parties (notifications)"
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


def _raw_smtplib(port: int, recipients: list[str], body: bytes) -> float:
    """Seconds for a bare smtplib loop to hand ``body`` to each recipient over one connection."""
    import smtplib

    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for rcpt in recipients:
            smtp.sendmail("beacon@localhost", [rcpt], body)
    return time.perf_counter() - started


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
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ", "REDIS_URL", "VIRTUAL_ENV")},
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
    from incidents.models import Subscriber

    parties = 1000 if args.quick else 10_000
    creations = 5 if args.quick else 20
    queue = f"bench-notify-{os.getpid()}"
    app.conf.task_default_queue = queue
    run_id = uuid.uuid4().hex[:8]

    service, _ = Service.objects.get_or_create(slug=f"bench-notify-{run_id}", defaults={"name": "Bench notify"})
    Subscriber.objects.bulk_create(
        [Subscriber(service=service, email=f"party{n:05d}-{run_id}@example.com") for n in range(parties)],
        batch_size=2000,
    )
    user, _ = User.objects.get_or_create(username="bench-helpdesk", defaults={"email": "bench-helpdesk@example.com"})
    user.groups.add(Group.objects.get_or_create(name="helpdesk")[0])
    from accounts.services import token_create

    token = token_create(user=user, name="bench")[1]
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")

    def create(label: str, extra: int = 0) -> tuple[float, str]:
        body = {
            "title": f"Bench {label}",
            "severity": 2,
            "services": [service.slug],
            "message": "Benchmark incident.",
        }
        if extra:
            body["extra_recipients"] = [f"extra{n:05d}-{run_id}@example.com" for n in range(extra)]
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
    # The same parties typed into the request instead (``extra_recipients``): each address is
    # parsed and validated in the request, but still no delivery row is written there.
    extra_latencies = []
    for index in range(5):
        elapsed, ticket = create(f"extra{index}", extra=parties)
        extra_latencies.append(elapsed)
        tickets.append(ticket)
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
        deadline = time.monotonic() + 300
        while counter.count() < parties and time.monotonic() < deadline:
            time.sleep(0.02)
        send_seconds = time.perf_counter() - started
        # Until no row is pending and the queue is empty: a duplicate would have shown by then.
        while time.monotonic() < deadline and (
            Delivery.objects.filter(update__incident__ticket=ticket, status="pending").exists()
        ):
            time.sleep(0.1)
        time.sleep(1.0)
        received = list(counter.recipients)
        sent_rows = Delivery.objects.filter(update__incident__ticket=ticket, status="sent").count()
        sample = Delivery.objects.filter(update__incident__ticket=ticket).select_related("update__incident").first()
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        _purge(app, queue)

    # 3. The floor: a bare smtplib loop sending a message of the same size to the same server.
    from incidents import notifications

    body = (
        notifications.build_message(sample.update, sample.email, delivery_id=sample.pk)
        .message()
        .as_bytes(linesep="\r\n")
    )
    raw_counter = _Counter()
    smtp.stop()
    smtp = Controller(raw_counter, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        raw_seconds = _raw_smtplib(port, [f"raw{n:05d}@example.com" for n in range(parties)], body)
    finally:
        smtp.stop()
    Incident.objects.filter(ticket=ticket).delete()
    service.delete()

    unique = len(set(received))
    p50, p95 = statistics.median(latencies), _percentile(latencies, 95)
    broker = "Redis" if settings.REDIS_URL else "embedded filesystem broker"
    ok_latency = "met" if p95 < 150 else "MISSED"
    ok_send = "met" if send_seconds < 30 and unique == parties == len(received) else "MISSED"
    return "\n".join(
        [
            f"Setup: {connection.vendor} database, {broker}, one `celery worker --concurrency={concurrency}`, "
            f"aiosmtpd on 127.0.0.1; {parties:,} affected parties per incident (subscribers of its service), "
            f"batches of {settings.NOTIFY_BATCH_SIZE}.",
            "",
            "| measure | goal | result |",
            "| --- | --- | --- |",
            f"| `POST /api/v1/incidents/` latency over {creations} creations | p95 < 150 ms | "
            f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {max(latencies):.0f} ms ({ok_latency}) |",
            f"| same, the {parties:,} parties sent as `extra_recipients` in the body (5 creations) | — | "
            f"p50 {statistics.median(extra_latencies):.0f} ms, max {max(extra_latencies):.0f} ms |",
            f"| work done in the request | nothing per recipient | {rows_per_request:,} delivery rows written, "
            "1 task queued after commit, 0 SMTP connections |",
            f"| request → all {parties:,} messages accepted by SMTP | < 30 s | {send_seconds:.1f} s "
            f"({parties / send_seconds:.0f} msg/s) ({ok_send}) |",
            f"| bare `smtplib` loop, same {parties:,} messages ({len(body):,} bytes), one connection | floor | "
            f"{raw_seconds:.1f} s ({parties / raw_seconds:.0f} msg/s), {raw_counter.count():,} accepted |",
            f"| messages received / distinct recipients / rows marked sent | {parties:,} each | "
            f"{len(received):,} / {unique:,} / {sent_rows:,} |",
        ]
    )
