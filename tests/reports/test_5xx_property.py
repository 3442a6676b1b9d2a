"""5xx outside incidents from hourly aggregates equals the raw-sample computation, exactly.

Random samples (several per hour, some hours with none), random incidents of any severity
(partly covering hours, covering whole hours, crossing the month boundary, ongoing) and a
reporting zone with whole-hour offsets or a :30 offset (where every hour is read raw). The
reference reads every raw sample and tests it against the incident windows, as the report
did before the aggregates existed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidents.models import Service
from metrics.models import MetricSample
from reports.selectors import monthly_report
from reports.uptime import Month
from tests.reports.conftest import add_samples, make_5xx_series, make_incident

START = datetime(2025, 3, 31, 12, tzinfo=UTC)  # 36 hours around the March/April boundary
MINUTES = 36 * 60
NOW = START + timedelta(minutes=MINUTES)

samples_strategy = st.lists(
    st.tuples(st.integers(0, MINUTES - 1), st.integers(0, 40)), min_size=1, max_size=120, unique_by=lambda s: s[0]
)
incident_strategy = st.tuples(
    st.integers(0, MINUTES - 10), st.one_of(st.none(), st.integers(1, 900)), st.sampled_from([1, 2, 3, 4])
)


@pytest.mark.parametrize(("tz", "month"), [("Europe/London", Month(2025, 3)), ("Asia/Kolkata", Month(2025, 4)),
                                           ("UTC", Month(2025, 4))])  # fmt: skip
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(samples=samples_strategy, incidents=st.lists(incident_strategy, max_size=3))
def test_hourly_aggregates_give_the_raw_sample_answer(db, engineer_user, tz, month, samples, incidents):
    with transaction.atomic():
        web = Service.objects.create(slug="web-p", name="Web P", slo_target="99.9")
        series = make_5xx_series(web)
        add_samples(series, [(START + timedelta(minutes=m), float(v)) for m, v in samples])
        windows = []
        for offset, length, severity in incidents:
            begin = START + timedelta(minutes=offset)
            end = None if length is None else min(begin + timedelta(minutes=length), NOW)
            make_incident(by=engineer_user, services=[web], severity=severity, start=begin, resolve=end)
            windows.append((begin, end or NOW))
        start, end = month.bounds(tz)
        expected_total = expected_outside = 0.0
        for ts, value in MetricSample.objects.filter(series=series).values_list("ts", "value"):
            if not start <= ts < min(end, NOW):
                continue
            expected_total += value
            if not any(a <= ts < b for a, b in windows):
                expected_outside += value
        report = monthly_report(month=month, now=NOW, tz=tz, with_trends=False)
        row = next(s for s in report.services if s.slug == "web-p")
        if expected_total == 0 and not MetricSample.objects.filter(series=series, ts__gte=start, ts__lt=end).exists():
            assert row.http_5xx_outside is None
        else:
            assert row.http_5xx_outside == expected_outside
            assert row.http_5xx_total == expected_total
            assert sum(h.value for h in row.worst_hours) <= expected_outside
        transaction.set_rollback(True)
