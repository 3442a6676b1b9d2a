"""Celery tasks of the metrics app: thin, taking ids; the work is in ``services``."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import services

log = logging.getLogger(__name__)


@shared_task
def poll_all_series() -> int:
    """Beat entry: one task per series, so a slow or failing source delays no other."""
    ids = services.pollable_series_ids()
    for series_id in ids:
        poll_series.delay(series_id)
    return len(ids)


@shared_task(bind=True, max_retries=None)
def poll_series(self, series_id: int) -> str | None:
    """Poll one series. "No data yet" and transient errors come back later, with a wider window.

    Celery's exponential backoff with full jitter spaces the attempts; the number of
    attempts is the number of window steps, after which the service records the outcome.
    """
    attempt = self.request.retries
    outcome = services.series_poll(series_id=series_id, attempt=attempt)
    if outcome is None:
        return None
    if outcome.status == services.RETRY:
        log.info("%s", outcome.describe())
        raise self.retry(countdown=services.retry_countdown(attempt))
    return outcome.status


@shared_task(bind=True, max_retries=3)
def send_hourly_digest(self, at: str | None = None, channel_ids: list[int] | None = None) -> dict:
    """Post the digest; a retry re-sends the same hour's text to the channels that failed only."""
    now = parse_datetime(at) if at else timezone.now()
    delivery = services.digest_send(now=now, channel_ids=channel_ids, email=channel_ids is None)
    if delivery.failed:
        raise self.retry(
            kwargs={"at": now.isoformat(), "channel_ids": sorted(delivery.failed)},
            countdown=services.retry_countdown(self.request.retries),
        )
    return {"sent": len(delivery.sent), "emailed": delivery.emailed}


@shared_task
def apply_retention() -> dict:
    result = services.samples_rollup_and_prune()
    return {"hours": result.hours_rolled_up, "samples": result.samples_deleted, "polls": result.polls_deleted}
