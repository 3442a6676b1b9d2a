"""The Rundeck client on its own, against the local fake server: paging, ROI data, retries and waits."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime

import pytest

from integrations.rundeck import RundeckClient, RundeckError

from .conftest import EPOCH, TOKEN, Fault


def client_for(fake, waits, **options):
    return RundeckClient(
        base_url=fake.url, token=TOKEN, max_retries=options.pop("max_retries", 4), backoff_factor=0.5,
        backoff_max=8, sleep=waits.append, **options,
    )  # fmt: skip


@pytest.fixture
def waits():
    return []


def test_every_page_is_followed_past_a_thousand_rows(rundeck, waits):
    rundeck.add_job("job-1", "Restart", "ops")
    for n in range(1234):
        rundeck.add_execution("job-1", started=EPOCH + timedelta(minutes=n))
    pages = list(client_for(rundeck, waits).execution_pages("job-1", page_size=500))
    assert [(p.offset, p.count, p.total) for p in pages] == [(0, 500, 1234), (500, 500, 1234), (1000, 234, 1234)]
    executions = [e for p in pages for e in p.executions]
    assert len({e.id for e in executions}) == 1234
    newest = executions[0]
    assert newest.started_at == EPOCH + timedelta(minutes=1233) and newest.started_at.tzinfo is not None
    assert newest.ended_at - newest.started_at == timedelta(seconds=60)
    assert newest.status == "succeeded" and newest.job_id == "job-1"


def test_jobs_are_listed_by_project_and_tag_and_carry_that_tag(rundeck, waits):
    rundeck.add_job("a", "Restart", "ops", tags=["remediation"])
    rundeck.add_job("b", "Backup", "ops", tags=["database"])
    rundeck.add_job("c", "Invoice", "billing", tags=["remediation"])
    jobs = client_for(rundeck, waits).jobs("ops", tag="remediation")
    assert [(j.id, j.project, j.tags) for j in jobs] == [("a", "ops", ("remediation",))]
    assert rundeck.requests("jobs")[0] == ("/api/41/project/ops/jobs", {"tags": "remediation"})


def test_roi_hours_come_from_the_roi_metrics_data_and_a_404_means_none(rundeck, waits):
    rundeck.add_job("job-1", "Restart", "ops")
    with_roi = rundeck.add_execution("job-1", started=EPOCH, roi_hours="1.25")
    without = rundeck.add_execution("job-1", started=EPOCH)
    client = client_for(rundeck, waits)
    assert client.roi_hours(with_roi) == Decimal("1.25")
    assert client.roi_hours(without) is None
    rundeck.roi[without] = {"hours": "-3"}
    assert client.roi_hours(without) is None  # a negative value is not a saving
    rundeck.roi[without] = {"minutes_saved": "20"}
    assert client.roi_hours(without) is None
    assert client.roi_hours(without, key="minutes_saved") == Decimal("20")
    assert waits == []


def test_a_429_waits_as_long_as_retry_after_says(rundeck, waits):
    rundeck.add_job("job-1", "Restart", "ops")
    rundeck.fail("executions", Fault(status=429, headers={"Retry-After": "7"}))
    page = client_for(rundeck, waits).execution_page("job-1", offset=0, page_size=10)
    assert page.total == 0
    assert waits == [7.0]


def test_a_retry_after_date_is_honoured_and_capped(rundeck, waits):
    rundeck.add_job("job-1", "Restart", "ops")
    later = format_datetime(datetime.now(UTC) + timedelta(hours=2), usegmt=True)
    rundeck.fail("executions", Fault(status=429, headers={"Retry-After": later}))
    client_for(rundeck, waits, retry_after_max=120).execution_page("job-1", offset=0, page_size=10)
    assert waits == [120]


def test_server_errors_and_dropped_connections_back_off_exponentially(rundeck, waits):
    rundeck.add_job("job-1", "Restart", "ops")
    rundeck.fail("executions", Fault(status=500), Fault(drop=True), Fault(status=502), Fault(status=503))
    page = client_for(rundeck, waits).execution_page("job-1", offset=0, page_size=10)
    assert page.count == 0
    assert waits == [0.5, 1.0, 2.0, 4.0]


def test_the_client_gives_up_after_its_retries_and_says_why(rundeck, waits):
    rundeck.add_job("job-1", "Restart", "ops")
    rundeck.fail("executions", *[Fault(status=500)] * 10)
    with pytest.raises(RundeckError, match=r"failed after 3 attempts; last: HTTP 500"):
        client_for(rundeck, waits, max_retries=2).execution_page("job-1", offset=0, page_size=10)
    assert len(rundeck.requests("executions")) == 3


def test_the_token_is_sent_in_the_rundeck_header_and_a_refusal_is_not_retried(rundeck, waits):
    client = RundeckClient(base_url=rundeck.url, token="nope", sleep=waits.append)
    with pytest.raises(RundeckError, match="HTTP 403"):
        client.jobs("ops")
    assert waits == [] and len(rundeck.log) == 1
