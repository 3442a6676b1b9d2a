"""Polling one series: pick the window, ask the source, store what came back, record the outcome.

A poll that finds nothing is not a zero. While attempts remain the caller (a Celery task)
retries later with exponential backoff and jitter and a wider window (``METRICS_WINDOW_STEPS``,
at most 5 minutes); the last attempt records a ``no_data`` result that pages and digests
show as "no data". Each window also re-reads a little before the previous poll's end, so
late datapoints are picked up; the (series, ts) upsert makes re-reading harmless.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.utils import timezone

from integrations import aws, prometheus
from integrations import http_json as hj
from integrations.http_json import Point, SourceError

from .. import selectors
from ..choices import PollStatus, SourceKind
from ..models import MetricSeries, PollResult
from .alerting import threshold_evaluate
from .ingest import samples_upsert

RETRY = "retry"


@dataclass
class PollOutcome:
    """What one attempt found. ``status`` is a ``PollStatus`` or ``RETRY`` (try again later)."""

    series: MetricSeries
    status: str
    window_start: datetime
    window_end: datetime
    attempt: int
    points: list[Point] = field(default_factory=list)
    stored: int = 0
    message: str = ""
    error: bool = False

    def describe(self) -> str:
        window = f"{self.window_start:%Y-%m-%d %H:%M:%S}–{self.window_end:%H:%M:%S} UTC"
        if self.status == PollStatus.OK:
            last_ts, last_value = self.points[-1]
            return (
                f"{self.series.key}: {len(self.points)} point(s) in {window}, {self.stored} new or changed; "
                f"latest {last_value:g}{self.series.unit} at {last_ts:%H:%M:%S}"
            )
        if self.status == RETRY:
            return f"{self.series.key}: {self.message} in {window} (attempt {self.attempt + 1}, will retry)"
        return f"{self.series.key}: {self.status.replace('_', ' ')} in {window}: {self.message}"


def max_attempts() -> int:
    return max(len(settings.METRICS_WINDOW_STEPS), 1)


def retry_countdown(attempt: int) -> int:
    """Celery's exponential backoff with full jitter, from the metrics settings."""
    return get_exponential_backoff_interval(
        factor=settings.METRICS_RETRY_BACKOFF_SECONDS,
        retries=attempt,
        maximum=settings.METRICS_RETRY_BACKOFF_MAX_SECONDS,
        full_jitter=True,
    )


def poll_window(*, series: MetricSeries, attempt: int, now: datetime) -> tuple[datetime, datetime]:
    """The window to query on this attempt: widened per attempt, reaching back to the last good poll."""
    steps = settings.METRICS_WINDOW_STEPS or [300]
    width = max(steps[min(attempt, len(steps) - 1)], series.period_seconds)
    # Windows sit on period boundaries: CloudWatch and Prometheus then return the same
    # timestamps on every poll, so overlapping windows upsert the same rows, never near-duplicates.
    period = max(series.period_seconds, 1)
    end = _floor(now, period)
    start = end - timedelta(seconds=width)
    previous_end = selectors.last_ok_window_end(series_id=series.pk)
    if previous_end is not None:
        resume = previous_end - timedelta(seconds=settings.METRICS_POLL_OVERLAP_SECONDS)
        earliest = end - timedelta(seconds=settings.METRICS_MAX_CATCHUP_SECONDS)
        start = min(start, max(resume, earliest))
    start = _floor(start, period)
    return start, end


