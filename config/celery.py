"""Celery application. Tasks are discovered in each app's ``tasks.py``."""

import os

from celery import Celery
from celery.signals import beat_init, worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("beacon")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@beat_init.connect
def _refuse_without_secret_key(**kwargs):
    """A worker or beat without SECRET_KEY would sign unsubscribe links and emails with a key
    nobody else has; refuse to start instead (see config/startup.py)."""
    from django.core.exceptions import ImproperlyConfigured

    from config.startup import require_secret_key

    try:
        require_secret_key()
    except ImproperlyConfigured as exc:
        # Celery logs and swallows exceptions raised by signal handlers; leave for real.
        raise SystemExit(f"Beacon: {exc}") from None


@worker_process_init.connect
def _warm_up_pdf_rendering(**kwargs):
    """Each worker process loads WeasyPrint and the fonts once, before its first report,
    so the reader who asked for a PDF does not wait for that too."""
    import logging

    from reports.pdf import warm_up

    try:
        warm_up()
    except Exception:  # noqa: BLE001 - never keep a worker from starting; the first PDF will say why
        logging.getLogger(__name__).exception("Could not load the PDF renderer ahead of time")
