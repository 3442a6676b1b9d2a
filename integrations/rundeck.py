"""Client for the Rundeck API, which PagerDuty Runbook Automation / Process Automation also speaks.

Only what the automation ROI import needs, read-only:

- ``GET /api/<v>/project/<project>/jobs?tags=<tag>``: the jobs of a project (a JSON list);
- ``GET /api/<v>/job/<id>/executions?max=&offset=``: a job's executions, newest first, as
  ``{"paging": {"count", "total", "offset", "max"}, "executions": [...]}``. Every page is
  followed to ``total``: there is no 1,000-row cap, unlike the notebook this replaces;
- ``GET /api/<v>/execution/<id>/roimetrics/data``: the ROI Metrics Data key/values of one
  execution (Runbook Automation only; 404 when the job does not record them).

Network errors, 429 (honouring ``Retry-After``) and 5xx are retried with exponential
backoff in an explicit loop, so the waits are visible, capped and testable (urllib3's
``Retry`` would sleep for whatever ``Retry-After`` a server sends). Other 4xx answers
(bad token, unknown project) are not retried: waiting does not fix them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import quote

import requests

from config.api import http_url

from .http_retry import RETRY_STATUSES
from .http_retry import retry_after as _retry_after

logger = logging.getLogger(__name__)


class RundeckError(Exception):
    """The server could not be read, even after retrying."""


@dataclass(frozen=True)
class RundeckJob:
    id: str
    name: str
    project: str
    group: str
    tags: tuple[str, ...]
    url: str


@dataclass(frozen=True)
class RundeckExecution:
    id: int
    job_id: str
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    url: str


@dataclass(frozen=True)
class ExecutionPage:
    executions: list[RundeckExecution]
    offset: int
    max: int
    count: int
    total: int

    @property
    def next_offset(self) -> int:
        return self.offset + self.count

    @property
    def is_last(self) -> bool:
        return self.count == 0 or self.next_offset >= self.total


class RundeckClient:
    """A small, retrying Rundeck API client. ``sleep`` is injectable so tests can see the waits."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        api_version: int = 41,
        timeout: float = 30,
        max_retries: int = 5,
        backoff_factor: float = 0.5,
        backoff_max: float = 60,
        retry_after_max: float = 300,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ):
        if not base_url:
            raise RundeckError("No Rundeck URL configured (RUNDECK_URL).")
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_factor = backoff_factor
        self.backoff_max = backoff_max
        self.retry_after_max = retry_after_max
        self.sleep = sleep
        self.session = session or requests.Session()
        self.session.headers.update({"Accept": "application/json", "User-Agent": "Beacon automation import"})
        if token:
            self.session.headers["X-Rundeck-Auth-Token"] = token
        self.requests_made = 0

    @classmethod
    def from_settings(cls, **overrides) -> RundeckClient:
        from django.conf import settings

        options = {
            "base_url": settings.RUNDECK_URL,
            "token": settings.RUNDECK_TOKEN,
            "api_version": settings.RUNDECK_API_VERSION,
            "timeout": settings.RUNDECK_TIMEOUT,
            "max_retries": settings.RUNDECK_MAX_RETRIES,
            "backoff_factor": settings.RUNDECK_BACKOFF_FACTOR,
            "backoff_max": settings.RUNDECK_BACKOFF_MAX,
            "retry_after_max": settings.RUNDECK_RETRY_AFTER_MAX,
        }
        options.update(overrides)
        return cls(**options)

    # --- API calls ------------------------------------------------------------------

    def jobs(self, project: str, *, tag: str | None = None) -> list[RundeckJob]:
        params = {"tags": tag} if tag else None
        data = self._get(f"project/{quote(project, safe='')}/jobs", params)
        # Plain list in every API version; tolerate a wrapped {"jobs": [...]} as well.
        items = data.get("jobs", []) if isinstance(data, dict) else data
        jobs = []
        for item in items or []:
            tags = set(_split_tags(item.get("tags")))
            if tag:
                tags.add(tag)
            jobs.append(
                RundeckJob(
                    id=str(item["id"]),
                    name=item.get("name") or str(item["id"]),
                    project=item.get("project") or project,
                    group=item.get("group") or "",
                    tags=tuple(sorted(tags)),
                    url=http_url(item.get("permalink")),
                )
            )
        return jobs

    def execution_page(self, job_id: str, *, offset: int, page_size: int) -> ExecutionPage:
        data = self._get(f"job/{quote(job_id, safe='')}/executions", {"max": page_size, "offset": offset})
        items = data.get("executions") or []
        executions = [_execution(item, job_id) for item in items]
        paging = data.get("paging") or {}
        return ExecutionPage(
            executions=executions,
            offset=int(paging.get("offset", offset)),
            max=int(paging.get("max", page_size)),
            count=int(paging.get("count", len(executions))),
            # Without paging data, a short page is the last one.
            total=int(paging.get("total", offset + len(executions) + (1 if len(executions) >= page_size else 0))),
        )

    def execution_pages(self, job_id: str, *, page_size: int, start_offset: int = 0) -> Iterator[ExecutionPage]:
        """Every page from ``start_offset`` to the end, following ``paging``."""
        offset = start_offset
        while True:
            page = self.execution_page(job_id, offset=offset, page_size=page_size)
            yield page
            if page.is_last:
                return
            offset = page.next_offset

    def roi_data(self, execution_id: int | str) -> dict | None:
        """The ROI Metrics Data of an execution, or None where the server has none (404)."""
        data = self._get(f"execution/{quote(str(execution_id), safe='')}/roimetrics/data", allow_404=True)
        return data if isinstance(data, dict) else None

    def roi_hours(self, execution_id: int | str, *, key: str = "hours") -> Decimal | None:
        """Hours saved by one execution according to its ROI data (the field key is configurable)."""
        data = self.roi_data(execution_id)
        if not data or data.get(key) in (None, ""):
            return None
        try:
            hours = Decimal(str(data[key]).strip())
        except InvalidOperation:
            logger.warning("Execution %s: ROI value %r=%r is not a number; ignored", execution_id, key, data[key])
            return None
        if not hours.is_finite() or hours < 0:
            logger.warning("Execution %s: ROI value %r=%s is not a usable number; ignored", execution_id, key, hours)
            return None
        return hours

    # --- transport ------------------------------------------------------------------

    def url(self, path: str) -> str:
        return f"{self.base_url}/api/{self.api_version}/{path}"

    def backoff(self, attempt: int) -> float:
        return min(self.backoff_max, self.backoff_factor * (2**attempt))

    def _get(self, path: str, params: dict | None = None, *, allow_404: bool = False):
        url = self.url(path)
        for attempt in range(self.max_retries + 1):
            wait = self.backoff(attempt)
            try:
                self.requests_made += 1
                response = self.session.get(url, params=params, timeout=self.timeout)
            except requests.RequestException as exc:
                # Connection refused or dropped, timeouts, a body cut short.
                problem = f"network error: {exc.__class__.__name__}: {exc}"
            else:
                if response.status_code in RETRY_STATUSES:
                    problem = f"HTTP {response.status_code}"
                    if response.status_code == 429 or "Retry-After" in response.headers:
                        retry_after = _retry_after(response.headers.get("Retry-After"))
                        if retry_after is not None:
                            wait = min(retry_after, self.retry_after_max)
                elif response.status_code == 404 and allow_404:
                    return None
                elif response.status_code >= 400:
                    raise RundeckError(f"GET {url} answered HTTP {response.status_code}: {response.text[:300]}")
                else:
                    try:
                        return response.json()
                    except ValueError:
                        problem = "the answer was not valid JSON"
            if attempt >= self.max_retries:
                raise RundeckError(f"GET {url} failed after {attempt + 1} attempts; last: {problem}")
            logger.warning("GET %s: %s; retrying in %.2fs (attempt %d)", url, problem, wait, attempt + 1)
            self.sleep(wait)
        raise AssertionError("unreachable")


def _split_tags(value) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        value = value.split(",")
    return [str(tag).strip() for tag in value if str(tag).strip()]


def _parse_date(value) -> datetime | None:
    """Rundeck dates look like ``{"unixtime": 1431536339809, "date": "2015-05-13T16:58:59Z"}``."""
    if not value:
        return None
    if isinstance(value, dict):
        if value.get("unixtime") is not None:
            return datetime.fromtimestamp(int(value["unixtime"]) / 1000, tz=UTC)
        value = value.get("date")
    if isinstance(value, str) and value:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _execution(item: dict, job_id: str) -> RundeckExecution:
    return RundeckExecution(
        id=int(item["id"]),
        job_id=str((item.get("job") or {}).get("id") or job_id),
        status=str(item.get("status") or "other").lower(),
        started_at=_parse_date(item.get("date-started")),
        ended_at=_parse_date(item.get("date-ended")),
        url=http_url(item.get("permalink")),
    )
