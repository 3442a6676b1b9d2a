"""Locust users for ``bench/scenario_load.py``: the day-to-day mix of people and tools.

Started by the scenario with the tokens and session cookies it prepared (environment
``BENCH_TOKENS`` / ``BENCH_SESSIONS``, comma-separated). Request names are the endpoints,
so the statistics come out per endpoint.
"""

import itertools
import os
import random

from locust import FastHttpUser, between, task

TOKENS = os.environ.get("BENCH_TOKENS", "").split(",")
SESSIONS = os.environ.get("BENCH_SESSIONS", "").split(",")
SERVICES = os.environ.get("BENCH_SERVICES", "web").split(",")
_counter = itertools.count()


class Responder(FastHttpUser):
    """Help desk and engineers: pages, the timeline API, and incidents opened, updated, closed.

    ``FastHttpUser`` (geventhttpclient) rather than ``HttpUser`` (requests): the load tool shares
    the 2 cores with the server, and requests costs several times more CPU per call.
    """

    wait_time = between(0.5, 1.5)

    def on_start(self):
        n = next(_counter)
        self.token = TOKENS[n % len(TOKENS)]
        # Pages with the session cookie, the API with the token only: a session cookie on an
        # API call would make DRF's session authentication demand a CSRF token.
        self.page = {"Cookie": f"sessionid={SESSIONS[n % len(SESSIONS)]}"}
        self.api = {"Authorization": f"Token {self.token}"}
        self.open_tickets: list[str] = []

    @task(4)
    def dashboard(self):
        self.client.get("/", headers=self.page, name="GET / (dashboard)")

    @task(4)
    def incident_list(self):
        self.client.get("/incidents/", headers=self.page, name="GET /incidents/")

    @task(4)
    def timeline(self):
        self.client.get("/api/v1/timeline/", headers=self.api, name="GET /api/v1/timeline/")

    @task(4)
    def status_page(self):
        self.client.get("/status/", name="GET /status/")

    @task(1)
    def incident_create(self):
        body = {
            "title": f"Load test {random.randrange(10**6)}",
            "severity": random.choice([2, 3, 4]),
            "services": [random.choice(SERVICES)],
            "message": "Investigating.",
        }
        with self.client.post(
            "/api/v1/incidents/", json=body, headers=self.api, name="POST /api/v1/incidents/", catch_response=True
        ) as response:
            if response.status_code == 201:
                self.open_tickets.append(response.json()["ticket"])
                response.success()
            else:
                response.failure(f"{response.status_code}: {response.text[:200]}")

    @task(2)
    def incident_update(self):
        if not self.open_tickets:
            return
        ticket = random.choice(self.open_tickets)
        self.client.post(
            f"/api/v1/incidents/{ticket}/updates/",
            json={"message": "Still investigating."},
            headers=self.api,
            name="POST /api/v1/incidents/{ticket}/updates/",
        )

    @task(1)
    def incident_close(self):
        if not self.open_tickets:
            return
        ticket = self.open_tickets.pop(0)
        self.client.post(
            f"/api/v1/incidents/{ticket}/close/",
            json={"message": "Fixed."},
            headers=self.api,
            name="POST /api/v1/incidents/{ticket}/close/",
        )


class Floor(FastHttpUser):
    """The reference run: the same users and pauses, each request ``/healthz`` (one database
    and one Redis ping, no page). What the stack, locust included, costs on its own."""

    wait_time = between(0.5, 1.5)

    @task
    def healthz(self):
        self.client.get("/healthz", name="GET /healthz (reference)")
