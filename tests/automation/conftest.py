"""A local HTTP server speaking the Rundeck API's JSON, and small factories for automation data.

The server is real (``http.server`` on 127.0.0.1 in a thread), so the importer's requests,
paging, retries and dropped connections go over a real socket. Faults are queued per
kind of endpoint and used up one at a time.
"""

import json
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

import pytest

from automation.models import AutomationJob, Execution

TOKEN = "test-rundeck-token"
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def _date(when: datetime) -> dict:
    return {"unixtime": int(when.timestamp() * 1000), "date": when.strftime("%Y-%m-%dT%H:%M:%SZ")}


@dataclass
class Fault:
    status: int = 500
    headers: dict = field(default_factory=dict)
    drop: bool = False  # close the connection without answering


class FakeRundeck:
    """In-memory Rundeck: projects with tagged jobs, executions newest first, ROI data for some."""

    def __init__(self):
        self.jobs: list[dict] = []  # each: id, name, project, group, tags
        self.executions: dict[str, list[dict]] = defaultdict(list)
        self.roi: dict[int, dict] = {}
        self.faults: dict[str, deque[Fault]] = defaultdict(deque)
        self.broken_after_pages: int | None = None  # drop every executions request after this many pages
        self.pages_served = 0
        self.log: list[tuple[str, str, dict]] = []  # (kind, path, params)
        self.lock = threading.Lock()
        self.server = None
        self.next_id = 1

    # --- building data ----------------------------------------------------------------

    def add_job(self, job_id, name, project, tags=(), group=""):
        self.jobs.append({"id": job_id, "name": name, "project": project, "group": group, "tags": list(tags)})

    def add_execution(self, job_id, *, started, seconds=60, status="succeeded", roi_hours=None):
        execution_id = self.next_id
        self.next_id += 1
        job = next(j for j in self.jobs if j["id"] == job_id)
        item = {
            "id": execution_id,
            "href": f"{self.url}/api/41/execution/{execution_id}",
            "permalink": f"{self.url}/project/{job['project']}/execution/show/{execution_id}",
            "status": status,
            "project": job["project"],
            "user": "ops-bot",
            "date-started": _date(started),
            "job": {"id": job_id, "name": job["name"], "group": job["group"], "project": job["project"]},
            "description": "runbook",
        }
        if status != "running":
            item["date-ended"] = _date(started + timedelta(seconds=seconds))
        self.executions[job_id].append(item)
        self.executions[job_id].sort(key=lambda e: e["date-started"]["unixtime"], reverse=True)
        if roi_hours is not None:
            self.roi[execution_id] = {"hours": str(roi_hours), "job_execution_id": str(execution_id)}
        return execution_id

    def finish(self, execution_id, status="succeeded", seconds=60):
        for items in self.executions.values():
            for item in items:
                if item["id"] == execution_id:
                    item["status"] = status
                    started = datetime.fromtimestamp(item["date-started"]["unixtime"] / 1000, tz=UTC)
                    item["date-ended"] = _date(started + timedelta(seconds=seconds))

    def fail(self, kind, *faults: Fault):
        """Queue faults for the next requests of one kind: ``jobs``, ``executions`` or ``roi``."""
        self.faults[kind].extend(faults)

    def requests(self, kind):
        return [(path, params) for k, path, params in self.log if k == kind]

    # --- serving ----------------------------------------------------------------------

    def route(self, handler):
        parsed = urlparse(handler.path)
        params = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        parts = [unquote(p) for p in parsed.path.strip("/").split("/")]
        if handler.headers.get("X-Rundeck-Auth-Token") != TOKEN:
            return "auth", 403, {"error": True, "errorCode": "api.error.item.unauthorized", "message": "Unauthorized"}
        if len(parts) == 5 and parts[:1] == ["api"] and parts[2] == "project" and parts[4] == "jobs":
            tag = params.get("tags")
            jobs = [
                {k: v for k, v in j.items() if k != "tags"}
                | {"href": f"{self.url}/api/41/job/{j['id']}", "permalink": f"{self.url}/job/show/{j['id']}"}
                for j in self.jobs
                if j["project"] == parts[3] and (not tag or tag in j["tags"])
            ]
            return "jobs", 200, jobs
        if len(parts) == 5 and parts[2] == "job" and parts[4] == "executions":
            items = self.executions.get(parts[3], [])
            offset, size = int(params.get("offset", 0)), int(params.get("max", 20))
            page = items[offset : offset + size]
            body = {
                "paging": {"count": len(page), "total": len(items), "offset": offset, "max": size},
                "executions": page,
            }
            return "executions", 200, body
        if len(parts) == 6 and parts[2] == "execution" and parts[4:] == ["roimetrics", "data"]:
            data = self.roi.get(int(parts[3]))
            if data is None:
                return "roi", 404, {"error": True, "message": "No ROI data for this execution"}
            return "roi", 200, data
        return "other", 404, {"error": True, "message": "not found"}

    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; without this, delayed ACKs cost 40 ms a request.
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_GET(self):
                kind, status, body = fake.route(self)
                parsed = urlparse(self.path)
                params = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
                with fake.lock:
                    fake.log.append((kind, parsed.path, params))
                    fault = fake.faults[kind].popleft() if fake.faults[kind] else None
                    if kind == "executions" and fault is None:
                        if fake.broken_after_pages is not None and fake.pages_served >= fake.broken_after_pages:
                            fault = Fault(drop=True)
                        else:
                            fake.pages_served += 1
                if fault and fault.drop:
                    self.close_connection = True
                    return
                if fault:
                    status, body = fault.status, {"error": True, "message": f"injected {fault.status}"}
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (fault.headers if fault else {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self):
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def rundeck(settings):
    """A running fake Rundeck with Beacon's settings pointed at it and backoff waits kept tiny."""
    fake = FakeRundeck()
    fake.start()
    settings.RUNDECK_URL = fake.url
    settings.RUNDECK_TOKEN = TOKEN
    settings.RUNDECK_API_VERSION = 41
    settings.RUNDECK_PROJECTS = ["ops", "billing"]
    settings.RUNDECK_TAGS = []
    settings.RUNDECK_PAGE_SIZE = 200
    settings.RUNDECK_MAX_RETRIES = 3
    settings.RUNDECK_BACKOFF_FACTOR = 0.001
    settings.RUNDECK_BACKOFF_MAX = 0.01
    settings.RUNDECK_RETRY_AFTER_MAX = 0.01
    settings.RUNDECK_TIMEOUT = 5
    settings.RUNDECK_ROI_METRICS = True
    settings.RUNDECK_ROI_HOURS_KEY = "hours"
    yield fake
    fake.stop()


# --- factories ----------------------------------------------------------------------


def make_job(external_id="job-1", name=None, *, minutes="30", cost="60", tags=(), project="ops"):
    from automation.services import tags_get_or_create

    job = AutomationJob.objects.create(
        external_id=external_id,
        name=name or external_id,
        project=project,
        minutes_saved=Decimal(minutes),
        cost_per_hour=Decimal(cost),
    )
    if tags:
        job.tags.add(*tags_get_or_create(tags))
    return job


def make_run(job, *, started, seconds=60, status="succeeded", hours=None, external_id=None):
    make_run.counter += 1
    return Execution.objects.create(
        job=job,
        external_id=external_id or f"run-{make_run.counter}",
        status=status,
        started_at=started,
        ended_at=started + timedelta(seconds=seconds),
        duration_seconds=seconds,
        hours_saved=None if hours is None else Decimal(str(hours)),
        source="pushed",
    )


make_run.counter = 0
