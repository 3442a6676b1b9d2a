"""Demo data for ``seed_demo``: sources, series and ~35 days of 5-minute samples, with a few gaps.

The demo sources are disabled for polling (there is no AWS account behind them), so the
seeded history stays as it is; the page, digest and report read it like real data.
Safe to run twice: existing series are only topped up to ``now``.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.db import transaction

from incidents.models import Service

from .choices import PollStatus, SeriesRole, SourceKind, Statistic, ThresholdDirection
from .models import MetricSample, MetricSeries, MetricSource, PollResult
from .services import samples_upsert

DAYS = 35
STEP = timedelta(minutes=5)

SOURCES = [
    # name, kind, environment, region
    ("AWS production (N. Virginia)", SourceKind.CLOUDWATCH, "production", "us-east-1"),
    ("AWS production (Ireland)", SourceKind.CLOUDWATCH, "production", "eu-west-1"),
    ("AWS staging (N. Virginia)", SourceKind.CLOUDWATCH, "staging", "us-east-1"),
]

ALB = "AWS/ApplicationELB"
SERIES = [
    # key, label, source index, role, service slug, metric, statistic, unit, warning, critical, direction
    ("web-storefront-5xx", "Web Storefront 5xx", 0, SeriesRole.HTTP_5XX, "web-storefront",
     "HTTPCode_Target_5XX_Count", Statistic.SUM, "", 50, 200, ThresholdDirection.ABOVE),
    ("mobile-api-5xx", "Mobile API 5xx", 0, SeriesRole.HTTP_5XX, "mobile-api",
     "HTTPCode_Target_5XX_Count", Statistic.SUM, "", 50, 200, ThresholdDirection.ABOVE),
    ("prod-healthy-hosts", "Healthy Hosts", 0, SeriesRole.HEALTHY_HOSTS, None,
     "HealthyHostCount", Statistic.MINIMUM, "hosts", 4, 2, ThresholdDirection.BELOW),
    ("prod-api-latency", "API Latency", 0, SeriesRole.LATENCY_MS, "mobile-api",
     "TargetResponseTime", Statistic.AVERAGE, "ms", 250, 500, ThresholdDirection.ABOVE),
    ("partner-portal-5xx", "Partner Portal 5xx", 1, SeriesRole.HTTP_5XX, "partner-portal",
     "HTTPCode_Target_5XX_Count", Statistic.SUM, "", 50, 200, ThresholdDirection.ABOVE),
    ("eu-upload-latency", "Upload Latency", 1, SeriesRole.LATENCY_MS, None,
     "TargetResponseTime", Statistic.AVERAGE, "ms", 300, 600, ThresholdDirection.ABOVE),
    ("staging-healthy-hosts", "Healthy Hosts", 2, SeriesRole.HEALTHY_HOSTS, None,
     "HealthyHostCount", Statistic.MINIMUM, "hosts", 1, 0, ThresholdDirection.BELOW),
    ("staging-cs-latency", "CS Latency", 2, SeriesRole.LATENCY_MS, None,
     "TargetResponseTime", Statistic.AVERAGE, "ms", 400, 800, ThresholdDirection.ABOVE),
]  # fmt: skip


def seed(*, now: datetime, rng, stdout) -> None:
    now = now.replace(second=0, microsecond=0)
    end = now - timedelta(minutes=now.minute % 5)
    sources = []
    for name, kind, env, region in SOURCES:
        source, _ = MetricSource.objects.get_or_create(
            name=name, defaults={"kind": kind, "environment": env, "region": region, "enabled": False}
        )
        sources.append(source)
    services = {s.slug: s for s in Service.objects.all()}
    total = 0
    for key, label, src, role, slug, metric, stat, unit, warn, crit, direction in SERIES:
        series, _ = MetricSeries.objects.get_or_create(
            key=key,
            defaults={
                "label": label,
                "source": sources[src],
                "role": role,
                "service": services.get(slug) if slug else None,
                "namespace": ALB,
                "metric_name": metric,
                "dimensions": {"LoadBalancer": f"app/{key.rsplit('-', 1)[0]}/50dc6c495c0c9188"},
                "statistic": stat,
                "period_seconds": 300,
                "unit": unit,
                "warning_threshold": warn,
                "critical_threshold": crit,
                "threshold_direction": direction,
            },
        )
        latest = MetricSample.objects.filter(series=series).order_by("-ts").values_list("ts", flat=True).first()
        start = latest + STEP if latest else end - timedelta(days=DAYS)
        total += _fill(series, start=start, end=end, rng=rng, fresh=latest is None)
    stdout.write(f"metrics: {len(SERIES)} series, {total} samples added")


def _fill(series: MetricSeries, *, start: datetime, end: datetime, rng, fresh: bool) -> int:
    """Generate 5-minute samples in ``[start, end]``; a fresh series also gets gaps and poll results."""
    gaps = []
    if fresh:
        # Two outages of the monitoring itself: the report and page must say "no data" there.
        for _ in range(2):
            gap_start = end - timedelta(days=rng.uniform(2, DAYS - 1))
            gap_start = gap_start.replace(minute=gap_start.minute - gap_start.minute % 5, second=0, microsecond=0)
            gaps.append((gap_start, gap_start + timedelta(minutes=rng.choice([30, 60, 90, 120]))))
    spikes = {end - timedelta(days=rng.uniform(1, DAYS - 1)) for _ in range(6)}
    points, polls = [], []
    ts = start
    while ts <= end:
        gap = next((g for g in gaps if g[0] <= ts < g[1]), None)
        if gap is None:
            points.append((series.pk, ts, _value(series, ts, rng, spikes)))
        ts += STEP
    for gap_start, gap_end in gaps:
        at = gap_start
        while at < gap_end:
            polls.append(
                PollResult(
                    series=series,
                    window_start=at,
                    window_end=at + STEP,
                    status=PollStatus.NO_DATA,
                    message="No data after 5 attempt(s); the window was widened to 5 minutes.",
                    attempts=5,
                    polled_at=at + STEP + timedelta(minutes=2),
                )
            )
            at += STEP
    if fresh:
        last_status = PollStatus.NO_DATA if series.key == "staging-cs-latency" else PollStatus.OK
        polls.append(
            PollResult(
                series=series,
                window_start=end - STEP,
                window_end=end,
                status=last_status,
                message="No data after 5 attempt(s); the window was widened to 5 minutes."
                if last_status == PollStatus.NO_DATA
                else "",
                samples=0 if last_status == PollStatus.NO_DATA else 1,
                polled_at=end,
            )
        )
    with transaction.atomic():
        stored = samples_upsert(points=points)
        PollResult.objects.bulk_create(polls, batch_size=500)
    return stored


def _value(series: MetricSeries, ts: datetime, rng, spikes: set[datetime]) -> float:
    day = math.sin((ts.hour + ts.minute / 60 - 9) / 24 * 2 * math.pi)  # busiest mid-afternoon UTC
    spike = any(abs((ts - s).total_seconds()) < 1800 for s in spikes)
    role = series.role
    if role == SeriesRole.HTTP_5XX:
        base = max(0.0, rng.expovariate(1 / (1.5 + day)))
        return float(int(base + (rng.uniform(40, 260) if spike else 0)))
    if role == SeriesRole.HEALTHY_HOSTS:
        full = 6 if series.environment != "staging" and series.source.environment == "production" else 2
        if spike:
            return float(max(1, full - rng.choice([1, 2, 3])))
        return float(full - (1 if rng.random() < 0.02 else 0))
    base = 120 + 40 * day + rng.gauss(0, 12)
    return round(max(20.0, base * (rng.uniform(2.5, 4) if spike else 1)), 1)
