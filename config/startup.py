"""Refuse to serve without a real SECRET_KEY (outside DEBUG).

Settings load in every process, including tools that only read the project; only the
processes that sign cookies, tokens and links must refuse. Those call
``require_secret_key()`` as they start: the WSGI application, the Celery worker and beat,
and ``runserver`` (through the system check below).
"""

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


def require_secret_key() -> None:
    if getattr(settings, "SECRET_KEY_MISSING", False):
        raise ImproperlyConfigured(settings.SECRET_KEY_MESSAGE)


@checks.register(checks.Tags.security)
def secret_key_check(app_configs, **kwargs):
    """``runserver`` (and ``migrate``) stop here without a SECRET_KEY outside DEBUG."""
    if getattr(settings, "SECRET_KEY_MISSING", False):
        return [checks.Error(settings.SECRET_KEY_MESSAGE, id="beacon.E001")]
    return []
