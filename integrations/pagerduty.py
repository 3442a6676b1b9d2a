"""Client for PagerDuty's REST API v2: incidents and their log entries, read-only.

- ``GET /incidents?since=&until=&offset=&limit=&total=true``: incidents created in a time
  range, as ``{"incidents": [...], "offset", "limit", "more", "total"}``. Classic
  pagination stops at offset + limit = 10,000, and PagerDuty answers one range of at most
  about six months; ``incidents()`` therefore cuts a long range into windows and halves a
  window whose ``total`` is over the cap, until every window can be paged to the end;
- ``GET /incidents/<id>``: one incident (to follow an incident created before the range);
- ``GET /incidents/<id>/log_entries``: its log (trigger, acknowledge, priority change,
  annotate, resolve …), paged the same way.

Why not PagerDuty's own ``pagerduty`` package (7.2 at the time of writing): its client
accepts only ``https://`` base URLs (``PAGERDUTY_API_URL`` pointing at a proxy or a local
test server is refused), retries 429 on its own timer without reading ``Retry-After``
and cannot be told not to (so honouring ``Retry-After`` would need a second retry layer
around it), sleeps with a hard-coded ``time.sleep``, and brings a second HTTP stack
(``httpx2``) into a project that speaks ``requests`` everywhere. What we need is three
GET endpoints; its range bisection for the 10,000 cap is the idea reused here.

Network errors, 429 (honouring ``Retry-After``) and 5xx are retried with exponential
backoff in this one loop; 401/403 stop at once with ``PagerDutyAuthError``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import requests

from .http_retry import RETRY_STATUSES, backoff, retry_after

logger = logging.getLogger(__name__)

# offset + limit may not exceed this in classic pagination.
PAGINATION_CAP = 10_000
# PagerDuty refuses /incidents ranges longer than six months; stay under it.
MAX_WINDOW = timedelta(days=180)
MIN_WINDOW = timedelta(seconds=1)


class PagerDutyError(Exception):
    """PagerDuty could not be read, even after retrying."""


class PagerDutyAuthError(PagerDutyError):
    """The token was refused (401/403): retrying cannot help."""


@dataclass(frozen=True)
class IncidentPage:
    incidents: list[dict]
    offset: int
    limit: int
    more: bool
    total: int | None
    since: datetime
    until: datetime


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value) -> datetime | None:
    """PagerDuty writes ISO 8601 times with ``Z`` or an offset."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class PagerDutyClient:
    """A small, retrying PagerDuty REST API v2 client. ``sleep`` is injectable so tests see the waits."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        page_size: int = 100,
        timeout: float = 30,
        max_retries: int = 5,
        backoff_factor: float = 1.0,
        backoff_max: float = 60,
        retry_after_max: float = 300,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ):
        if not token:
            raise PagerDutyAuthError("No PagerDuty token configured (PAGERDUTY_TOKEN).")
        if not base_url:
            raise PagerDutyError("No PagerDuty API URL configured (PAGERDUTY_API_URL).")
        self.base_url = base_url.rstrip("/")
        self.page_size = max(1, min(page_size, 100))  # PagerDuty serves at most 100 a page
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_factor = backoff_factor
        self.backoff_max = backoff_max
        self.retry_after_max = retry_after_max
        self.sleep = sleep
        self.headers = {
            "Accept": "application/vnd.pagerduty+json;version=2",
            "Authorization": f"Token token={token}",
            "User-Agent": "Beacon PagerDuty import",
        }
        # One session per thread: the import reads logs from several worker threads.
        self._local = threading.local()
        if session is not None:
            session.headers.update(self.headers)
            self._local.session = session
        self._lock = threading.Lock()
        self.requests_made = 0

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers.update(self.headers)
            # The environment's proxies and CA bundle, read once: left to requests, they are
            # read again for every request (~0.4 ms each, 10,000 requests an import), and a
            # ~/.netrc entry for the host would replace the token with Basic auth.
            session.trust_env = False
            session.proxies = requests.utils.get_environ_proxies(self.base_url)
            session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        return session

    @classmethod
    def from_settings(cls, **overrides) -> PagerDutyClient:
        from django.conf import settings

        options = {
            "base_url": settings.PAGERDUTY_API_URL,
            "token": settings.PAGERDUTY_TOKEN,
            "page_size": settings.PAGERDUTY_PAGE_SIZE,
            "timeout": settings.PAGERDUTY_TIMEOUT,
            "max_retries": settings.PAGERDUTY_MAX_RETRIES,
            "backoff_factor": settings.PAGERDUTY_BACKOFF_FACTOR,
            "backoff_max": settings.PAGERDUTY_BACKOFF_MAX,
            "retry_after_max": settings.PAGERDUTY_RETRY_AFTER_MAX,
        }
        options.update(overrides)
        return cls(**options)

    # --- incidents -------------------------------------------------------------------

    def incident_page(self, *, since: datetime, until: datetime, offset: int, limit: int) -> IncidentPage:
        data = self._get(
            "incidents",
            {
                "since": iso(since),
                "until": iso(until),
                "offset": offset,
                "limit": limit,
                "total": "true",
                "time_zone": "UTC",
                "sort_by": "created_at:asc",
            },
        )
        items = data.get("incidents") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise PagerDutyError("GET /incidents answered without an 'incidents' list.")
        total = data.get("total")
        return IncidentPage(
            incidents=[item for item in items if isinstance(item, dict) and item.get("id")],
            offset=int(data.get("offset") or offset),
            limit=int(data.get("limit") or limit),
            more=bool(data.get("more")),
            total=int(total) if isinstance(total, int) else None,
            since=since,
            until=until,
        )

    def incident_pages(self, *, since: datetime, until: datetime) -> Iterator[IncidentPage]:
        """Every page of incidents created in ``[since, until)``, splitting the range where paging is capped.

        A window is first asked for its ``total``; over the cap it is halved (down to one
        second). Without a ``total`` the window is paged until the cap, then halved and read
        again: callers de-duplicate by id.
        """
        windows = []
        start = since
        while start < until:
            end = min(until, start + MAX_WINDOW)
            windows.append((start, end))
            start = end
        windows.reverse()  # a stack: oldest window first
        while windows:
            start, end = windows.pop()
            offset = 0
            while True:
                page = self.incident_page(since=start, until=end, offset=offset, limit=self.page_size)
                too_many = page.total is not None and page.total > PAGINATION_CAP
                if offset == 0 and too_many and end - start > MIN_WINDOW:
                    middle = start + (end - start) / 2
                    logger.info("%s–%s holds %s incidents: split in two", iso(start), iso(end), page.total)
                    windows.extend([(middle, end), (start, middle)])
                    break
                yield page
                if not page.more or not page.incidents:
                    break
                offset += len(page.incidents)
                if offset + self.page_size > PAGINATION_CAP:
                    if end - start <= MIN_WINDOW:
                        raise PagerDutyError(
                            f"More than {PAGINATION_CAP} incidents were created within one second at {iso(start)}; "
                            "PagerDuty cannot page past them."
                        )
                    middle = start + (end - start) / 2
                    windows.extend([(middle, end), (start, middle)])
                    break

    def incident(self, incident_id: str) -> dict | None:
        """One incident, or None when PagerDuty no longer has it (404)."""
        data = self._get(f"incidents/{quote(incident_id, safe='')}", allow_404=True)
        if data is None:
            return None
        item = data.get("incident") if isinstance(data, dict) else None
        if not isinstance(item, dict):
            raise PagerDutyError(f"GET /incidents/{incident_id} answered without an 'incident'.")
        return item

    def log_entries(self, incident_id: str) -> list[dict]:
        """Every log entry of one incident, oldest first."""
        entries: list[dict] = []
        offset = 0
        path = f"incidents/{quote(incident_id, safe='')}/log_entries"
        while True:
            data = self._get(path, {"offset": offset, "limit": self.page_size, "time_zone": "UTC"})
            items = data.get("log_entries") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise PagerDutyError(f"GET /{path} answered without a 'log_entries' list.")
            entries.extend(item for item in items if isinstance(item, dict) and item.get("id"))
            if not data.get("more") or not items or offset + len(items) + self.page_size > PAGINATION_CAP:
                break
            offset += len(items)
        entries.sort(key=lambda e: (parse_time(e.get("created_at")) or datetime.max.replace(tzinfo=UTC), e["id"]))
        return entries

    # --- transport -------------------------------------------------------------------

    def _get(self, path: str, params: dict | None = None, *, allow_404: bool = False):
        url = f"{self.base_url}/{path}"
        for attempt in range(self.max_retries + 1):
            wait = backoff(attempt, factor=self.backoff_factor, cap=self.backoff_max)
            try:
                with self._lock:
                    self.requests_made += 1
                response = self.session.get(url, params=params, timeout=self.timeout)
            except requests.RequestException as exc:
                problem = f"network error: {exc.__class__.__name__}: {exc}"
            else:
                status = response.status_code
                if status in (401, 403):
                    raise PagerDutyAuthError(
                        f"PagerDuty refused the token (HTTP {status}{_error_text(response)}): "
                        "check PAGERDUTY_TOKEN (a REST API key with read access)."
                    )
                if status in RETRY_STATUSES:
                    problem = f"HTTP {status}"
                    seconds = retry_after(response.headers.get("Retry-After"))
                    if seconds is not None:
                        wait = min(seconds, self.retry_after_max)
                elif status == 404 and allow_404:
                    return None
                elif status >= 400:
                    raise PagerDutyError(f"GET {url} answered HTTP {status}{_error_text(response)}")
                else:
                    try:
                        return response.json()
                    except ValueError:
                        problem = "the answer was not valid JSON"
            if attempt >= self.max_retries:
                raise PagerDutyError(f"GET {url} failed after {attempt + 1} attempts; last: {problem}")
            logger.warning("GET %s: %s; retrying in %.2fs (attempt %d)", url, problem, wait, attempt + 1)
            self.sleep(wait)
        raise AssertionError("unreachable")


def _error_text(response) -> str:
    """PagerDuty errors look like ``{"error": {"message": …, "code": …}}``."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    message = error.get("message") if isinstance(error, dict) else None
    return f": {message}" if message else ""
