"""Prometheus and HTTP JSON sources against a local server speaking their real JSON."""

from datetime import UTC, datetime, timedelta

import pytest

from metrics import services, tasks
from metrics.choices import PollStatus, SourceKind
from metrics.models import MetricSample, PollResult

from .conftest import make_series, make_source, prom_matrix

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def prom(db, fake_http):
    source = make_source(kind=SourceKind.PROMETHEUS, base_url=fake_http.url)
    return make_series(source)


def stamps(*minutes_ago):
    return [(NOW - timedelta(minutes=m)).timestamp() for m in minutes_ago]


def test_a_prometheus_range_query_is_stored_as_samples(prom, fake_http):
    fake_http.json_route("/api/v1/query_range", prom_matrix([(t, "120.5") for t in stamps(3, 2, 1)]))
    outcome = services.series_poll(series_id=prom.pk, now=NOW)
    assert outcome.status == PollStatus.OK
    assert list(MetricSample.objects.order_by("ts").values_list("value", flat=True)) == [120.5] * 3
    query = fake_http.received("/api/v1/query_range")[0].query
    assert query["query"] == "avg(latency_ms)"
    assert query["step"] == "60"
    assert float(query["end"]) == NOW.timestamp()
    result = PollResult.objects.get()
    assert (result.status, result.samples) == (PollStatus.OK, 3)


def test_re_polling_the_same_window_stores_no_duplicates(prom, fake_http):
    fake_http.json_route("/api/v1/query_range", prom_matrix([(t, "7") for t in stamps(3, 2, 1)]))
    services.series_poll(series_id=prom.pk, now=NOW)
    again = services.series_poll(series_id=prom.pk, now=NOW)
    assert again.stored == 0
    assert MetricSample.objects.count() == 3


def test_an_empty_matrix_widens_the_window_then_records_no_data_not_zero(prom, fake_http, settings):
    settings.METRICS_WINDOW_STEPS = [60, 120, 300]
    fake_http.json_route("/api/v1/query_range", prom_matrix(None))
    tasks.poll_series.apply(args=[prom.pk])
    widths = [float(r.query["end"]) - float(r.query["start"]) for r in fake_http.received("/api/v1/query_range")]
    assert widths == [60, 120, 300]
    result = PollResult.objects.get()
    assert result.status == PollStatus.NO_DATA
    assert result.attempts == 3
    assert "widened to 5 minutes" in result.message
    assert not MetricSample.objects.exists()


def test_data_arriving_on_a_later_attempt_is_stored(prom, fake_http, settings):
    settings.METRICS_WINDOW_STEPS = [60, 120, 300]
    calls = []

    def answer(req):
        calls.append(req)
        values = None if len(calls) < 2 else [(float(req.query["end"]) - 30, "42")]
        return 200, {"Content-Type": "application/json"}, __import__("json").dumps(prom_matrix(values)).encode()

    fake_http.route("GET", "/api/v1/query_range", answer)
    tasks.poll_series.apply(args=[prom.pk])
    assert len(calls) == 2
    assert list(MetricSample.objects.values_list("value", flat=True)) == [42]
    assert PollResult.objects.get().status == PollStatus.OK


def test_a_5xx_is_retried_with_backoff_and_then_recorded_as_an_error(prom, fake_http, settings, monkeypatch):
    settings.METRICS_WINDOW_STEPS = [60, 120, 180, 300]
    fake_http.json_route("/api/v1/query_range", {"status": "error", "error": "overloaded"}, status=503)
    countdowns = []
    real = services.retry_countdown
    monkeypatch.setattr(services, "retry_countdown", lambda attempt: countdowns.append(real(attempt)) or 0)
    tasks.poll_series.apply(args=[prom.pk])
    assert len(fake_http.received("/api/v1/query_range")) == 4
    assert len(countdowns) == 3
    result = PollResult.objects.get()
    assert result.status == PollStatus.ERROR
    assert "HTTP 503" in result.message


def test_backoff_grows_exponentially_with_jitter(settings):
    settings.METRICS_RETRY_BACKOFF_SECONDS = 4
    settings.METRICS_RETRY_BACKOFF_MAX_SECONDS = 1000
    for attempt in range(4):
        draws = {services.retry_countdown(attempt) for _ in range(200)}
        assert max(draws) <= 4 * 2**attempt
        assert len(draws) > 1  # jitter: not the same delay every time


