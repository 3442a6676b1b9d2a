"""Reads of metric data, shaped for the page, the digest and the availability report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import Case, DateTimeField, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.expressions import RawSQL

from .choices import COUNT_ROLES, Breach, PollStatus, ThresholdDirection
from .models import MetricHourly, MetricRollup, MetricSample, MetricSeries, PollResult

# --- for the monthly availability report (reports app) -------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CHART_BUCKETS = 288  # the /metrics/ sparklines' resolution (5 minutes over 24 h)
CHART_MIN_BUCKETS = 96
CHART_RAW_MAX_SERIES = 100  # above this, sparklines are drawn from the hourly aggregates
CHART_POINT_BUDGET = 28_800


def role_samples(*, role: str, start: datetime, end: datetime) -> list[tuple[int, datetime, float]]:
    """``(service_id, ts, value)`` of every sample of series with this role and a service, ``start <= ts < end``.

    Hours already rolled up (older than the retention period) come back as one point at
    the start of the hour: the sum for count roles such as ``http_5xx``, else the mean.
    """
    base = Q(series__role=role, series__service__isnull=False)
    samples = MetricSample.objects.filter(base, ts__gte=start, ts__lt=end).order_by("series__service_id", "ts")
    if connection.vendor == "postgresql":
        # A month of 5-minute samples is ~9k rows per series; parsing each timestamptz in
        # psycopg costs more than the query. Integer microseconds since the epoch (exact:
        # EXTRACT returns numeric) turned into datetimes here take about a third of the time.
        micros = RawSQL('(EXTRACT(EPOCH FROM "metrics_metricsample"."ts") * 1000000)::bigint', [])
        rows = [
            (sid, _EPOCH + timedelta(microseconds=us), value)
            for sid, us, value in samples.annotate(_us=micros).values_list("series__service_id", "_us", "value")
        ]
    else:
        rows = list(samples.values_list("series__service_id", "ts", "value"))
    rollups = MetricRollup.objects.filter(base, hour__gte=start, hour__lt=end).values_list(
        "series__service_id", "hour", "total", "count"
    )
    summed = role in COUNT_ROLES
    rows.extend((sid, hour, total if summed else total / count) for sid, hour, total, count in rollups if count)
    if rollups:
        rows.sort(key=lambda row: (row[0], row[1]))
    return rows


def role_hourly_totals(
    *, role: str, start: datetime, end: datetime
) -> tuple[list[tuple[int, datetime, float]], set[int]]:
    """Hourly sums of the raw samples per service, for UTC hours lying wholly in ``[start, end)``.

    Returns ``(rows, services)``: ``rows`` are ``(service_id, hour, total)`` for hours whose
    total is not zero (zero hours add nothing and cannot be a worst hour), ``services`` the
    services with any aggregated hour at all (they have data, even if all of it is zero).
    From the hourly aggregates kept by ``samples_upsert``: one row per service and hour
    instead of one per sample. Pruned hours are in :func:`role_rollup_points` instead.
    """
    last = end - timedelta(hours=1)
    base = MetricHourly.objects.filter(
        series__role=role, series__service__isnull=False, hour__gte=start, hour__lte=last
    )
    services = set(base.values_list("series__service_id", flat=True).distinct().order_by())
    if connection.vendor == "postgresql":
        # Epoch seconds instead of timestamptz: psycopg parses a few hundred thousand ints
        # in a fraction of the time it takes for as many timestamps.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT m.service_id, EXTRACT(EPOCH FROM h.hour)::bigint, SUM(h.total) "
                f"FROM {MetricHourly._meta.db_table} h JOIN {MetricSeries._meta.db_table} m ON m.id = h.series_id "
                "WHERE m.role = %s AND m.service_id IS NOT NULL AND h.hour >= %s AND h.hour <= %s "
                "GROUP BY 1, 2 HAVING SUM(h.total) <> 0",
                [role, start, last],
            )
            return cursor.fetchall(), services
    rows = [
        (sid, int(hour.timestamp()), total)
        for sid, hour, total in base.values("series__service_id", "hour")
        .annotate(t=Sum("total"))
        .order_by()
        .values_list("series__service_id", "hour", "t")
        if total
    ]
    return rows, services


@dataclass
class CleanHours:
    """What the hours no incident partly covers contribute to a service's 5xx figures."""

    sums: dict[int, float]  # service id -> total of the hours outside every incident
    top: dict[int, list[tuple[int, float]]]  # service id -> its largest such hours (epoch s, total)
    covered: dict[int, float]  # service id -> total of the hours wholly inside an incident
    services: set[int]  # services with any aggregated hour in the period


