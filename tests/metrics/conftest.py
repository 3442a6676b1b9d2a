"""Metrics fixtures: a real moto CloudWatch server, a local HTTP server speaking the sources' JSON.

Outside services are replaced at the wire only: boto3 talks HTTP to moto's server, the
Prometheus / HTTP JSON / chat code talks HTTP to a ``ThreadingHTTPServer`` on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from metrics.choices import SeriesRole, SourceKind, Statistic
from metrics.models import MetricSeries, MetricSource
from tests.conftest import free_port


@dataclass
class Recorded:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class FakeHTTP:
    """Routes ``(method, path)`` to a function ``(Recorded) -> (status, headers, body)``; records every request."""

    port: int
    routes: dict = field(default_factory=dict)
    requests: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def route(self, method: str, path: str, handler) -> None:
        self.routes[(method, path)] = handler

    def json_route(self, path: str, payload, status: int = 200, method: str = "GET") -> None:
        body = json.dumps(payload).encode()
        self.route(method, path, lambda req: (status, {"Content-Type": "application/json"}, body))

    def received(self, path: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.path == path]


def _handler_for(fake: FakeHTTP):
    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            rec = Recorded(
                method=self.command,
                path=parts.path,
                query={k: v[-1] for k, v in parse_qs(parts.query).items()},
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            with fake.lock:
                fake.requests.append(rec)
            handler = fake.routes.get((self.command, parts.path))
            status, headers, body = handler(rec) if handler else (404, {}, b'{"error": "not found"}')
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _serve

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def fake_http():
    fake = FakeHTTP(port=free_port())
    server = ThreadingHTTPServer(("127.0.0.1", fake.port), _handler_for(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def moto_server():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def cloudwatch(moto_server, monkeypatch):
    """A clean moto CloudWatch, credentials from the environment like production, and a boto3 client."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    requests.post(f"{moto_server}/moto-api/reset", timeout=10)
    return boto3.client("cloudwatch", region_name="us-east-1", endpoint_url=moto_server)


def make_source(**fields) -> MetricSource:
    defaults = {"kind": SourceKind.PROMETHEUS, "name": "prom", "environment": "production", "region": "us-east-1"}
    return MetricSource.objects.create(**{**defaults, **fields})


def make_series(source: MetricSource, **fields) -> MetricSeries:
    defaults = {
        "key": "api-latency",
        "label": "API Latency",
        "role": SeriesRole.LATENCY_MS,
        "unit": "ms",
        "query": "avg(latency_ms)",
        "statistic": Statistic.AVERAGE,
        "period_seconds": 60,
    }
    return MetricSeries.objects.create(source=source, **{**defaults, **fields})


def prom_matrix(values: list[tuple[float, str]] | None, series_count: int = 1) -> dict:
    """The real ``/api/v1/query_range`` success body: a matrix with 0, 1 or more series."""
    result = []
    if values is not None:
        for i in range(series_count):
            result.append({"metric": {"__name__": "latency_ms", "instance": f"web-{i}"}, "values": values})
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}