def test_a_bad_promql_is_an_error_at_once_without_retrying(prom, fake_http):
    fake_http.json_route(
        "/api/v1/query_range",
        {"status": "error", "errorType": "bad_data", "error": 'parse error: unexpected ")"'},
        status=400,
    )
    tasks.poll_series.apply(args=[prom.pk])
    assert len(fake_http.received("/api/v1/query_range")) == 1
    result = PollResult.objects.get()
    assert result.status == PollStatus.ERROR
    assert "parse error" in result.message


def test_a_query_returning_several_series_is_refused_with_advice(prom, fake_http):
    fake_http.json_route("/api/v1/query_range", prom_matrix([(stamps(1)[0], "1")], series_count=3))
    outcome = services.series_poll(series_id=prom.pk, now=NOW)
    assert outcome.status == PollStatus.ERROR
    assert "sum(" in outcome.message
    assert not MetricSample.objects.exists()


def test_an_unreachable_source_is_recorded_as_an_error(db, settings):
    settings.METRICS_WINDOW_STEPS = [60]
    from tests.conftest import free_port

    source = make_source(base_url=f"http://127.0.0.1:{free_port()}")
    series = make_series(source)
    outcome = services.series_poll(series_id=series.pk, now=NOW)
    assert outcome.status == PollStatus.ERROR
    assert "connection failed" in outcome.message


def test_the_authorization_header_comes_from_the_environment(db, fake_http, monkeypatch):
    monkeypatch.setenv("PROM_TOKEN", "Bearer s3cret")
    source = make_source(base_url=fake_http.url, auth_env_var="PROM_TOKEN")
    series = make_series(source)
    fake_http.json_route("/api/v1/query_range", prom_matrix([(stamps(1)[0], "1")]))
    services.series_poll(series_id=series.pk, now=NOW)
    assert fake_http.received("/api/v1/query_range")[0].headers["authorization"] == "Bearer s3cret"
    assert "s3cret" not in str(source.__dict__)


# --- HTTP JSON ------------------------------------------------------------------------


def test_a_dynatrace_style_source_with_parallel_lists_is_stored(db, fake_http):
    source = make_source(
        kind=SourceKind.HTTP_JSON,
        name="dynatrace",
        base_url=fake_http.url,
        json_values_path="result.0.data.0.values",
        json_timestamps_path="result.0.data.0.timestamps",
    )
    series = make_series(source, key="dt-5xx", query="/api/v2/metrics/query?from={start_ms}&to={end_ms}")
    ms = [int(t * 1000) for t in stamps(0.75, 0.5, 0.25)]
    fake_http.json_route(
        "/api/v2/metrics/query",
        {
            "result": [
                {
                    "metricId": "builtin:service.errors.server.count",
                    "data": [{"timestamps": ms, "values": [4, None, 6]}],
                }
            ]
        },
    )
    outcome = services.series_poll(series_id=series.pk, now=NOW)
    assert outcome.status == PollStatus.OK
    # null is a gap in the source's data, never a zero
    assert list(MetricSample.objects.order_by("ts").values_list("value", flat=True)) == [4, 6]
    query = fake_http.received("/api/v2/metrics/query")[0].query
    assert int(query["to"]) == int(NOW.timestamp() * 1000)


def test_a_grafana_style_source_with_pairs_and_an_empty_answer_is_no_data(db, fake_http, settings):
    settings.METRICS_WINDOW_STEPS = [60]
    source = make_source(kind=SourceKind.HTTP_JSON, name="grafana", base_url=fake_http.url, json_values_path="points")
    series = make_series(source, key="gf", query="/render?from={start}&until={end}")
    fake_http.json_route("/render", {"points": []})
    outcome = services.series_poll(series_id=series.pk, now=NOW)
    assert outcome.status == PollStatus.NO_DATA
    fake_http.json_route("/render", {"points": [[stamps(1)[0], 3.5]]})
    assert services.series_poll(series_id=series.pk, now=NOW).status == PollStatus.OK
    assert list(MetricSample.objects.values_list("value", flat=True)) == [3.5]
