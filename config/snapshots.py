"""Recent snapshots of busy read-only answers, shared by every web process.

During an outage every help-desk screen asks for the same dashboard and timeline several
times a second while incidents keep changing: computing each answer afresh saturates the
machine for nothing, as the answers differ by a few seconds at most. ``recent(key,
compute)`` gives the value computed for ``key`` less than ``TIMELINE_REUSE_SECONDS`` ago by
any web process (the cache: Redis in production), or computes it:

- one computation at a time per key: while one request computes, the others get the previous
  snapshot rather than computing the same thing at once (when there is none, they compute);
- each process also keeps the snapshots it met for the same interval, so a hit usually
  costs no round trip to the cache;
- a snapshot's age is counted from the moment its computation *started*, so what it shows
  is never older than the interval (plus one computation while another is under way).

With the interval at 0 (the tests' setting) every call computes.
"""

import hashlib
import time
import uuid

from django.conf import settings
from django.core.cache import cache

# A computation that crashed or hung gives the key back after this long.
LOCK_SECONDS = 10
# How long past its interval a snapshot stays in the cache, for requests that arrive while
# the next one is computed (at most a lock's time); then the cache drops it.
KEEP_SECONDS = LOCK_SECONDS
LOCAL_LIMIT = 64

# This process's snapshots: key -> (wall-clock start of the computation, value).
_local: dict[str, tuple[float, object]] = {}
# Part of every shared key; forget() replaces it in tests so no snapshot outlives a test case.
_namespace = "snapshot"


def recent(key: str, compute, *, seconds: float | None = None):
    """``compute()``, or the value computed for ``key`` less than ``seconds`` (default
    ``TIMELINE_REUSE_SECONDS``) ago. ``key`` must hold everything the value depends on
    (query, language, time zone); the value must not depend on who asks."""
    interval = settings.TIMELINE_REUSE_SECONDS if seconds is None else seconds
    if interval <= 0:
        return compute()
    now = time.time()
    held = _local.get(key)
    if held is not None and 0 <= now - held[0] < interval:
        return held[1]
    shared_key = f"{_namespace}:" + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
    stored = cache.get(shared_key)
    if stored is not None and 0 <= now - stored[0] < interval:
        _keep(key, stored)
        return stored[1]
    lock = shared_key + ":computing"
    if not cache.add(lock, 1, timeout=LOCK_SECONDS):
        if stored is not None:
            return stored[1]
        return compute()  # nothing to show meanwhile: compute alongside rather than wait
    try:
        started = time.time()
        value = compute()
        entry = (started, value)
        cache.set(shared_key, entry, timeout=int(interval) + KEEP_SECONDS)
        _keep(key, entry)
        return value
    finally:
        cache.delete(lock)


def request_key(name: str, request, *more: str) -> str:
    """The key of ``name``'s answer to ``request``: its query, the active language and time
    zone (what a rendering depends on), and ``more``."""
    from django.utils import timezone, translation

    return "|".join(
        (name, request.GET.urlencode(), translation.get_language(), timezone.get_current_timezone_name(), *more)
    )


def _keep(key: str, entry: tuple[float, object]) -> None:
    if len(_local) >= LOCAL_LIMIT:  # other filters and languages: start afresh
        _local.clear()
    _local[key] = entry


def forget(*, shared: bool = True) -> None:
    """Drop this process's snapshots and, with ``shared``, stop reading the shared ones it
    stored so far (tests start each case from a clean slate; the cache expires them)."""
    global _namespace
    _local.clear()
    if shared:
        _namespace = f"snapshot-{uuid.uuid4().hex}"
