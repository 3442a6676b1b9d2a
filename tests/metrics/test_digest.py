"""The hourly digest, posted through Apprise to a local webhook that records what it got."""

from datetime import UTC, datetime, timedelta

import pytest

from incidents.models import ChatChannel
from metrics import services, tasks
from metrics.choices import PollStatus, SeriesRole, SourceKind, ThresholdDirection
from metrics.models import MetricSample, PollResult

from .conftest import make_series, make_source

NOW = datetime(2025, 3, 10, 11, 57, tzinfo=UTC)


@pytest.fixture
def fleet(db):
    east = make_source(name="aws-prod-east", kind=SourceKind.CLOUDWATCH, environment="production", region="us-east-1")
    west = make_source(name="aws-prod-eu", kind=SourceKind.CLOUDWATCH, environment="production", region="eu-west-1")
    staging = make_source(name="aws-staging", kind=SourceKind.CLOUDWATCH, environment="staging", region="us-east-1")
    hosts = make_series(
        east, key="hosts", label="Healthy Hosts", role=SeriesRole.HEALTHY_HOSTS, unit="hosts",
        warning_threshold=4, critical_threshold=2, threshold_direction=ThresholdDirection.BELOW,
    )  # fmt: skip
    latency = make_series(east, key="api-latency", label="API Latency", warning_threshold=250, critical_threshold=500)
    upload = make_series(west, key="upload-latency", label="Upload Latency")
    cs = make_series(staging, key="cs-latency", label="CS Latency")
    for series, before, latest in ((hosts, 6, 3), (latency, 100, 120), (upload, 180, 180)):
        MetricSample.objects.create(series=series, ts=NOW - timedelta(minutes=62), value=before)
        MetricSample.objects.create(series=series, ts=NOW - timedelta(minutes=2), value=latest)
    PollResult.objects.create(
        series=cs, window_start=NOW - timedelta(minutes=7), window_end=NOW - timedelta(minutes=2),
        status=PollStatus.NO_DATA, message="No data after 5 attempt(s).", polled_at=NOW - timedelta(minutes=1),
    )  # fmt: skip
    return {"hosts": hosts, "latency": latency, "upload": upload, "cs": cs}


def test_the_digest_reads_like_the_hourly_update_people_know(fleet):
    body = services.digest_build(now=NOW).body
    assert body.startswith("Hourly Metrics Update: 2025-03-10 11:57")
    lines = body.splitlines()
    assert (
        lines.index("Production · eu-west-1:")
        < lines.index("Production · us-east-1:")
        < lines.index("Staging · us-east-1:")
    )
    assert "- Healthy Hosts: 3 hosts (−3 hosts / −50% vs previous hour) ⚠ WARNING: below 4 hosts" in lines
    assert "- API Latency: 120ms (+20ms / +20% vs previous hour)" in lines
    assert "- Upload Latency: 180ms (no change vs previous hour)" in lines
    assert "Staging · us-east-1:" in lines
    assert "- CS Latency: no data (last poll: No data after 5 attempt(s).)" in lines
    assert "Thresholds breached: 1" in lines


def test_missing_data_is_never_reported_as_zero(fleet):
    body = services.digest_build(now=NOW).body
    cs_line = next(line for line in body.splitlines() if "CS Latency" in line)
    assert "no data" in cs_line
    assert ": 0" not in cs_line


def test_a_stale_value_is_no_data_since_not_a_current_number(fleet):
    later = NOW + timedelta(hours=3)
    body = services.digest_build(now=later).body
    assert "- API Latency: no data since 2025-03-10 11:55" in body


def test_a_critical_breach_is_called_out(fleet):
    MetricSample.objects.create(series=fleet["latency"], ts=NOW - timedelta(minutes=1), value=640)
    body = services.digest_build(now=NOW).body
    assert "- API Latency: 640ms" in body
    assert "⚠ CRITICAL: above 500ms" in body


def test_the_digest_is_posted_to_digest_chat_channels_only(fleet, fake_http):
    fake_http.json_route("/hook", {"ok": True}, method="POST")
    fake_http.json_route("/incidents-only", {"ok": True}, method="POST")
    host = fake_http.url.removeprefix("http://")
    ChatChannel.objects.create(name="ops", url=f"json://{host}/hook", metrics_digest=True)
    ChatChannel.objects.create(name="inc", url=f"json://{host}/incidents-only", metrics_digest=False)
    ChatChannel.objects.create(name="off", url=f"json://{host}/incidents-only", metrics_digest=True, is_active=False)
    delivery = services.digest_send(now=NOW)
    assert len(delivery.sent) == 1
    (posted,) = fake_http.received("/hook")
    payload = posted.json()
    assert payload["title"] == "Hourly Metrics Update"
    assert "- API Latency: 120ms (+20ms / +20% vs previous hour)" in payload["message"]
    assert "Staging · us-east-1:" in payload["message"]
    assert not fake_http.received("/incidents-only")


def test_a_failing_channel_is_retried_alone_with_the_same_hour(fleet, fake_http, monkeypatch):
    fake_http.json_route("/good", {"ok": True}, method="POST")
    fake_http.json_route("/bad", {"error": "down"}, status=500, method="POST")
    host = fake_http.url.removeprefix("http://")
    ChatChannel.objects.create(name="good", url=f"json://{host}/good")
    ChatChannel.objects.create(name="bad", url=f"json://{host}/bad")
    monkeypatch.setattr(services, "retry_countdown", lambda attempt: 0)
    tasks.send_hourly_digest.apply(kwargs={"at": NOW.isoformat()})
    assert len(fake_http.received("/good")) == 1  # not re-sent on retries
    assert len(fake_http.received("/bad")) == 4  # first try + 3 retries
    assert all("11:57" in r.json()["message"] for r in fake_http.received("/bad"))


def test_the_digest_is_also_emailed_when_configured(fleet, mailbox, settings):
    settings.METRICS_DIGEST_EMAILS = ["ops@example.com"]
    services.digest_send(now=NOW)
    (rcpts, message), *_ = mailbox.wait_for(1)
    assert rcpts == ["ops@example.com"]
    assert "Hourly Metrics Update" in message["Subject"]
    assert "API Latency: 120ms" in message.get_content()


def test_the_digest_runs_at_the_configured_minute(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["metrics-digest"]
    assert entry["task"] == "metrics.tasks.send_hourly_digest"
    assert entry["schedule"].minute == {settings.METRICS_DIGEST_MINUTE}
    assert settings.METRICS_DIGEST_MINUTE == 57
