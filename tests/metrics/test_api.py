import pytest
from django.utils import timezone

from metrics.models import MetricSample
from tests.conftest import api_key, login

from .conftest import make_series, make_source

URL = "/api/v1/metrics/samples/"


@pytest.fixture
def series(db):
    source = make_source()
    return make_series(source, key="web-5xx", label="Web 5xx", role="http_5xx", unit="")


def rows(n=3, key="web-5xx", value=1):
    return [{"series": key, "ts": f"2025-01-31T12:{i:02d}:00Z", "value": value + i} for i in range(n)]


def test_anonymous_callers_are_refused(client, series):
    response = client.post(URL, rows(), content_type="application/json")
    assert response.status_code in (401, 403)
    assert not MetricSample.objects.exists()


@pytest.mark.parametrize("persona", ["outsider", "helpdesk_user", "leader_user"])
def test_users_without_the_engineer_role_cannot_push_samples(client, series, persona, request):
    login(client, request.getfixturevalue(persona))
    response = client.post(URL, rows(), content_type="application/json")
    assert response.status_code == 403
    assert not MetricSample.objects.exists()


def test_an_engineer_pushes_a_batch_and_it_is_stored(client, series, engineer_user):
    login(client, engineer_user)
    response = client.post(URL, rows(3), content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {"received": 3, "stored": 3}
    stored = list(MetricSample.objects.order_by("ts").values_list("ts", "value"))
    assert [v for _, v in stored] == [1, 2, 3]
    assert stored[0][0].isoformat() == "2025-01-31T12:00:00+00:00"


def test_pushing_the_same_batch_twice_stores_nothing_new(client, series, engineer_user):
    login(client, engineer_user)
    client.post(URL, rows(5), content_type="application/json")
    again = client.post(URL, rows(5), content_type="application/json")
    assert again.json() == {"received": 5, "stored": 0}
    assert MetricSample.objects.count() == 5


def test_a_corrected_value_replaces_the_old_one(client, series, engineer_user):
    login(client, engineer_user)
    client.post(URL, rows(2), content_type="application/json")
    response = client.post(URL, rows(2, value=10), content_type="application/json")
    assert response.json()["stored"] == 2
    assert sorted(MetricSample.objects.values_list("value", flat=True)) == [10, 11]


def test_the_same_time_in_another_offset_is_the_same_sample(client, series, engineer_user):
    login(client, engineer_user)
    batch = [
        {"series": "web-5xx", "ts": "2025-01-31T12:00:00Z", "value": 1},
        {"series": "web-5xx", "ts": "2025-01-31T13:00:00+01:00", "value": 2},
    ]
    assert client.post(URL, batch, content_type="application/json").status_code == 200
    assert list(MetricSample.objects.values_list("value", flat=True)) == [2]


@pytest.mark.parametrize(
    ("bad", "field", "text"),
    [
        ({"series": "web-5xx", "ts": "yesterday", "value": 1}, "rows[2].ts", "ISO 8601"),
        ({"series": "web-5xx", "ts": "2025-01-31T12:00:00", "value": 1}, "rows[2].ts", "UTC offset"),
        ({"series": "web-5xx", "ts": "2025-01-31T12:00:00Z", "value": "lots"}, "rows[2].value", "not a number"),
        ({"series": "web-5xx", "ts": "2025-01-31T12:00:00Z", "value": True}, "rows[2].value", "not a number"),
        ({"series": "web-5xx", "ts": "2025-01-31T12:00:00Z"}, "rows[2].value", "required"),
        ({"series": "nope", "ts": "2025-01-31T12:00:00Z", "value": 1}, "rows[2].series", "Unknown series 'nope'"),
        ("just text", "rows[2]", "must be an object"),
    ],
)
def test_a_bad_row_is_named_and_nothing_of_the_batch_is_written(client, series, engineer_user, bad, field, text):
    login(client, engineer_user)
    batch = rows(2) + [bad] + rows(2, value=50)
    response = client.post(URL, batch, content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    # The shared bulk error shape: rows by index, messages per field.
    index, _, name = field.removeprefix("rows[").partition("]")
    [row] = body["rows"]
    assert row["index"] == int(index), body
    messages = row["errors"][name.lstrip(".") or "non_field_errors"]
    assert text in " ".join(messages)
    assert not MetricSample.objects.exists()


def test_a_body_that_is_not_a_list_is_refused(client, series, engineer_user):
    login(client, engineer_user)
    response = client.post(URL, {"series": "web-5xx"}, content_type="application/json")
    assert response.status_code == 400
    assert "JSON list" in response.json()["detail"]


def test_malformed_json_is_a_400(client, series, engineer_user):
    login(client, engineer_user)
    response = client.post(URL, "[{", content_type="application/json")
    assert response.status_code == 400


def test_too_many_rows_in_one_request_are_refused(client, series, engineer_user, settings):
    settings.METRICS_INGEST_MAX_ROWS = 3
    login(client, engineer_user)
    response = client.post(URL, rows(4), content_type="application/json")
    assert response.status_code == 400
    assert "At most 3 rows" in response.json()["detail"]
    assert not MetricSample.objects.exists()


def test_token_authentication_works_for_pushers(client, series, engineer_user):

    token_key = api_key(engineer_user)
    response = client.post(URL, rows(1), content_type="application/json", HTTP_AUTHORIZATION=f"Token {token_key}")
    assert response.status_code == 200


# --- series list --------------------------------------------------------------------


def test_series_list_needs_a_login_and_a_role(client, series, outsider):
    assert client.get("/api/v1/metrics/series/").status_code in (401, 403)
    login(client, outsider)
    assert client.get("/api/v1/metrics/series/").status_code == 403


def test_series_list_shows_latest_value_or_null_never_zero(
    client, series, helpdesk_user, django_assert_max_num_queries
):
    other = make_series(series.source, key="idle", label="Idle")
    MetricSample.objects.create(series=series, ts=timezone.now(), value=7)
    for i in range(5):
        make_series(series.source, key=f"extra-{i}", label=f"Extra {i}")
    login(client, helpdesk_user)
    with django_assert_max_num_queries(12):
        response = client.get("/api/v1/metrics/series/")
    assert response.status_code == 200
    by_key = {row["key"]: row for row in response.json()}
    assert by_key["web-5xx"]["latest_value"] == 7
    assert by_key[other.key]["latest_value"] is None
    assert by_key["web-5xx"]["environment"] == "production"


def test_a_batch_larger_than_djangos_form_upload_limit_is_accepted(client, series, engineer_user, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000
    login(client, engineer_user)
    batch = [{"series": "web-5xx", "ts": f"2025-01-{1 + i // 1440:02d}T{i // 60 % 24:02d}:{i % 60:02d}:00Z", "value": i}
             for i in range(3000)]  # fmt: skip
    response = client.post(URL, batch, content_type="application/json")
    assert response.status_code == 200, response.content
    assert MetricSample.objects.count() == 3000


def test_a_body_over_the_byte_limit_is_refused_before_parsing(client, series, engineer_user, settings):
    settings.METRICS_INGEST_MAX_BYTES = 100
    login(client, engineer_user)
    response = client.post(URL, rows(10), content_type="application/json")
    assert response.status_code == 413
    assert "at most 100" in response.json()["detail"]
