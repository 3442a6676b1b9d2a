"""Thin task: beat's PagerDuty import, configured from settings.

No Celery retry on top: the client already retries 429 and 5xx (one layer), and the next
beat turn resumes from the cursor, which only a complete run moves.
"""

import logging

from celery import shared_task
from django.conf import settings

from integrations.pagerduty import PagerDutyClient, PagerDutyError

from . import importer

logger = logging.getLogger(__name__)


@shared_task
def import_pagerduty() -> str | None:
    if not settings.PAGERDUTY_TOKEN:
        return None
    if importer.import_running():
        logger.info("A PagerDuty import is already running; this turn is skipped.")
        return None
    try:
        result = importer.pagerduty_import(client=PagerDutyClient.from_settings())
    except PagerDutyError as exc:
        logger.error("PagerDuty import failed: %s", exc)
        return f"failed: {exc}"
    return result.summary
