"""Retention: raw samples older than ``METRICS_RETENTION_DAYS`` become hourly roll-ups, then go.

The report reads roll-ups for old months (sum for counts such as 5xx, mean otherwise), so
pruning never silently loses the numbers it showed; poll results that old are deleted too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Min, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from ..models import MetricHourly, MetricRollup, MetricSample, PollResult


@dataclass
class RetentionResult:
    cutoff: datetime
    hours_rolled_up: int = 0
    samples_deleted: int = 0
    polls_deleted: int = 0


def samples_rollup_and_prune(*, now: datetime | None = None) -> RetentionResult:
    now = now or timezone.now()
    cutoff = (now - timedelta(days=settings.METRICS_RETENTION_DAYS)).replace(minute=0, second=0, microsecond=0)
    result = RetentionResult(cutoff=cutoff)
    old = MetricSample.objects.filter(ts__lt=cutoff)
    series_ids = list(old.values_list("series_id", flat=True).distinct())
    for series_id in series_ids:
        # One transaction per series: a crash leaves each series either rolled up or untouched.
        with transaction.atomic():
            rows = (
                old.filter(series_id=series_id)
                .annotate(hour=TruncHour("ts"))
                .values("hour")
                .annotate(n=Count("pk"), total=Sum("value"), low=Min("value"), high=Max("value"))
                .order_by("hour")
            )
            hours = {row["hour"]: row for row in rows}
            existing = {
                r.hour: r
                for r in MetricRollup.objects.select_for_update().filter(series_id=series_id, hour__in=list(hours))
            }
            new, changed = [], []
            for hour, row in hours.items():
                rollup = existing.get(hour)
                if rollup is None:
                    new.append(
                        MetricRollup(
                            series_id=series_id,
                            hour=hour,
                            count=row["n"],
                            total=row["total"],
                            minimum=row["low"],
                            maximum=row["high"],
                        )
                    )
                else:  # late samples for an hour already rolled up: merge them in
                    rollup.count += row["n"]
                    rollup.total += row["total"]
                    rollup.minimum = min(rollup.minimum, row["low"])
                    rollup.maximum = max(rollup.maximum, row["high"])
                    changed.append(rollup)
            MetricRollup.objects.bulk_create(new, batch_size=1000)
            MetricRollup.objects.bulk_update(changed, ["count", "total", "minimum", "maximum"], batch_size=1000)
            result.hours_rolled_up += len(hours)
            result.samples_deleted += old.filter(series_id=series_id)._raw_delete(MetricSample.objects.db)
            # Those hours now live in the roll-up; their raw-sample aggregates go with the samples.
            MetricHourly.objects.filter(series_id=series_id, hour__lt=cutoff)._raw_delete(MetricHourly.objects.db)
    result.polls_deleted, _ = PollResult.objects.filter(window_end__lt=cutoff).delete()
    return result
