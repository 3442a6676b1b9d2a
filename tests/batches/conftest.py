"""Factories for batch tests: runs go in through the ingest service, like real ones."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from batches import services
from batches.models import Client

# Pages and checks judge against "now": every test here runs on a clock frozen at NOW
# (ticking from there), midday UTC so that "today" is the same day in every zone from
# -11:00 to +11:59 and "5 hours ago" never crosses midnight. Tests with the real worker
# process (marked ``worker``) cannot share a frozen clock and keep the real one.
NOW = datetime(2025, 6, 18, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_clock(request):
    if request.node.get_closest_marker("worker"):
        yield
        return
    with time_machine.travel(NOW, tick=True):
        yield


def run_row(client, day, minutes: float, *, status="succeeded", run_id=None, **extra) -> dict:
    row = {
        "client": client,
        "run_id": run_id or f"{day:%Y%m%d}",
        "started_at": day.isoformat(),
        "status": status,
    }
    if status != "running":
        row["finished_at"] = (day + timedelta(minutes=minutes)).isoformat()
    row.update(extra)
    return row


def daily_history(slug: str, minutes: list[float], *, last, **extra) -> list[dict]:
    """One run a day, the last one starting at ``last``."""
    first = last - timedelta(days=len(minutes) - 1)
    return [run_row(slug, first + timedelta(days=i), m, **extra) for i, m in enumerate(minutes)]


@pytest.fixture
def ingest(db):
    def _ingest(rows):
        result = services.batch_runs_ingest(rows=rows)
        assert not result.errors, result.errors
        return result

    return _ingest


@pytest.fixture
def fleet(ingest):
    """Four clients as of NOW: healthy, stale (last run 3 days ago), long latest run,
    short latest run; plus one that never ran."""
    ingest(daily_history("healthy", [30] * 20, last=NOW - timedelta(hours=10), instance_size="m5.xlarge"))
    ingest(daily_history("stale", [30] * 20, last=NOW - timedelta(days=3)))
    ingest(daily_history("slowpoke", [30] * 19 + [150], last=NOW - timedelta(hours=8)))
    ingest(daily_history("did-nothing", [40] * 19 + [1], last=NOW - timedelta(hours=8)))
    Client.objects.create(slug="newcomer", name="Newcomer")
    return {c.slug: c for c in Client.objects.all()}