def role_hourly_clean(
    *,
    role: str,
    start: datetime,
    end: datetime,
    dirty: dict[int, set[int]],
    covered: dict[int, set[int]],
    top: int,
) -> CleanHours:
    """Sum, largest hours and covered total per service from the hourly aggregates.

    ``dirty`` hours (partly inside an incident; read raw by the caller) count nowhere here;
    ``covered`` hours (wholly inside one) count only in ``covered``. On PostgreSQL the
    database does the sums and picks the top hours, so a year of 300 services returns a few
    thousand rows instead of ~2.6 million.
    """
    result = CleanHours(sums={}, top={}, covered={}, services=set())
    last = end - timedelta(hours=1)
    if connection.vendor != "postgresql":
        rows, result.services = role_hourly_totals(role=role, start=start, end=end)
        per: dict[int, dict[int, float]] = {}
        for sid, epoch, total in rows:
            if epoch in dirty.get(sid, ()):
                continue
            if epoch in covered.get(sid, ()):
                result.covered[sid] = result.covered.get(sid, 0.0) + total
                continue
            per.setdefault(sid, {})[epoch] = total
        for sid, hours in per.items():
            result.sums[sid] = sum(hours.values())
            result.top[sid] = sorted(hours.items(), key=lambda item: (-item[1], item[0]))[:top]
        return result
    hourly, series = MetricHourly._meta.db_table, MetricSeries._meta.db_table
    series_of: dict[int, list[int]] = {}
    for pk, service_id in MetricSeries.objects.filter(role=role, service__isnull=False).values_list("pk", "service_id"):
        series_of.setdefault(service_id, []).append(pk)
    with connection.cursor() as cursor:
        # Totals per service over the whole period: one aggregate, no sort.
        cursor.execute(
            f"SELECT m.service_id, SUM(h.total) FROM {hourly} h JOIN {series} m ON m.id = h.series_id "
            "WHERE m.role = %s AND m.service_id IS NOT NULL AND h.hour >= %s AND h.hour <= %s GROUP BY 1",
            [role, start, last],
        )
        everything = dict(cursor.fetchall())
        result.services = set(everything)
        # What the dirty and covered hours hold (index lookups), to take out of the totals.
        pairs = [
            (pk, sid, epoch, kind)
            for kind, source in ((0, dirty), (1, covered))
            for sid, hours in source.items()
            for pk in series_of.get(sid, [])
            for epoch in hours
        ]
        taken = {0: {}, 1: {}}
        if pairs:
            cursor.execute(
                "SELECT e.service_id, e.kind, SUM(h.total) FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], "
                "%s::int[]) AS e(series_id, service_id, epoch, kind) "
                f"JOIN {hourly} h ON h.series_id = e.series_id AND h.hour = to_timestamp(e.epoch) "
                "WHERE h.hour >= %s AND h.hour <= %s GROUP BY 1, 2",
                [[p[0] for p in pairs], [p[1] for p in pairs], [p[2] for p in pairs], [p[3] for p in pairs],
                 start, last],
            )  # fmt: skip
            for sid, kind, value in cursor.fetchall():
                taken[kind][sid] = value
        result.covered = taken[1]
        for sid, value in everything.items():
            result.sums[sid] = value - taken[0].get(sid, 0.0) - taken[1].get(sid, 0.0)
        # The largest hours per series, enough of them to still have ``top`` after leaving out
        # that service's dirty and covered hours: a bounded sort per series.
        single = [(pks[0], sid) for sid, pks in series_of.items() if len(pks) == 1 and sid in everything]
        limits = [top + len(dirty.get(sid, ())) + len(covered.get(sid, ())) for _pk, sid in single]
        cursor.execute(
            "SELECT r.service_id, EXTRACT(EPOCH FROM x.hour)::bigint, x.total "
            "FROM unnest(%s::bigint[], %s::bigint[], %s::int[]) AS r(series_id, service_id, lim) "
            f"CROSS JOIN LATERAL (SELECT hour, total FROM {hourly} WHERE series_id = r.series_id "
            "AND hour >= %s AND hour <= %s AND total <> 0 ORDER BY total DESC, hour LIMIT r.lim) x",
            [[p[0] for p in single], [p[1] for p in single], limits, start, last],
        )
        candidates: dict[int, list[tuple[int, float]]] = {}
        for sid, epoch, total in cursor.fetchall():
            if epoch not in dirty.get(sid, ()) and epoch not in covered.get(sid, ()):
                candidates.setdefault(sid, []).append((epoch, total))
        for sid, rows in candidates.items():
            result.top[sid] = sorted(rows, key=lambda item: (-item[1], item[0]))[:top]
        multi = {sid for sid, pks in series_of.items() if len(pks) > 1 and sid in everything}
        if multi:
            # Several 5xx series on one service: their hours are summed before ranking.
            rows, _services = role_hourly_totals(role=role, start=start, end=end)
            per: dict[int, dict[int, float]] = {}
            for sid, epoch, total in rows:
                if sid in multi and epoch not in dirty.get(sid, ()) and epoch not in covered.get(sid, ()):
                    per.setdefault(sid, {})[epoch] = total
            for sid, hours in per.items():
                result.top[sid] = sorted(hours.items(), key=lambda item: (-item[1], item[0]))[:top]
    return result


