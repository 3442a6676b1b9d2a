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

import gzip
import hashlib
import time
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpResponse, HttpResponseNotModified
from django.utils import translation
from django.utils.cache import patch_vary_headers

VERSION_KEY = "status-page:version"
# Each process remembers the version this long, saving a cache round trip per request;
# a change made in *another* process (a Celery worker) shows at most this much later.
VERSION_MEMO_SECONDS = 1.0
_memo: dict[str, tuple[float, str]] = {}


def version() -> str:
    memo = _memo.get("version")
    if memo and time.monotonic() - memo[0] < VERSION_MEMO_SECONDS:
        return memo[1]
    token = cache.get(VERSION_KEY)
    if token is None:
        token = uuid.uuid4().hex
        # add() keeps another process's token if it got there first.
        if not cache.add(VERSION_KEY, token, timeout=None):
            token = cache.get(VERSION_KEY) or token
    _memo["version"] = (time.monotonic(), token)
    return token


def invalidate(**_signal_kwargs) -> None:
    """Receiver for model signals: the next `/status/` request renders afresh.

    Once now and once more when the transaction commits: a page rendered between the
    save and the commit still read the old rows, and must not stand for the new version.
    """
    _new_version()
    connection = transaction.get_connection()
    # Once per transaction: an import writes thousands of rows in one.
    if connection.in_atomic_block and not any(func is _new_version for _, func, _ in connection.run_on_commit):
        transaction.on_commit(_new_version)


def _new_version() -> None:
    token = uuid.uuid4().hex
    cache.set(VERSION_KEY, token, timeout=None)
    _memo["version"] = (time.monotonic(), token)


def reset() -> None:
    """Forget the shared page everywhere (tests start each case from a clean slate)."""
    cache.delete_many([VERSION_KEY, *(_latest_key(code) for code, _ in settings.LANGUAGES)])
    _memo.clear()
    _pages.clear()
    _latest.clear()


def page_key(language: str) -> str:
    return f"status-page:{version()}:{language}"


def etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def respond(request, etag: str, body: bytes, compressed: bytes | None = None) -> HttpResponse:
    """The shared page (or a 304) with the headers every copy carries; gzipped once at
    store time for clients that accept it (a tenth of the bytes to send)."""
    gzip_ok = compressed is not None and "gzip" in request.headers.get("Accept-Encoding", "")
    if gzip_ok:
        etag = etag[:-1] + '-gz"'
    if etag in etags(request.headers.get("If-None-Match", "")):
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(compressed if gzip_ok else body, content_type="text/html; charset=utf-8")
        if gzip_ok:
            response["Content-Encoding"] = "gzip"
    response["ETag"] = etag
    response["Cache-Control"] = f"public, max-age={settings.STATUS_PAGE_CACHE_SECONDS}"
    patch_vary_headers(response, ("Accept-Language", "Cookie", "Accept-Encoding"))
    return response


def is_shared(request) -> bool:
    """Anonymous, plain GET of the page: the one every visitor shares."""
    return (
        request.method in ("GET", "HEAD")
        and not request.GET
        and settings.SESSION_COOKIE_NAME not in request.COOKIES
        and not getattr(getattr(request, "user", None), "is_authenticated", False)
    )


class StatusPageCacheMiddleware:
    """Answers `/status/` for anonymous visitors straight from the cache, before sessions,
    authentication and CSRF run: during an outage this is most of the site's traffic.
    A miss falls through to the view, which renders and stores the page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == "/status/" and settings.STATUS_PAGE_ENABLED and is_shared(request):
            language = translation.get_language_from_request(request)
            cached = get(language)
            if cached:
                return respond(request, *cached)
        return self.get_response(request)


# This process's copy of the shared pages, so a hit costs no cache round trip for the
# body either: valid while the version is unchanged and the copy is younger than the
# shared one's timeout.
_pages: dict[str, tuple[float, tuple[str, bytes, bytes]]] = {}


def get(language: str) -> tuple[str, bytes, bytes] | None:
    """(etag, body, gzipped body) of the current page in ``language``, if cached."""
    key = page_key(language)
    local = _pages.get(key)
    if local and time.monotonic() - local[0] < settings.STATUS_PAGE_CACHE_SECONDS:
        return local[1]
    stored = cache.get(key)
    if stored is None:
        return _recent(language)
    created, entry = stored
    _remember(key, created, entry)
    return entry


# The latest copy per language (any version), with its wall-clock creation time.
_latest: dict[str, tuple[float, tuple[str, bytes, bytes]]] = {}


def _recent(language: str) -> tuple[str, bytes, bytes] | None:
    """The latest copy if it is younger than ``STATUS_PAGE_RENDER_INTERVAL_SECONDS``: under a
    stream of changes the page is rendered at most that often, whatever the number of
    changes (each would otherwise cost a render), and a change shows at most that late."""
    interval = settings.STATUS_PAGE_RENDER_INTERVAL_SECONDS
    if interval <= 0:
        return None
    latest = _latest.get(language)
    if latest is None or time.time() - latest[0] >= interval:
        latest = cache.get(_latest_key(language))
        if latest is None:
            return None
        _latest[language] = latest
    return latest[1] if time.time() - latest[0] < interval else None


def put(language: str, body: bytes) -> tuple[str, bytes, bytes]:
    entry = ('"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"', body, gzip.compress(body, 6, mtime=0))
    key = page_key(language)
    # Wall-clock creation time travels with the entry, so every process's copy expires with it.
    cache.set(key, (time.time(), entry), timeout=settings.STATUS_PAGE_CACHE_SECONDS)
    cache.set(_latest_key(language), (time.time(), entry), timeout=settings.STATUS_PAGE_CACHE_SECONDS)
    _latest[language] = (time.time(), entry)
    _remember(key, time.time(), entry)
    return entry


# One render at a time per language. Under a stream of changes (an outage with updates
# every few seconds) every change makes the page stale; without this, each web thread
# that noticed would render it at once, all of them for the same result.
RENDER_LOCK_SECONDS = 10


def _latest_key(language: str) -> str:
    return f"status-page:latest:{language}"


def render_once(language: str, render) -> tuple[str, bytes, bytes] | None:
    """The page for the current version, rendered by ``render()`` (bytes, or None when it
    must not be shared) unless another request is rendering it right now: that request's
    visitors wait for nothing and get the previous version, at most one render older."""
    lock = f"status-page:rendering:{language}"
    if not cache.add(lock, 1, timeout=RENDER_LOCK_SECONDS):
        previous = cache.get(_latest_key(language))
        if previous is not None:
            return previous[1]
    try:
        body = render()
        return put(language, body) if body is not None else None
    finally:
        cache.delete(lock)


def _remember(key: str, created_wall: float, entry) -> None:
    if len(_pages) > 8:  # old versions and languages: drop them all
        _pages.clear()
    age = max(0.0, time.time() - created_wall)
    _pages[key] = (time.monotonic() - age, entry)


def connect_signals() -> None:
    from django.db.models.signals import m2m_changed, post_delete, post_save

    from incidents.models import Incident, IncidentUpdate, Service
    from maintenance.models import Maintenance

    for model in (Incident, IncidentUpdate, Service, Maintenance):
        post_save.connect(invalidate, sender=model, dispatch_uid=f"status-cache-save-{model.__name__}")
        post_delete.connect(invalidate, sender=model, dispatch_uid=f"status-cache-delete-{model.__name__}")
    for through in (Incident.services.through, Maintenance.services.through):
        m2m_changed.connect(invalidate, sender=through, dispatch_uid=f"status-cache-m2m-{through.__name__}")
