"""Thin tasks: the beat schedule's import, which reads its whole configuration from settings."""

from celery import shared_task
from django.conf import settings

from integrations.rundeck import RundeckClient, RundeckError

from . import importer


@shared_task(autoretry_for=(RundeckError,), retry_backoff=60, retry_backoff_max=1800, retry_jitter=True, max_retries=3)
def import_automation() -> int | None:
    """Import new executions; a retry resumes at the cursors, so it never duplicates rows."""
    if not settings.RUNDECK_URL:
        return None
    if importer.import_running():
        return None
    run = importer.rundeck_import(client=RundeckClient.from_settings(), options=importer.ImportOptions.from_settings())
    return run.pk
