"""CloudWatch through boto3 against moto's server: put data, poll, widen empty windows, back off when throttled."""

import json
import re
import threading
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer

import pytest
import requests

from integrations import aws
from metrics import services, tasks
from metrics.choices import PollStatus, SeriesRole, SourceKind, Statistic
from metrics.models import MetricSample, PollResult
from tests.conftest import free_port

from .conftest import make_series, make_source

DIMENSIONS = {"LoadBalancer": "app/web/50dc6c495c0c9188"}


def put(client, *points, metric="HTTPCode_Target_5XX_Count"):
    client.put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in DIMENSIONS.items()],
                "Timestamp": ts,
                "Value": value,
                "Unit": "Count",
            }
            for ts, value in points
        ],
    )


@pytest.fixture
def series(db, moto_server):
    source = make_source(
        kind=SourceKind.CLOUDWATCH, name="aws-prod", region="us-east-1", endpoint_url=moto_server, base_url=""
    )
    return make_series(
        source,
        key="web-5xx",
        label="Web 5xx",
        role=SeriesRole.HTTP_5XX,
        unit="",
        query="",
        namespace="AWS/ApplicationELB",
        metric_name="HTTPCode_Target_5XX_Count",
        dimensions=DIMENSIONS,
        statistic=Statistic.SUM,
        period_seconds=60,
    )


def minute(now, ago):
    return (now - timedelta(minutes=ago)).replace(second=0, microsecond=0)


def test_cloudwatch_datapoints_are_polled_into_samples(series, cloudwatch, settings):
    settings.METRICS_WINDOW_STEPS = [300]
    now = datetime.now(UTC)
    put(cloudwatch, (minute(now, 3), 4.0), (minute(now, 2), 0.0), (minute(now, 1), 9.0))
    outcome = services.series_poll(series_id=series.pk, now=now)
    assert outcome.status == PollStatus.OK
    stored = dict(MetricSample.objects.values_list("ts", "value"))
    assert stored == {minute(now, 3): 4.0, minute(now, 2): 0.0, minute(now, 1): 9.0}
    # polled again: the same datapoints, no duplicates
    assert services.series_poll(series_id=series.pk, now=now).stored == 0
    assert MetricSample.objects.count() == 3


def test_an_empty_window_is_widened_step_by_step_until_data_appears(series, cloudwatch, settings):
    settings.METRICS_WINDOW_STEPS = [60, 120, 180, 240, 300]
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    put(cloudwatch, (minute(now, 4), 17.0))  # only a datapoint four minutes old
    outcomes = []
    for attempt in range(5):
        outcome = services.series_poll(series_id=series.pk, attempt=attempt, now=now)
        outcomes.append(outcome)
        if outcome.status != services.RETRY:
            break
    widths = [(o.window_end - o.window_start).total_seconds() for o in outcomes]
    assert widths[: len(outcomes)] == [60, 120, 180, 240, 300][: len(outcomes)]
    assert outcomes[-1].status == PollStatus.OK
    assert len(outcomes) >= 4
    assert list(MetricSample.objects.values_list("value", flat=True)) == [17.0]


def test_nothing_within_five_minutes_is_no_data_never_zero(series, cloudwatch, settings):
    settings.METRICS_WINDOW_STEPS = [60, 180, 300]
    tasks.poll_series.apply(args=[series.pk])
    result = PollResult.objects.get()
    assert result.status == PollStatus.NO_DATA
    assert result.window_end - result.window_start == timedelta(minutes=5)
    assert not MetricSample.objects.exists()


def _cbor_text(text: str) -> bytes:
    raw = text.encode()
    return (bytes([0x60 + len(raw)]) if len(raw) < 24 else bytes([0x78, len(raw)])) + raw


def throttling_response(request_content_type: str):
    """CloudWatch's throttling error as AWS sends it, in the protocol the client spoke (JSON or RPC v2 CBOR)."""
    error_type, message = "com.amazonaws.cloudwatch#Throttling", "Rate exceeded"
    headers = {"x-amzn-query-error": "Throttling;Sender", "x-amzn-requestid": "f00d"}
    if "cbor" in request_content_type:
        body = bytes([0xA2]) + _cbor_text("__type") + _cbor_text(error_type)
        body += _cbor_text("message") + _cbor_text(message)
        return 400, {**headers, "Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"}, body
    body = json.dumps({"__type": error_type, "message": message}).encode()
    return 400, {**headers, "Content-Type": "application/x-amz-json-1.0"}, body


@pytest.fixture
def throttling_proxy(fake_http, moto_server):
    """Answers the first ``remaining`` CloudWatch calls with a throttling error, then forwards to moto."""
    state = {"remaining": 2}

    def handle(req):
        if state["remaining"] > 0:
            state["remaining"] -= 1
            return throttling_response(req.headers.get("content-type", ""))
        forwarded = requests.post(
            moto_server + req.path, data=req.body, headers={k: v for k, v in req.headers.items()}, timeout=10
        )
        keep = {k: v for k, v in forwarded.headers.items() if k.lower() in ("content-type", "smithy-protocol")}
        return forwarded.status_code, keep, forwarded.content

    fake_http.state = state
    for path in ("/", "/service/GraniteServiceVersion20100801/operation/GetMetricData"):
        fake_http.route("POST", path, handle)
    return fake_http


