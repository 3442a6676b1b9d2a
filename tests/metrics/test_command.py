from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from metrics.choices import SourceKind
from metrics.models import MetricSample, PollResult

from .conftest import make_series, make_source, prom_matrix


@pytest.fixture
def prom(db, fake_http, settings):
    settings.METRICS_WINDOW_STEPS = [60, 300]
    source = make_source(kind=SourceKind.PROMETHEUS, base_url=fake_http.url)
    now = datetime.now(UTC).timestamp()
    fake_http.json_route("/api/v1/query_range", prom_matrix([(now - 90, "118"), (now - 30, "121.5")]))
    return make_series(source)


def run(*args):
    out = StringIO()
    call_command("poll_metrics", *args, stdout=out)
    return out.getvalue()


def test_poll_metrics_polls_every_series_and_prints_what_it_found(prom):
    out = run()
    assert "api-latency: 2 point(s)" in out
    assert "latest 121.5ms" in out
    assert "Polled 1 series, 0 without data or failed" in out
    assert MetricSample.objects.count() == 2
    assert PollResult.objects.get().status == "ok"


def test_a_dry_run_prints_but_stores_nothing(prom):
    out = run("--dry-run", "--series", "api-latency")
    assert "api-latency: 2 point(s)" in out
    assert "dry run: nothing stored" in out
    assert not MetricSample.objects.exists()
    assert not PollResult.objects.exists()


def test_an_unknown_series_is_a_clear_error(prom):
    with pytest.raises(CommandError, match="No metric series with key 'nope'"):
        run("--series", "nope")


def test_no_data_is_reported_after_widening(prom, fake_http):
    fake_http.json_route("/api/v1/query_range", prom_matrix(None))
    out = run("--series", "api-latency")
    assert "will retry" in out
    assert "no data in" in out
    assert PollResult.objects.get().status == "no_data"
