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


# --- hostile files: every problem is a "Line N" report, never a traceback -----------------------

GOOD = "acme,r{n},,2025-03-01T02:00:00+00:00,2025-03-01T02:30:00+00:00,succeeded,,\n"


def run_import_bytes(tmp_path, data: bytes):
    path = tmp_path / "runs.csv"
    path.write_bytes(data)
    out, err = StringIO(), StringIO()
    try:
        call_command("import_batch_runs", str(path), stdout=out, stderr=err)
    except CommandError as exc:
        return out.getvalue(), err.getvalue(), exc
    return out.getvalue(), err.getvalue(), None


@pytest.mark.parametrize(
    ("bad_line", "expected"),
    [
        ("acme,rx,,2025-03-01T02:00:00+00:00,,succeeded,,\n".replace(",,succeeded", ",nan,succeeded"), "finished_at"),
        ("acme,rx,,2025-03-01T02:00:00+16:00,2025-03-01T02:30:00+16:00,succeeded,,\n", "UTC offset"),
        ("acme,rx,,0001-01-01T02:00:00+00:00,0001-01-01T02:30:00+00:00,succeeded,,\n", "between 1970 and 2999"),
        ("acme,rx,,2025-03-01T02:00:00+00:00,2025-03-01T02:30:00+00:00,succeeded,99999999999999999999999,\n",
         "too large"),
    ],
)  # fmt: skip
def test_bad_values_are_line_reports_and_the_other_rows_are_saved(db, tmp_path, bad_line, expected):
    text = HEADER + GOOD.format(n=1) + bad_line + GOOD.format(n=3)
    out, err, exc = run_import(tmp_path, text)
    assert exc is not None and "1 row(s) were not imported" in str(exc)
    assert err.startswith("Line 3: ") and expected in err, err
    assert set(BatchRun.objects.values_list("run_id", flat=True)) == {"r1", "r3"}


def test_a_nan_duration_is_a_line_report(db, tmp_path):
    header = "client,run_id,started_at,duration_seconds,status\n"
    text = header + "acme,r1,2025-03-01T02:00:00+00:00,60,succeeded\nacme,r2,2025-03-01T02:00:00+00:00,nan,succeeded\n"
    out, err, exc = run_import(tmp_path, text)
    assert exc is not None and err.startswith("Line 3: duration_seconds")
    assert list(BatchRun.objects.values_list("run_id", flat=True)) == ["r1"]


def test_latin1_and_nul_lines_are_reported_and_the_rest_imported(db, tmp_path):
    data = (
        HEADER.encode()
        + GOOD.format(n=1).encode()
        + "acme,r2,,2025-03-01T02:00:00+00:00,2025-03-01T02:30:00+00:00,succeeded,,Zürich\n".encode("latin-1")
        + b"acme,r3\x00,,2025-03-01T02:00:00+00:00,2025-03-01T02:30:00+00:00,succeeded,,\n"
        + GOOD.format(n=4).encode()
    )
    out, err, exc = run_import_bytes(tmp_path, data)
    lines = err.strip().splitlines()
    assert lines[0].startswith("Line 3: not UTF-8 (byte 0xfc")
    assert lines[1] == "Line 4: contains a NUL character"
    assert exc is not None and "2 row(s) were not imported" in str(exc)
    assert set(BatchRun.objects.values_list("run_id", flat=True)) == {"r1", "r4"}


def test_a_utf8_bom_is_not_part_of_the_first_header(db, tmp_path):
    out, err, exc = run_import_bytes(tmp_path, b"\xef\xbb\xbf" + (HEADER + GOOD.format(n=1)).encode())
    assert exc is None and BatchRun.objects.count() == 1


@pytest.fixture
def poisoned_insert(db):
    """A real database refusal past validation: a trigger rejects the run 'poison'."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN IF NEW.run_id = 'poison' THEN "
                "RAISE EXCEPTION 'poisoned row'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER poison BEFORE INSERT ON batches_batchrun FOR EACH ROW EXECUTE FUNCTION poison()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER poison BEFORE INSERT ON batches_batchrun WHEN NEW.run_id = 'poison' "
                "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
            )
    yield
    with connection.cursor() as cursor:
        cursor.execute(
            "DROP TRIGGER IF EXISTS poison" + (" ON batches_batchrun" if connection.vendor == "postgresql" else "")
        )


def test_a_row_the_database_refuses_in_a_later_chunk_costs_only_that_row(poisoned_insert, tmp_path, monkeypatch):
    from batches.management.commands import import_batch_runs

    monkeypatch.setattr(import_batch_runs, "CHUNK", 3)
    rows = [GOOD.format(n=n) for n in range(1, 8)]
    rows[4] = rows[4].replace("r5", "poison")  # line 6, in the second chunk
    out, err, exc = run_import(tmp_path, HEADER + "".join(rows))
    assert err.startswith("Line 6: not saved (") and "poisoned row" in err
    assert exc is not None and "1 row(s) were not imported" in str(exc)
    assert set(BatchRun.objects.values_list("run_id", flat=True)) == {"r1", "r2", "r3", "r4", "r6", "r7"}
