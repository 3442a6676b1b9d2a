"""The whole chain with real parts: Prometheus → Alertmanager → Beacon's webhook → incident (→ email).

Debian's ``prometheus`` and ``prometheus-alertmanager`` run as processes on free ports,
with generated configurations: Alertmanager's webhook receiver points at a live Beacon
server and sends a Beacon API token as ``Authorization: Bearer``. Timings are 1 s so a
test takes seconds; every wait polls the database against a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from incidents.models import Incident
from tests.conftest import IN_CI, _user, api_key, free_port, wait_idle, wait_until

pytestmark = pytest.mark.alerting

ALERTMANAGER = os.environ.get("BEACON_ALERTMANAGER", "/usr/bin/prometheus-alertmanager")
AMTOOL = os.environ.get("BEACON_AMTOOL", "/usr/bin/amtool")
PROMETHEUS = os.environ.get("BEACON_PROMETHEUS", "/usr/bin/prometheus")


def need(*binaries: str) -> None:
    """Skip without the Debian packages on a workstation; in CI their absence is a failure."""
    missing = [b for b in binaries if not (Path(b).exists() and os.access(b, os.X_OK))]
    if not missing:
        return
    message = f"{', '.join(missing)} missing: apt-get install prometheus prometheus-alertmanager"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


class Process:
    """A child process in its own session, logging to a file; stopped by its pid only."""

    def __init__(self, name: str, args: list[str], workdir: Path):
        self.name = name
        self.log = workdir / f"{name}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, url: str, timeout: float = 30) -> None:
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            try:
                return requests.get(url, timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_until(ready, timeout=timeout, interval=0.1, message=f"{self.name} to be ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture
def beacon_token(live_server):
    """The API token Alertmanager sends; its user may file incidents (help desk role)."""
    return api_key(_user("alertmanager-bot", "helpdesk"))


@pytest.fixture
def alertmanager(live_server, beacon_token, tmp_path):
    need(ALERTMANAGER, AMTOOL)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = {
        "global": {"resolve_timeout": "1m"},
        "route": {
            "receiver": "beacon",
            "group_by": ["alertname", "service"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "beacon",
                "webhook_configs": [
                    {
                        "url": f"{live_server.url}/api/v1/integrations/alertmanager/",
                        "send_resolved": True,
                        "http_config": {"authorization": {"type": "Bearer", "credentials": beacon_token}},
                    }
                ],
            }
        ],
    }
    path = tmp_path / "alertmanager.yml"
    path.write_text(json.dumps(config))
    process = Process(
        "alertmanager",
        [ALERTMANAGER, f"--config.file={path}", f"--web.listen-address=127.0.0.1:{port}",
         "--cluster.listen-address=", f"--storage.path={tmp_path / 'am-data'}", f"--web.external-url={url}/",
         "--log.level=debug"],
        tmp_path,
    )  # fmt: skip
    process.url = url
    try:
        process.wait_ready(f"{url}/-/ready")
        yield process
    finally:
        process.stop()


def amtool(alertmanager, *args: str) -> None:
    subprocess.run(
        [AMTOOL, f"--alertmanager.url={alertmanager.url}", *args], check=True, capture_output=True, timeout=30
    )


def incident_where(**filters):
    return lambda: Incident.objects.filter(**filters).first()


def explain(alertmanager) -> str:
    return "\n" + alertmanager.log.read_text()[-3000:]


@pytest.mark.worker
def test_an_alert_fired_in_alertmanager_opens_an_incident_that_emails_subscribers_and_resolves(
    alertmanager, worker, mailbox, services
):
    amtool(
        alertmanager, "alert", "add", "alertname=CheckoutErrors", "service=web", "severity=critical",
        "--annotation=summary=Checkout returns 5xx",
    )  # fmt: skip
    incident = wait_until(
        incident_where(source="alertmanager"), timeout=30, message="the incident" + explain(alertmanager)
    )
    assert incident.title == "Checkout returns 5xx"
    assert incident.severity == 1 and incident.is_open
    assert list(incident.services.values_list("slug", flat=True)) == ["web"]
    assert incident.external_url.startswith(alertmanager.url)
    # Subscribers are emailed by the worker, as for a typed incident.
    mailbox.wait_for(2, timeout=60)
    assert sorted(mailbox.recipients()) == ["oncall-web@example.com", "support-web@example.com"]

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    amtool(alertmanager, "alert", "add", "alertname=CheckoutErrors", "service=web", "severity=critical", f"--end={now}")
    resolved = wait_until(
        incident_where(pk=incident.pk, status="resolved"), timeout=30, message="the resolution" + explain(alertmanager)
    )
    assert resolved.resolved_at >= resolved.started_at
    assert Incident.objects.count() == 1
    # The resolution reaches the same subscribers, once each.
    mailbox.wait_for(4, timeout=60)
    wait_idle()
    assert sorted(mailbox.recipients()) == sorted(["oncall-web@example.com", "support-web@example.com"] * 2)


def test_an_alert_ended_through_the_v2_api_resolves_the_incident(alertmanager, services):
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    alert = {"labels": {"alertname": "QueueBacklog", "service": "payments", "severity": "warning"}, "startsAt": started}
    requests.post(f"{alertmanager.url}/api/v2/alerts", json=[alert], timeout=10).raise_for_status()
    incident = wait_until(
        incident_where(source="alertmanager"), timeout=30, message="the incident" + explain(alertmanager)
    )
    assert incident.severity == 3 and incident.title == "QueueBacklog"
    ended = {**alert, "endsAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    requests.post(f"{alertmanager.url}/api/v2/alerts", json=[ended], timeout=10).raise_for_status()
    wait_until(incident_where(pk=incident.pk, status="resolved"), timeout=30, message="the resolution")


class Target:
    """A scrape target whose /metrics can be made to fail (HTTP 503: Prometheus records up == 0)."""

    def __init__(self):
        self.healthy = True
        self.port = free_port()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                ok = target.healthy
                body = b"shop_orders_total 42\n" if ok else b"down\n"
                self.send_response(200 if ok else 503)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def target():
    t = Target()
    yield t
    t.close()


@pytest.fixture
def prometheus(alertmanager, target, tmp_path):
    need(PROMETHEUS)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    rules = {
        "groups": [
            {
                "name": "shop",
                "interval": "1s",
                "rules": [
                    {
                        "alert": "ShopDown",
                        "expr": 'up{job="shop"} == 0',
                        "for": "0s",
                        "labels": {"service": "web", "severity": "critical"},
                        "annotations": {"summary": "The shop target is down"},
                    }
                ],
            }
        ]
    }
    (tmp_path / "rules.yml").write_text(json.dumps(rules))
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp_path / "rules.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager.url.removeprefix("http://")]}]}]},
        "scrape_configs": [{"job_name": "shop", "static_configs": [{"targets": [f"127.0.0.1:{target.port}"]}]}],
    }
    path = tmp_path / "prometheus.yml"
    path.write_text(json.dumps(config))
    process = Process(
        "prometheus",
        [PROMETHEUS, f"--config.file={path}", f"--web.listen-address=127.0.0.1:{port}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.external-url={url}/", "--rules.alert.resend-delay=1s"],
        tmp_path,
    )  # fmt: skip
    process.url = url
    try:
        process.wait_ready(f"{url}/-/ready")
        yield process
    finally:
        process.stop()


def test_a_target_prometheus_sees_fail_opens_an_incident_and_its_recovery_resolves_it(
    prometheus, alertmanager, target, services
):
    def up() -> list:
        answer = requests.get(f"{prometheus.url}/api/v1/query", params={"query": 'up{job="shop"}'}, timeout=5).json()
        return [r["value"][1] for r in answer["data"]["result"]]

    wait_until(lambda: up() == ["1"], timeout=30, message="Prometheus to scrape the healthy target")
    assert not Incident.objects.exists()

    target.healthy = False
    incident = wait_until(
        incident_where(source="alertmanager"), timeout=30, message="the incident" + explain(alertmanager)
    )
    assert incident.title == "The shop target is down"
    assert incident.severity == 1 and incident.is_open
    assert list(incident.services.values_list("slug", flat=True)) == ["web"]
    assert incident.external_url.startswith(f"{prometheus.url}/graph")  # the rule's generatorURL

    target.healthy = True
    resolved = wait_until(
        incident_where(pk=incident.pk, status="resolved"), timeout=30, message="the resolution" + explain(alertmanager)
    )
    assert resolved.resolved_at >= resolved.started_at
    assert Incident.objects.count() == 1
