"""GET /api/v1/batch-runs/: the write API's field names, filters, cursor pages, CSV."""

import csv
import io
from datetime import UTC, datetime

import pytest

from tests.batches.conftest import daily_history

pytestmark = pytest.mark.django_db

LAST = datetime(2025, 3, 20, 2, 0, tzinfo=UTC)


def test_runs_are_read_back_with_the_write_field_names_filtered_and_paged(client, leader_user, ingest):
    ingest(daily_history("acme", [30] * 20, last=LAST, records_processed=1000))
    ingest(daily_history("globex", [45] * 5, last=LAST))
    client.force_login(leader_user)
    body = client.get("/api/v1/batch-runs/?client=acme&start=2025-03-10&end=2025-03-19&page_size=4").json()
    first = body["results"][0]
    assert set(first) == {"client", "run_id", "run_date", "started_at", "finished_at", "duration_seconds", "status",
                          "records_processed"}  # fmt: skip
    assert first["client"] == "acme" and first["duration_seconds"] == 1800 and first["records_processed"] == 1000
    seen = body["results"]
    while body["next"]:
        body = client.get(body["next"]).json()
        seen += body["results"]
    assert [r["run_id"] for r in seen] == [f"202503{d:02d}" for d in range(10, 20)]

    response = client.get("/api/v1/batch-runs/?format=csv&client=globex")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 5 and list(rows[0])[:2] == ["client", "run_id"] and rows[0]["duration_seconds"] == "2700.0"


@pytest.mark.parametrize(("query", "name", "code"), [("client=nope", "client", 404), ("start=march", "start", 400),
                                                     ("status=odd", "status", 400)])  # fmt: skip
def test_bad_filters_name_the_parameter(client, leader_user, query, name, code):
    client.force_login(leader_user)
    response = client.get(f"/api/v1/batch-runs/?{query}")
    assert response.status_code == code and name in response.json()


def test_a_run_id_that_looks_like_a_formula_is_neutralised_in_csv(client, leader_user, ingest):
    ingest(daily_history("acme", [30], last=LAST, run_id="=cmd|' /C calc'!A0"))
    client.force_login(leader_user)
    text = b"".join(client.get("/api/v1/batch-runs/?format=csv").streaming_content).decode()
    assert "'=cmd" in text