def _floor(moment: datetime, period: int) -> datetime:
    return datetime.fromtimestamp(int(moment.timestamp()) // period * period, tz=moment.tzinfo)


def series_fetch(*, series: MetricSeries, start: datetime, end: datetime) -> list[Point]:
    """Ask the series' source for its points in ``[start, end]``; raises ``SourceError``."""
    source = series.source
    timeout = settings.METRICS_HTTP_TIMEOUT_SECONDS
    if source.kind == SourceKind.CLOUDWATCH:
        client = aws.cloudwatch_client(
            region=source.region,
            endpoint_url=source.endpoint_url,
            profile=source.aws_profile,
            role_arn=source.role_arn,
            sts_endpoint_url=settings.AWS_STS_ENDPOINT_URL,
            timeout=timeout,
        )
        return aws.get_metric_points(
            client,
            namespace=series.namespace,
            metric_name=series.metric_name,
            dimensions=series.dimensions or {},
            statistic=series.statistic,
            period=series.period_seconds,
            start=start,
            end=end,
        )
    headers = _auth_headers(source.auth_env_var)
    if source.kind == SourceKind.PROMETHEUS:
        return prometheus.query_range(
            source.base_url,
            series.query,
            start=start,
            end=end,
            step=series.period_seconds,
            headers=headers,
            timeout=timeout,
        )
    if source.kind == SourceKind.HTTP_JSON:
        template = (
            series.query
            if series.query.startswith(("http://", "https://"))
            else (source.base_url.rstrip("/") + "/" + series.query.lstrip("/"))
        )
        try:
            url = hj.fill_url(template, start=start, end=end, step=series.period_seconds)
        except (KeyError, IndexError, ValueError) as exc:
            raise SourceError(f"bad placeholder in the series URL: {exc}") from None
        points = hj.fetch_points(
            url,
            values_path=source.json_values_path,
            timestamps_path=source.json_timestamps_path,
            ts_key=source.json_ts_key,
            value_key=source.json_value_key,
            headers=headers,
            timeout=timeout,
        )
        # Some APIs ignore the window and answer with everything; keep what was asked for.
        return [(ts, v) for ts, v in points if start <= ts <= end]
    raise SourceError(f"unknown source kind {source.kind!r}")


def series_poll(
    *,
    series_id: int,
    attempt: int = 0,
    final: bool | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
) -> PollOutcome | None:
    """One attempt at polling a series. Returns None if the series is gone or disabled.

    ``final`` (default: this is the last window step) decides whether "nothing yet" is
    recorded as ``no_data``/``error`` or handed back as ``RETRY``. ``dry_run`` stores nothing.
    """
    series = MetricSeries.objects.select_related("source").filter(pk=series_id).first()
    if series is None or not series.enabled or not series.source.enabled:
        return None
    now = now or timezone.now()
    if final is None:
        final = attempt >= max_attempts() - 1
    start, end = poll_window(series=series, attempt=attempt, now=now)
    outcome = PollOutcome(series=series, status=RETRY, window_start=start, window_end=end, attempt=attempt)
    try:
        points = series_fetch(series=series, start=start, end=end)
    except SourceError as exc:
        outcome.error = True
        outcome.message = str(exc)
        if exc.retryable and not final:
            return outcome
        outcome.status = PollStatus.ERROR
        return _record(outcome, dry_run=dry_run, now=now)
    if not points:
        outcome.message = f"no data (window widened to {(end - start).total_seconds() / 60:g} min)"
        if not final:
            return outcome
        outcome.status = PollStatus.NO_DATA
        outcome.message = (
            f"No data after {attempt + 1} attempt(s); the window was widened to "
            f"{(end - start).total_seconds() / 60:g} minutes."
        )
        return _record(outcome, dry_run=dry_run, now=now)
    outcome.points = points
    outcome.status = PollStatus.OK
    if not dry_run:
        outcome.stored = samples_upsert(points=[(series.pk, ts, value) for ts, value in points])
    _record(outcome, dry_run=dry_run, now=now)
    if not dry_run:
        # After the value is stored: N polls past the critical threshold open an incident.
        threshold_evaluate(series=series, points=points, now=now)
    return outcome


def _record(outcome: PollOutcome, *, dry_run: bool, now: datetime) -> PollOutcome:
    if not dry_run:
        PollResult.objects.create(
            series=outcome.series,
            window_start=outcome.window_start,
            window_end=outcome.window_end,
            status=outcome.status,
            message=outcome.message[:2000],
            samples=len(outcome.points),
            attempts=outcome.attempt + 1,
            polled_at=now,
        )
    return outcome


def pollable_series_ids() -> list[int]:
    return list(
        MetricSeries.objects.filter(enabled=True, source__enabled=True).order_by("pk").values_list("pk", flat=True)
    )


def _auth_headers(env_var: str) -> dict:
    if not env_var:
        return {}
    value = os.environ.get(env_var)
    if not value:
        raise SourceError(f"environment variable {env_var} (the source's Authorization header) is not set")
    return {"Authorization": value}
