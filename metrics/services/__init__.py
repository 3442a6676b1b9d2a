"""Every write of the metrics app: ingest, polling, digest, retention."""

from .alerting import AlertOutcome, alertmanager_notify, threshold_evaluate
from .digest import Digest, DigestDelivery, digest_build, digest_send, format_value
from .ingest import IngestResult, samples_ingest, samples_upsert
from .polling import RETRY, PollOutcome, max_attempts, poll_window, pollable_series_ids, retry_countdown, series_poll
from .retention import RetentionResult, samples_rollup_and_prune

__all__ = [
    "RETRY",
    "AlertOutcome",
    "Digest",
    "DigestDelivery",
    "IngestResult",
    "alertmanager_notify",
    "PollOutcome",
    "RetentionResult",
    "digest_build",
    "digest_send",
    "format_value",
    "max_attempts",
    "poll_window",
    "pollable_series_ids",
    "retry_countdown",
    "samples_ingest",
    "samples_rollup_and_prune",
    "samples_upsert",
    "series_poll",
    "threshold_evaluate",
]
