"""A local HTTP server speaking PagerDuty's REST API v2 JSON, and webhook helpers.

The server is real (``http.server`` on 127.0.0.1 in a thread), so the import's requests,
paging, range splitting and retries go over a real socket. It behaves like PagerDuty
where the import depends on it: ``since``/``until`` filter on ``created_at``; classic
pagination refuses offset + limit beyond the cap (10,000) with a 400; ``total`` only when
asked with ``total=true``; a wrong token is a 401. Faults are queued per kind of endpoint
and used up one at a time.
"""

import hashlib
import hmac
import json
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

import pytest

TOKEN = "test-pagerduty-token"
SECRET = "test-webhook-secret"
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday in a past month


def z(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Fault:
    status: int = 500
    headers: dict = field(default_factory=dict)


class FakePagerDuty:
    """In-memory PagerDuty: incidents with services and priorities, and their log entries."""

    def __init__(self):
        self.incidents: dict[str, dict] = {}
        self.entries: dict[str, list[dict]] = defaultdict(list)
        self.faults: dict[str, deque[Fault]] = defaultdict(deque)
        self.log: list[tuple[str, str, dict]] = []  # (kind, path, params)
        self.lock = threading.Lock()
        self.cap = 10_000
        self.server = None
        self.next_entry = 1

    # --- building data ----------------------------------------------------------------

    def add_incident(
        self,
        pd_id: str,
        *,
        created: datetime,
        title: str = "Checkout errors",
        service: tuple[str, str] = ("PSVC1", "Checkout API"),
        priority: str | None = "P2",
        urgency: str = "high",
        number: int | None = None,
    ) -> dict:
        number = number or len(self.incidents) + 1
        item = {
            "id": pd_id,
            "type": "incident",
            "summary": f"[#{number}] {title}",
            "self": f"{self.url}/incidents/{pd_id}",
            "html_url": f"https://acme.pagerduty.com/incidents/{pd_id}",
            "incident_number": number,
            "title": title,
            "created_at": z(created),
            "updated_at": z(created),
            "status": "triggered",
            "incident_key": f"key-{pd_id}",
            "service": {"id": service[0], "type": "service_reference", "summary": service[1],
                        "self": f"{self.url}/services/{service[0]}",
                        "html_url": f"https://acme.pagerduty.com/service-directory/{service[0]}"},
            "urgency": urgency,
            "priority": self._priority(priority),
            "last_status_change_at": z(created),
            "resolved_at": None,
            "assignments": [],
            "escalation_policy": {"id": "PEP1", "type": "escalation_policy_reference", "summary": "Default"},
        }  # fmt: skip
        self.incidents[pd_id] = item
        self.entry(pd_id, "trigger_log_entry", created, summary=f"Triggered through the API by {service[1]}")
        return item

    @staticmethod
    def _priority(name):
        if name is None:
            return None
        return {"id": f"PRI{name}", "type": "priority", "summary": name, "name": name, "description": ""}

    def entry(self, pd_id, kind, at: datetime, *, summary="", agent="Ada Oncall", channel=None) -> dict:
        entry = {
            "id": f"LE{self.next_entry:06d}",
            "type": kind,
            "summary": summary,
            "created_at": z(at),
            "agent": {"id": "PUSER1", "type": "user_reference", "summary": agent},
            "channel": channel or {"type": "api"},
            "incident": {"id": pd_id, "type": "incident_reference"},
        }
        self.next_entry += 1
        self.entries[pd_id].append(entry)
        return entry

    def acknowledge(self, pd_id, at):
        self.incidents[pd_id].update(status="acknowledged", last_status_change_at=z(at))
        return self.entry(pd_id, "acknowledge_log_entry", at, summary="Acknowledged by Ada Oncall")

    def change_priority(self, pd_id, at, new):
        item = self.incidents[pd_id]
        old = item["priority"]
        item["priority"] = self._priority(new)
        return self.entry(
            pd_id,
            "priority_change_log_entry",
            at,
            summary=f'Priority changed from "{old["name"] if old else "none"}" to "{new}"',
            channel={"type": "web_ui", "old_priority": old, "new_priority": item["priority"]},
        )

    def resolve(self, pd_id, at):
        self.incidents[pd_id].update(status="resolved", resolved_at=z(at), last_status_change_at=z(at))
        return self.entry(pd_id, "resolve_log_entry", at, summary="Resolved by Ada Oncall")

    def fail(self, kind, *faults: Fault):
        """Queue faults for the next requests of one kind: ``incidents``, ``incident`` or ``log_entries``."""
        self.faults[kind].extend(faults)

    def requests(self, kind):
        return [params for k, _, params in self.log if k == kind]

    # --- serving ----------------------------------------------------------------------

    @staticmethod
    def _error(status, message, errors=()):
        return status, {"error": {"message": message, "code": 2001 if status == 400 else 2006, "errors": list(errors)}}

    def _paged(self, key, items, params):
        offset, limit = int(params.get("offset", 0)), int(params.get("limit", 25))
        if offset + limit > self.cap:
            return self._error(400, "Invalid Input Provided", [f"Offset must be less than {self.cap - limit + 1}."])
        page = items[offset : offset + limit]
        body = {key: page, "limit": limit, "offset": offset, "more": offset + len(page) < len(items)}
        body["total"] = len(items) if params.get("total") == "true" else None
        return 200, body

    def route(self, handler):
        parsed = urlparse(handler.path)
        params = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        parts = [unquote(p) for p in parsed.path.strip("/").split("/")]
        if handler.headers.get("Authorization") != f"Token token={TOKEN}":
            return ("auth", *self._error(401, "Unauthorized"))
        if parts == ["incidents"]:
            since = datetime.fromisoformat(params["since"].replace("Z", "+00:00"))
            until = datetime.fromisoformat(params["until"].replace("Z", "+00:00"))
            items = sorted(
                (i for i in self.incidents.values() if since <= _t(i["created_at"]) < until),
                key=lambda i: (i["created_at"], i["id"]),
            )
            return ("incidents", *self._paged("incidents", items, params))
        if len(parts) == 2 and parts[0] == "incidents":
            item = self.incidents.get(parts[1])
            if item is None:
                return ("incident", *self._error(404, "Not Found"))
            return "incident", 200, {"incident": item}
        if len(parts) == 3 and parts[0] == "incidents" and parts[2] == "log_entries":
            # PagerDuty lists log entries newest first.
            items = sorted(self.entries.get(parts[1], []), key=lambda e: (e["created_at"], e["id"]), reverse=True)
            return ("log_entries", *self._paged("log_entries", items, params))
        return ("other", *self._error(404, "Not Found"))

    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body in two writes: no 40 ms delayed-ACK stall

            def log_message(self, *args):
                pass

            def do_GET(self):
                kind, status, body = fake.route(self)
                parsed = urlparse(self.path)
                params = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
                with fake.lock:
                    fake.log.append((kind, parsed.path, params))
                    fault = fake.faults[kind].popleft() if fake.faults[kind] else None
                if fault:
                    status, body = fault.status, {"error": {"message": f"injected {fault.status}"}}
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
        if self.server is None:
            return "http://127.0.0.1:0"
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture
def pagerduty(settings):
    """A running fake PagerDuty with Beacon's settings pointed at it and backoff waits kept tiny."""
    fake = FakePagerDuty()
    fake.start()
    settings.PAGERDUTY_API_URL = fake.url
    settings.PAGERDUTY_TOKEN = TOKEN
    settings.PAGERDUTY_PAGE_SIZE = 10
    settings.PAGERDUTY_MAX_RETRIES = 3
    settings.PAGERDUTY_BACKOFF_FACTOR = 0.001
    settings.PAGERDUTY_BACKOFF_MAX = 0.01
    settings.PAGERDUTY_RETRY_AFTER_MAX = 0.01
    settings.PAGERDUTY_TIMEOUT = 5
    settings.PAGERDUTY_IMPORT_DAYS = 30
    settings.PAGERDUTY_IMPORT_WORKERS = 1  # workers cannot see a test's uncommitted data
    settings.TIME_ZONE = "UTC"  # --since/--until days are read in TIME_ZONE; the data's times are UTC
    settings.PAGERDUTY_PRIORITY_SEVERITY = {"p1": 1, "p2": 2, "p3": 3, "p4": 4, "p5": 4}
    settings.PAGERDUTY_URGENCY_SEVERITY = {"high": 2, "low": 3}
    yield fake
    fake.stop()


# --- webhooks ---------------------------------------------------------------------------


def sign(body: bytes, secret: str = SECRET) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def incident_data(
    pd_id="PWH0001", *, created=T0, priority="P3", urgency="high", status="triggered", title="Search down"
):
    """An incident as a v3 webhook's ``event.data`` carries it."""
    return {
        "id": pd_id,
        "type": "incident",
        "self": f"https://api.pagerduty.com/incidents/{pd_id}",
        "html_url": f"https://acme.pagerduty.com/incidents/{pd_id}",
        "number": 77,
        "status": status,
        "incident_key": f"key-{pd_id}",
        "created_at": z(created),
        "title": title,
        "service": {"id": "PSVC9", "type": "service_reference", "summary": "Search",
                    "self": "https://api.pagerduty.com/services/PSVC9",
                    "html_url": "https://acme.pagerduty.com/services/PSVC9"},
        "assignees": [],
        "escalation_policy": {"id": "PEP1", "type": "escalation_policy_reference", "summary": "Default"},
        "teams": [],
        "priority": None if priority is None else {"id": f"PRI{priority}", "type": "priority_reference",
                                                   "summary": priority},
        "urgency": urgency,
        "conference_bridge": None,
        "resolve_reason": None,
    }  # fmt: skip


def event(event_type, data, *, event_id, occurred=T0):
    return {
        "event": {
            "id": event_id,
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": z(occurred),
            "agent": {"id": "PUSER1", "type": "user_reference", "summary": "Ada Oncall"},
            "client": None,
            "data": data,
        }
    }


@pytest.fixture
def webhook_secret(settings):
    settings.PAGERDUTY_WEBHOOK_SECRET = SECRET
    settings.PAGERDUTY_PRIORITY_SEVERITY = {"p1": 1, "p2": 2, "p3": 3, "p4": 4, "p5": 4}
    settings.PAGERDUTY_URGENCY_SEVERITY = {"high": 2, "low": 3}
    return SECRET


def post_event(client, payload, *, signature=None, raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {"HTTP_X_PAGERDUTY_SIGNATURE": signature if signature is not None else sign(body)}
    return client.post("/api/v1/integrations/pagerduty/", data=body, content_type="application/json", **headers)


ONE_MINUTE = timedelta(minutes=1)