def test_throttling_backs_off_then_polls_successfully(series, cloudwatch, throttling_proxy, settings, monkeypatch):
    settings.METRICS_WINDOW_STEPS = [300, 300, 300, 300]
    now = datetime.now(UTC)
    put(cloudwatch, (minute(now, 1), 3.0))
    series.source.endpoint_url = throttling_proxy.url
    series.source.save()
    countdowns = []
    real = services.retry_countdown
    monkeypatch.setattr(services, "retry_countdown", lambda attempt: countdowns.append(real(attempt)) or 0)
    tasks.poll_series.apply(args=[series.pk])
    assert len(countdowns) == 2  # backed off twice, once per throttled call
    assert len(throttling_proxy.requests) == 3
    assert PollResult.objects.get().status == PollStatus.OK
    assert list(MetricSample.objects.values_list("value", flat=True)) == [3.0]


def test_throttled_on_every_attempt_is_recorded_as_an_error(
    series, throttling_proxy, cloudwatch, settings, monkeypatch
):
    settings.METRICS_WINDOW_STEPS = [60, 120]
    throttling_proxy.state["remaining"] = 99
    series.source.endpoint_url = throttling_proxy.url
    series.source.save()
    monkeypatch.setattr(services, "retry_countdown", lambda attempt: 0)
    tasks.poll_series.apply(args=[series.pk])
    result = PollResult.objects.get()
    assert result.status == PollStatus.ERROR
    assert "throttled" in result.message
    assert "Throttling" in result.message


def _forwarding(fake, target):
    """Make ``fake`` a recording proxy in front of ``target`` (moto)."""

    def handle(req):
        forwarded = requests.post(target + req.path, data=req.body, headers=dict(req.headers), timeout=10)
        keep = {k: v for k, v in forwarded.headers.items() if k.lower() in ("content-type", "smithy-protocol")}
        return forwarded.status_code, keep, forwarded.content

    for path in ("/", "/service/GraniteServiceVersion20100801/operation/GetMetricData"):
        fake.route("POST", path, handle)
    return fake


def _access_key(recorded) -> str:
    return re.search(r"Credential=([^/]+)/", recorded.headers.get("authorization", "")).group(1)


@pytest.fixture
def sts_proxy(moto_server):
    from tests.metrics.conftest import FakeHTTP, _handler_for

    fake = FakeHTTP(port=free_port())
    server = ThreadingHTTPServer(("127.0.0.1", fake.port), _handler_for(fake))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield _forwarding(fake, moto_server)
    server.shutdown()
    server.server_close()


def test_an_assumed_role_signs_the_cloudwatch_calls_and_is_assumed_once(
    series, cloudwatch, settings, fake_http, sts_proxy, moto_server
):
    aws._ROLE_CREDENTIALS.clear()
    settings.METRICS_WINDOW_STEPS = [300]
    settings.AWS_STS_ENDPOINT_URL = sts_proxy.url
    cloudwatch_proxy = _forwarding(fake_http, moto_server)
    series.source.role_arn = "arn:aws:iam::123456789012:role/beacon-read-metrics"
    series.source.endpoint_url = cloudwatch_proxy.url
    series.source.save()
    now = datetime.now(UTC)
    put(cloudwatch, (minute(now, 1), 5.0))

    for _ in range(2):
        outcome = services.series_poll(series_id=series.pk, now=now)
        assert outcome.status == PollStatus.OK, outcome.message

    # AssumeRole went to the STS endpoint, once for both polls, signed with the base keys...
    [assume] = [r for r in sts_proxy.requests if b"AssumeRole" in r.body]
    assert b"beacon-read-metrics" in assume.body and _access_key(assume) == "testing"
    # ...and every CloudWatch call was signed with the role's temporary keys, never the base ones.
    calls = cloudwatch_proxy.requests
    assert calls and not any(b"AssumeRole" in r.body for r in calls)
    keys = {_access_key(r) for r in calls}
    assert "testing" not in keys and len(keys) == 1
    assert next(iter(keys)).startswith("ASIA")


def test_assumed_credentials_are_assumed_again_when_they_are_about_to_expire(series, cloudwatch, settings, sts_proxy):
    aws._ROLE_CREDENTIALS.clear()
    settings.METRICS_WINDOW_STEPS = [300]
    settings.AWS_STS_ENDPOINT_URL = sts_proxy.url
    series.source.role_arn = "arn:aws:iam::123456789012:role/beacon-read-metrics"
    series.source.save()
    services.series_poll(series_id=series.pk)
    for creds in aws._ROLE_CREDENTIALS.values():
        creds["Expiration"] = datetime.now(UTC) + timedelta(minutes=1)  # inside the refresh margin
    services.series_poll(series_id=series.pk)
    assert len([r for r in sts_proxy.requests if b"AssumeRole" in r.body]) == 2


def test_missing_credentials_are_a_clear_error(series, moto_server, monkeypatch, settings, tmp_path):
    settings.METRICS_WINDOW_STEPS = [60]
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    outcome = services.series_poll(series_id=series.pk)
    assert outcome.status == PollStatus.ERROR
    assert "credentials" in outcome.message
