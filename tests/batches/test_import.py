from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from batches.models import BatchRun, Client

HEADER = "client,run_id,run_date,started_at,finished_at,status,records_processed,instance_size\n"


def run_import(tmp_path, text):
    path = tmp_path / "runs.csv"
    path.write_text(text, encoding="utf-8")
    out, err = StringIO(), StringIO()
    try:
        call_command("import_batch_runs", str(path), stdout=out, stderr=err)
    except CommandError as exc:
        return out.getvalue(), err.getvalue(), exc
    return out.getvalue(), err.getvalue(), None


def test_good_rows_are_imported(db, tmp_path):
    out, err, exc = run_import(
        tmp_path,
        HEADER
        + "acme,r1,2025-03-01,2025-03-01T02:00:00+00:00,2025-03-01T02:30:00+00:00,succeeded,100,m5.large\n"
        + "acme,r2,2025-03-02,2025-03-02T02:00:00+00:00,2025-03-02T02:45:00+00:00,failed,,\n",
    )
    assert exc is None and err == ""
    assert "2 run(s): 2 new" in out
    assert BatchRun.objects.count() == 2
    acme = Client.objects.get(slug="acme")
    assert acme.instance_size == "m5.large" and acme.latest_run.run_id == "r2"


def test_bad_rows_are_reported_by_line_number_and_good_rows_kept(db, tmp_path):
    out, err, exc = run_import(
        tmp_path,
        HEADER
        + "acme,r1,,2025-03-01T02:00:00+00:00,2025-03-01T02:30:00+00:00,succeeded,,\n"  # line 2
        + "acme,,,2025-03-02T02:00:00+00:00,2025-03-02T02:30:00+00:00,succeeded,,\n"  # line 3: no run_id
        + "acme,r3,,2025-03-03T02:00:00+00:00,2025-03-03T01:30:00+00:00,succeeded,,\n"  # line 4: ends early
        + "acme,r4,,2025-03-04T02:00:00+00:00,2025-03-04T02:30:00+00:00,lost,,\n"  # line 5: bad status
        + "acme,r5,,2025-03-05T02:00:00+00:00,2025-03-05T02:30:00+00:00,succeeded,,\n",  # line 6
    )
    assert exc is not None and "3 row(s) were not imported" in str(exc)
    lines = err.strip().splitlines()
    assert lines[0].startswith("Line 3: run_id: This field is required.")
    assert lines[1] == "Line 4: finished_at: The run cannot finish before it started."
    assert lines[2].startswith("Line 5: status: Unknown status 'lost'")
    assert set(BatchRun.objects.values_list("run_id", flat=True)) == {"r1", "r5"}
    assert "2 run(s): 2 new" in out and "3 bad row(s) skipped" in out


def test_importing_the_same_file_twice_changes_nothing(db, tmp_path):
    text = HEADER + "acme,r1,,2025-03-01T02:00:00+00:00,2025-03-01T02:30:00+00:00,succeeded,,\n"
    run_import(tmp_path, text)
    out, _, exc = run_import(tmp_path, text)
    assert exc is None and "0 new, 0 updated, 1 unchanged" in out
    assert BatchRun.objects.count() == 1


def test_headers_are_case_insensitive_and_duration_seconds_may_replace_finished_at(db, tmp_path):
    text = "\ufeffClient,Run_ID,Started_At,Duration_Seconds,Status\nacme,r1,2025-03-01T02:00:00Z,3600,succeeded\n"
    _, _, exc = run_import(tmp_path, text)
    assert exc is None
    assert BatchRun.objects.get().duration.total_seconds() == 3600


def test_a_file_without_the_required_columns_imports_nothing(db, tmp_path):
    _, _, exc = run_import(tmp_path, "client,started_at\nacme,2025-03-01T02:00:00Z\n")
    assert exc is not None and "missing column(s) run_id, status" in str(exc)
    assert not BatchRun.objects.exists()


def test_a_missing_file_is_a_clear_error(db):
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_batch_runs", "/nonexistent/runs.csv")
