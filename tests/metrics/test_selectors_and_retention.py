"""The report's contract (role_samples, no_data_windows) and retention roll-ups."""

from datetime import UTC, datetime, timedelta

import pytest

from metrics import selectors
from metrics.choices import PollStatus, SeriesRole
from metrics.models import MetricRollup, MetricSample, PollResult
from metrics.services import samples_rollup_and_prune, samples_upsert

from .conftest import make_series, make_source

T0 = datetime(2025, 2, 1, tzinfo=UTC)


@pytest.fixture
def web_5xx(db, services):
    source = make_source()
    return make_series(source, key="web-5xx", label="Web 5xx", role=SeriesRole.HTTP_5XX, service=services["web"])


def test_role_samples_are_the_services_samples_in_a_half_open_range(web_5xx, services):
    unattached = make_series(web_5xx.source, key="lb-5xx", role=SeriesRole.HTTP_5XX)
    latency = make_series(web_5xx.source, key="lat", role=SeriesRole.LATENCY_MS, service=services["web"])
    for minutes, value in ((-5, 1), (0, 2), (30, 3), (60, 4)):
        MetricSample.objects.create(series=web_5xx, ts=T0 + timedelta(minutes=minutes), value=value)
    MetricSample.objects.create(series=unattached, ts=T0, value=99)
    MetricSample.objects.create(series=latency, ts=T0, value=99)
    rows = selectors.role_samples(role=SeriesRole.HTTP_5XX, start=T0, end=T0 + timedelta(hours=1))
    assert rows == [
        (services["web"].pk, T0, 2.0),
        (services["web"].pk, T0 + timedelta(minutes=30), 3.0),
    ]


def test_no_data_windows_are_clipped_to_the_range(web_5xx, services):
    for offset, status in ((-10, PollStatus.NO_DATA), (20, PollStatus.ERROR), (40, PollStatus.OK)):
        PollResult.objects.create(
            series=web_5xx, window_start=T0 + timedelta(minutes=offset),
            window_end=T0 + timedelta(minutes=offset + 15), status=status, polled_at=T0,
        )  # fmt: skip
    rows = selectors.no_data_windows(role=SeriesRole.HTTP_5XX, start=T0, end=T0 + timedelta(minutes=30))
    web = services["web"].pk
    assert rows == [
        (web, T0, T0 + timedelta(minutes=5)),
        (web, T0 + timedelta(minutes=20), T0 + timedelta(minutes=30)),
    ]


def test_old_samples_are_rolled_up_hourly_and_pruned_keeping_the_5xx_sum(web_5xx, settings):
    settings.METRICS_RETENTION_DAYS = 30
    now = T0 + timedelta(days=40)
    old_hour = T0 + timedelta(hours=3)
    samples_upsert(points=[(web_5xx.pk, old_hour + timedelta(minutes=5 * i), float(i)) for i in range(12)])
    recent = now - timedelta(days=1)
    MetricSample.objects.create(series=web_5xx, ts=recent, value=7)
    PollResult.objects.create(
        series=web_5xx, window_start=T0, window_end=T0 + timedelta(minutes=5), status=PollStatus.OK, polled_at=T0
    )
    before = selectors.role_samples(role="http_5xx", start=T0, end=now)
    result = samples_rollup_and_prune(now=now)
    assert (result.hours_rolled_up, result.samples_deleted, result.polls_deleted) == (1, 12, 1)
    assert list(MetricSample.objects.values_list("ts", flat=True)) == [recent]
    rollup = MetricRollup.objects.get()
    assert (rollup.hour, rollup.count, rollup.total, rollup.minimum, rollup.maximum) == (old_hour, 12, 66, 0, 11)
    after = selectors.role_samples(role="http_5xx", start=T0, end=now)
    assert sum(v for _, _, v in after) == sum(v for _, _, v in before) == 66 + 7
    # running it again changes nothing
    again = samples_rollup_and_prune(now=now)
    assert again.samples_deleted == 0
    assert MetricRollup.objects.get().total == 66


def test_late_samples_for_a_rolled_up_hour_are_merged(web_5xx, settings):
    settings.METRICS_RETENTION_DAYS = 30
    now = T0 + timedelta(days=40)
    samples_upsert(points=[(web_5xx.pk, T0, 5.0)])
    samples_rollup_and_prune(now=now)
    samples_upsert(points=[(web_5xx.pk, T0 + timedelta(minutes=10), 1.0)])
    samples_rollup_and_prune(now=now)
    rollup = MetricRollup.objects.get()
    assert (rollup.count, rollup.total, rollup.minimum, rollup.maximum) == (2, 6, 1, 5)


def test_retention_runs_daily_from_beat(settings):
    assert settings.CELERY_BEAT_SCHEDULE["metrics-retention"]["task"] == "metrics.tasks.apply_retention"
    assert settings.METRICS_RETENTION_DAYS == 400
    assert settings.CELERY_BEAT_SCHEDULE["metrics-poll"]["task"] == "metrics.tasks.poll_all_series"


def test_demo_seed_is_fast_idempotent_and_has_gaps(db):
    import random
    from io import StringIO

    from django.utils import timezone

    from incidents.models import Service
    from metrics import demo

    for slug in ("web-storefront", "mobile-api", "partner-portal"):
        Service.objects.create(slug=slug, name=slug.title())
    now = timezone.now()
    demo.seed(now=now, rng=random.Random(1), stdout=StringIO())
    count = MetricSample.objects.count()
    assert count > 8 * 35 * 288 * 0.95
    demo.seed(now=now, rng=random.Random(1), stdout=StringIO())
    assert MetricSample.objects.count() == count
    rows = selectors.role_samples(role="http_5xx", start=now - timedelta(days=30), end=now)
    assert {sid for sid, _, _ in rows} == set(Service.objects.values_list("pk", flat=True))
    assert selectors.no_data_windows(role="http_5xx", start=now - timedelta(days=35), end=now)
