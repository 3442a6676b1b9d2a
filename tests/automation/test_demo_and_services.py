import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest

from automation import demo, selectors, services
from automation.models import AutomationJob, Execution

from .conftest import make_job

pytestmark = pytest.mark.django_db
NOW = datetime(2024, 6, 1, 12, tzinfo=UTC)


def test_demo_data_has_tagged_jobs_and_months_of_runs_and_loads_only_once():
    out = StringIO()
    demo.seed(now=NOW, rng=random.Random(42), stdout=out)
    count = Execution.objects.count()
    assert AutomationJob.objects.count() == len(demo.JOBS) and count > 2000
    assert AutomationJob.objects.filter(tags__name="compliance").count() == 2
    oldest = Execution.objects.order_by("started_at").first().started_at
    assert NOW - oldest > timedelta(days=100)
    summary = selectors.roi_summary(start=NOW - timedelta(days=30), end=NOW)
    assert summary["runs"] > 500 and summary["hours_saved"] > 100 and 85 < summary["success_rate"] < 100
    demo.seed(now=NOW + timedelta(days=1), rng=random.Random(7), stdout=StringIO())
    assert Execution.objects.count() == count
    assert "new executions" in out.getvalue()


def test_an_import_without_roi_data_keeps_the_hours_a_push_stored():
    make_job("job-1")
    row = services.ExecutionRow(
        job="job-1",
        external_id="42",
        status="succeeded",
        started_at=NOW,
        ended_at=NOW + timedelta(minutes=2),
        hours_saved=Decimal("1.5"),
    )
    services.executions_record(rows=[row], now=NOW)
    services.executions_record(rows=[services.ExecutionRow(**{**row.__dict__, "hours_saved": None})], now=NOW)
    assert Execution.objects.get().hours_saved == Decimal("1.5")


def test_an_import_adds_tags_to_a_job_but_leaves_its_savings_alone():
    job = make_job("job-1", "Old name", minutes="45", cost="99", tags=["manual"])
    services.job_upsert(external_id="job-1", name="New name", project="ops", tags=["ops"])
    job.refresh_from_db()
    assert job.name == "New name" and job.minutes_saved == Decimal("45") and job.cost_per_hour == Decimal("99")
    assert sorted(job.tags.values_list("name", flat=True)) == ["manual", "ops"]