def role_rollup_points(*, role: str, start: datetime, end: datetime) -> list[tuple[int, datetime, float]]:
    """Pruned hours as one point at the start of the hour (sum for count roles, else mean)."""
    rollups = MetricRollup.objects.filter(
        series__role=role, series__service__isnull=False, hour__gte=start, hour__lt=end
    ).values_list("series__service_id", "hour", "total", "count")
    summed = role in COUNT_ROLES
    return [(sid, hour, total if summed else total / count) for sid, hour, total, count in rollups if count]


def role_samples_in(
    *, role: str, ranges: dict[int, list[tuple[datetime, datetime]]], micros: bool = False
) -> list[tuple[int, datetime | int, float]]:
    """``(service_id, ts, value)`` of raw samples inside the given ``[a, b)`` ranges of each service
    (``ts`` in microseconds since the epoch with ``micros``).

    Each range becomes an index range scan on ``(series_id, ts)``: the ranges are joined
    to the samples (PostgreSQL: ``unnest`` of three arrays), never an OR over a join.
    """
    wanted = {sid: spans for sid, spans in ranges.items() if spans}
    if not wanted:
        return []
    series_of: dict[int, list[int]] = {}
    for pk, service_id in MetricSeries.objects.filter(role=role, service_id__in=list(wanted)).values_list(
        "pk", "service_id"
    ):
        series_of.setdefault(service_id, []).append(pk)
    triples = [
        (series_id, service_id, a, b)
        for service_id, spans in wanted.items()
        for series_id in series_of.get(service_id, [])
        for a, b in spans
        if b > a
    ]
    if not triples:
        return []
    if connection.vendor == "postgresql":
        table = MetricSample._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT r.service_id, (EXTRACT(EPOCH FROM s.ts) * 1000000)::bigint, s.value "
                "FROM unnest(%s::bigint[], %s::bigint[], %s::timestamptz[], %s::timestamptz[]) "
                "AS r(series_id, service_id, a, b) "
                # OFFSET 0 keeps the subquery a per-range index scan: the planner cannot
                # know each range is an hour and would otherwise scan the whole table.
                f"CROSS JOIN LATERAL (SELECT ts, value FROM {table} WHERE series_id = r.series_id "
                "AND ts >= r.a AND ts < r.b OFFSET 0) s",
                [[t[0] for t in triples], [t[1] for t in triples], [t[2] for t in triples], [t[3] for t in triples]],
            )
            if micros:  # microseconds since the epoch, as the database sent them: no datetimes built
                return cursor.fetchall()
            return [(sid, _EPOCH + timedelta(microseconds=us), value) for sid, us, value in cursor.fetchall()]
    service_by_series = {t[0]: t[1] for t in triples}
    one = timedelta(microseconds=1)
    rows: list[tuple[int, datetime, float]] = []
    for index in range(0, len(triples), 300):
        cond = Q(*[Q(series_id=t[0], ts__gte=t[2], ts__lt=t[3]) for t in triples[index : index + 300]], _connector=Q.OR)
        rows.extend(
            (service_by_series[series_id], (ts - _EPOCH) // one if micros else ts, value)
            for series_id, ts, value in MetricSample.objects.filter(cond).values_list("series_id", "ts", "value")
        )
    return rows


def no_data_windows(*, role: str, start: datetime, end: datetime) -> list[tuple[int, datetime, datetime]]:
    """``(service_id, window_start, window_end)`` of polls that found no data or failed, clipped to ``[start, end)``.

    The report shows these as gaps ("no data"), so a silent source never reads as zero errors.
    """
    polls = (
        PollResult.objects.filter(
            series__role=role,
            series__service__isnull=False,
            status__in=(PollStatus.NO_DATA, PollStatus.ERROR),
            window_start__lt=end,
            window_end__gt=start,
        )
        .order_by("series__service_id", "window_start")
        .values_list("series__service_id", "window_start", "window_end")
    )
    return [(sid, max(ws, start), min(we, end)) for sid, ws, we in polls]


# --- for the /metrics/ page and the hourly digest -----------------------------------


@dataclass
class SeriesSnapshot:
    """What a page row or digest line needs about one series at one moment."""

    series: MetricSeries
    latest_ts: datetime | None = None
    latest: float | None = None
    previous: float | None = None  # the value about an hour before the latest
    last_poll: PollResult | None = None
    chart: list[tuple[int, float]] = field(default_factory=list)  # (ms since the epoch, value)

    @property
    def has_data(self) -> bool:
        return self.latest is not None

    @property
    def change(self) -> float | None:
        if self.latest is None or self.previous is None:
            return None
        return self.latest - self.previous

    @property
    def change_percent(self) -> float | None:
        if self.change is None or not self.previous:
            return None
        return 100.0 * self.change / abs(self.previous)

    @property
    def failed(self) -> bool:
        return self.last_poll is not None and self.last_poll.status != PollStatus.OK

    @property
    def breach(self) -> str | None:
        return threshold_breach(self.series, self.latest)


def threshold_breach(series: MetricSeries, value: float | None) -> str | None:
    """``critical``/``warning`` when ``value`` is past a threshold in the bad direction; None otherwise."""
    if value is None:
        return None
    below = series.threshold_direction == ThresholdDirection.BELOW
    for level, limit in ((Breach.CRITICAL, series.critical_threshold), (Breach.WARNING, series.warning_threshold)):
        if limit is not None and (value <= limit if below else value >= limit):
            return level
    return None


@dataclass
class SnapshotGroup:
    environment: str
    region: str
    rows: list[SeriesSnapshot]


def series_snapshots(*, now: datetime, chart_hours: int = 24, with_chart: bool = True) -> list[SnapshotGroup]:
    """Every enabled series with its latest value, the value an hour before, its last poll and chart.

    A fixed number of queries whatever the number of series: the series come with their
    hour-ago value and last poll's id (correlated subqueries, one index probe each), then
    one query for those polls and one for the charts.
    """
    # The previous hour's value: the newest sample at least an hour older than the latest one
    # (stored on the series by samples_upsert), one backward index probe per series, never a
    # scan of its history.
    older = MetricSample.objects.filter(
        series_id=OuterRef("pk"), ts__lte=OuterRef("latest_ts") - timedelta(hours=1)
    ).order_by("-ts")
    last_poll = PollResult.objects.filter(series_id=OuterRef("pk")).order_by("-polled_at")
    series = list(
        MetricSeries.objects.filter(enabled=True)
        .select_related("source", "service")
        .annotate(_previous=Subquery(older.values("value")[:1]), _last_poll=Subquery(last_poll.values("pk")[:1]))
    )
    if not series:
        return []
    ids = [s.pk for s in series]
    latest = {s.pk: (s.latest_ts, s.latest_value) for s in series if s.latest_ts is not None and s.latest_ts <= now}
    previous = {s.pk: s._previous for s in series if s.pk in latest and s._previous is not None}
    # A series without a stored latest value (or whose stored point lies after ``now``) is
    # looked up with one backward index probe, and its hour-ago value with one more.
    missing = [pk for pk in ids if pk not in latest]
    if missing:
        newest = MetricSample.objects.filter(series_id=OuterRef("pk"), ts__lte=now).order_by("-ts")
        found = {}
        for sid, ts, value in (
            MetricSeries.objects.filter(pk__in=missing)
            .annotate(t=Subquery(newest.values("ts")[:1]), v=Subquery(newest.values("value")[:1]))
            .values_list("pk", "t", "v")
        ):
            if ts is not None:
                found[sid] = (ts, value)
        latest.update(found)
        if found:
            hour_ago = Case(
                *[When(pk=sid, then=Value(ts - timedelta(hours=1))) for sid, (ts, _v) in found.items()],
                output_field=DateTimeField(),
            )
            probe = MetricSample.objects.filter(series_id=OuterRef("pk"), ts__lte=OuterRef("hour_ago")).order_by("-ts")
            previous.update(
                (sid, value)
                for sid, value in MetricSeries.objects.filter(pk__in=list(found))
                .annotate(hour_ago=hour_ago)
                .annotate(p=Subquery(probe.values("value")[:1]))
                .values_list("pk", "p")
                if value is not None
            )
    poll_ids = [s._last_poll for s in series if s._last_poll is not None]
    polls = {p.series_id: p for p in PollResult.objects.filter(pk__in=poll_ids).order_by()} if poll_ids else {}
    charts = _charts(ids, now=now, chart_hours=chart_hours) if with_chart else {}
    groups: dict[tuple[str, str], list[SeriesSnapshot]] = {}
    for s in series:
        ts, value = latest.get(s.pk, (None, None))
        snap = SeriesSnapshot(
            series=s,
            latest_ts=ts,
            latest=value,
            previous=previous.get(s.pk),
            last_poll=polls.get(s.pk),
            chart=charts.get(s.pk, []),
        )
        groups.setdefault((s.env_label, s.source.region), []).append(snap)
    order = {"production": 0, "staging": 1}
    return [
        SnapshotGroup(environment=env, region=region, rows=sorted(rows, key=lambda r: r.series.label.lower()))
        for (env, region), rows in sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 2), kv[0]))
    ]


