"""Every write keeps the hourly aggregates and the series' latest value exact."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Count, Max, Min, Sum
from django.db.models.functions import TruncHour

from metrics.models import MetricHourly, MetricRollup, MetricSample
from metrics.services.ingest import samples_upsert
from metrics.services.retention import samples_rollup_and_prune
from tests.conftest import login

from .conftest import make_series, make_source

pytestmark = pytest.mark.django_db
T0 = datetime(2025, 1, 31, 11, 50, tzinfo=UTC)


@pytest.fixture
def series(db):
    return make_series(make_source(), key="web-5xx", label="Web 5xx", role="http_5xx", unit="")


def raw_hours(series):
    return {
        row["hour"]: (row["n"], row["t"], row["lo"], row["hi"])
        for row in MetricSample.objects.filter(series=series)
        .annotate(hour=TruncHour("ts", tzinfo=UTC))
        .values("hour")
        .annotate(n=Count("pk"), t=Sum("value"), lo=Min("value"), hi=Max("value"))
        .order_by()
    }


def stored_hours(series):
    return {h.hour: (h.count, h.total, h.minimum, h.maximum) for h in MetricHourly.objects.filter(series=series)}


def test_pushes_resends_and_changed_values_keep_the_hourly_aggregates_equal_to_the_samples(client, series,
                                                                                          engineer_user):  # fmt: skip
    login(client, engineer_user)
    rows = [{"series": "web-5xx", "ts": (T0 + timedelta(minutes=i)).isoformat(), "value": i} for i in range(30)]
    assert client.post("/api/v1/metrics/samples/", rows, content_type="application/json").status_code == 200
    assert stored_hours(series) == raw_hours(series) and len(stored_hours(series)) == 2
    client.post("/api/v1/metrics/samples/", rows, content_type="application/json")  # the same again
    changed = [{**rows[3], "value": 100}, {**rows[20], "value": -5}]
    client.post("/api/v1/metrics/samples/", changed, content_type="application/json")
    assert stored_hours(series) == raw_hours(series)
    assert stored_hours(series)[datetime(2025, 1, 31, 11, tzinfo=UTC)][1] == sum(range(10)) - 3 + 100
    series.refresh_from_db()
    assert series.latest_ts == T0 + timedelta(minutes=29) and series.latest_value == 29


def test_an_older_point_does_not_replace_the_latest_value(series):
    samples_upsert(points=[(series.pk, T0, 5.0)])
    samples_upsert(points=[(series.pk, T0 - timedelta(days=1), 9.0)])
    series.refresh_from_db()
    assert (series.latest_ts, series.latest_value) == (T0, 5.0)


def test_retention_moves_pruned_hours_from_the_aggregates_to_the_rollups(series, settings):
    settings.METRICS_RETENTION_DAYS = 1
    samples_upsert(points=[(series.pk, T0 + timedelta(minutes=i), 2.0) for i in range(30)])
    samples_rollup_and_prune(now=T0 + timedelta(days=3))
    assert not MetricSample.objects.exists() and not MetricHourly.objects.exists()
    assert sum(r.total for r in MetricRollup.objects.all()) == 60.0
