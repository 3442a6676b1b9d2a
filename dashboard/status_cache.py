"""The rendered `/status/` page, shared by every anonymous visitor for a few seconds.

During an outage everyone opens `/status/` at once. The page is rendered once per
language and kept in the cache (Redis in production, so every web process shares it)
under a *version* token. Any save or delete of an incident, its updates, a service or
planned maintenance replaces the token, so the next request renders afresh: what the
public sees is never older than that change. ``STATUS_PAGE_CACHE_SECONDS`` bounds the
rest (times such as "for 2 hours", and writes that bypass model signals).

Each cached copy has an ETag (a hash of its bytes): a browser or proxy that already holds
it gets ``304 Not Modified`` with no body.
"""

import hashlib
import uuid

from django.conf import settings
from django.core.cache import cache

VERSION_KEY = "status-page:version"


def version() -> str:
    token = cache.get(VERSION_KEY)
    if token is None:
        token = uuid.uuid4().hex
        # add() keeps another process's token if it got there first.
        if not cache.add(VERSION_KEY, token, timeout=None):
            token = cache.get(VERSION_KEY) or token
    return token


def invalidate(**_signal_kwargs) -> None:
    """Receiver for model signals: the next `/status/` request renders afresh."""
    cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)


def page_key(language: str) -> str:
    return f"status-page:{version()}:{language}"


def get(language: str) -> tuple[str, bytes] | None:
    """(etag, body) of the current page in ``language``, if cached."""
    return cache.get(page_key(language))


def put(language: str, body: bytes) -> str:
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    cache.set(page_key(language), (etag, body), timeout=settings.STATUS_PAGE_CACHE_SECONDS)
    return etag


def connect_signals() -> None:
    from django.db.models.signals import m2m_changed, post_delete, post_save

    from incidents.models import Incident, IncidentUpdate, Service
    from maintenance.models import Maintenance

    for model in (Incident, IncidentUpdate, Service, Maintenance):
        post_save.connect(invalidate, sender=model, dispatch_uid=f"status-cache-save-{model.__name__}")
        post_delete.connect(invalidate, sender=model, dispatch_uid=f"status-cache-delete-{model.__name__}")
    for through in (Incident.services.through, Maintenance.services.through):
        m2m_changed.connect(invalidate, sender=through, dispatch_uid=f"status-cache-m2m-{through.__name__}")