def _charts(ids: list[int], *, now: datetime, chart_hours: int) -> dict[int, list[tuple[int, float]]]:
    """Sparkline points per series: ``(milliseconds since the epoch, value)``, oldest first."""
    charts: dict[int, list[tuple[int, float]]] = {sid: [] for sid in ids}
    postgres = connection.vendor == "postgresql"
    if len(ids) > CHART_RAW_MAX_SERIES:
        # Hundreds of series: one point per hour from the hourly aggregates (their mean), so
        # the page reads ~24 rows per series instead of ~1,440 raw samples.
        since = now - timedelta(hours=chart_hours + 1)
        if postgres:
            # Epoch milliseconds and the mean computed by the database: psycopg parses ints
            # much faster than timestamptz, and the page wants milliseconds anyway.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT series_id, (EXTRACT(EPOCH FROM hour) * 1000)::bigint, total / count "
                    f"FROM {MetricHourly._meta.db_table} WHERE series_id = ANY(%s) AND hour > %s AND hour <= %s "
                    "AND count > 0 ORDER BY series_id, hour",
                    [ids, since, now],
                )
                rows = cursor.fetchall()
        else:
            rows = [
                (sid, _millis(hour), total / count)
                for sid, hour, total, count in MetricHourly.objects.filter(
                    series_id__in=ids, hour__gt=since, hour__lte=now, count__gt=0
                )
                .order_by("series_id", "hour")
                .values_list("series_id", "hour", "total", "count")
            ]
    elif postgres:
        # Averaged into CHART_BUCKETS buckets by the database: a sparkline needs no more
        # points than it has pixels, and 300 minute-resolution series hold 430k points a day.
        # The page stays fast with hundreds of series: the point budget is shared, from 288
        # points per chart (5 min) for up to 100 series down to 96 (15 min) for 300.
        buckets = min(CHART_BUCKETS, max(CHART_MIN_BUCKETS, CHART_POINT_BUDGET // len(ids)))
        bucket = max(int(chart_hours * 3600 / buckets), 1)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT series_id, floor(max(extract(epoch FROM ts)) * 1000)::bigint AS ms, avg(value) "
                f"FROM {MetricSample._meta.db_table} WHERE series_id = ANY(%s) AND ts > %s AND ts <= %s "
                "GROUP BY series_id, floor(extract(epoch FROM ts) / %s) ORDER BY 1, 2",
                [ids, now - timedelta(hours=chart_hours), now, bucket],
            )
            rows = cursor.fetchall()
    else:
        rows = [
            (sid, _millis(ts), value)
            for sid, ts, value in MetricSample.objects.filter(
                series_id__in=ids, ts__gt=now - timedelta(hours=chart_hours), ts__lte=now
            )
            .order_by("series_id", "ts")
            .values_list("series_id", "ts", "value")
        ]
    for sid, ms, value in rows:
        charts[sid].append((ms, value))
    return charts


def _millis(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def last_ok_window_end(*, series_id: int) -> datetime | None:
    return (
        PollResult.objects.filter(series_id=series_id, status=PollStatus.OK)
        .order_by("-window_end")
        .values_list("window_end", flat=True)
        .first()
    )
