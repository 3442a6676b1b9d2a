from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count

from automation.models import AutomationJob, Execution, ImportCursor, ImportRun
from automation.tasks import import_automation

from .conftest import EPOCH, Fault

pytestmark = pytest.mark.django_db

# 2,500 executions over three jobs and two projects; 200 per page = 13 pages.
SIZES = {"job-a": 1200, "job-b": 1000, "job-c": 300}


def build_history(fake):
    fake.add_job("job-a", "Restart web workers", "ops", tags=["ops", "db"])
    fake.add_job("job-b", "Clear disk space", "ops", tags=["ops"])
    fake.add_job("job-c", "Re-run invoice export", "billing", tags=["billing"])
    fake.add_job("job-x", "Untagged experiment", "ops", tags=[])
    expected_roi = {}
    for n in range(max(SIZES.values())):
        for job_id, size in SIZES.items():
            if n >= size:
                continue
            status = "failed" if n % 10 == 7 else "aborted" if n % 25 == 3 else "succeeded"
            roi = Decimal("1.25") if job_id == "job-a" and status == "succeeded" and n % 3 == 0 else None
            execution_id = fake.add_execution(
                job_id, started=EPOCH + timedelta(minutes=17 * n, seconds=len(job_id) * n), status=status, roi_hours=roi
            )
            if roi is not None:
                expected_roi[str(execution_id)] = roi
    return expected_roi


def test_import_reads_every_page_through_a_429_a_500_and_a_restart_and_stores_each_execution_once(rundeck, settings):
    settings.RUNDECK_TAGS = ["ops", "db", "billing"]
    expected_roi = build_history(rundeck)
    # A rate limit and a server error on the way, then the server breaks for good mid-way (job-b, page 3).
    rundeck.fail("executions", Fault(status=429, headers={"Retry-After": "1"}))
    rundeck.fail("roi", Fault(status=503), Fault(drop=True))
    rundeck.broken_after_pages = 8

    first = StringIO()
    with pytest.raises(CommandError, match="failed after 4 attempts"):
        call_command("import_automation", stdout=first)
    assert "Run it again to resume" in first.getvalue()
    stored_before = Execution.objects.count()
    assert 0 < stored_before < 2500
    cursor_b = ImportCursor.objects.get(job__external_id="job-b")
    assert cursor_b.in_progress and cursor_b.next_offset == 400
    assert ImportRun.objects.get().status == "failed"

    # The server recovers, with one more 500 in the way; the import is run again.
    rundeck.broken_after_pages = None
    rundeck.fail("executions", Fault(status=500))
    requests_before = len(rundeck.requests("executions"))
    second = StringIO()
    call_command("import_automation", stdout=second)
    output = second.getvalue()

    assert Execution.objects.count() == 2500
    per_job = dict(Execution.objects.values_list("job__external_id").annotate(n=Count("id")))
    assert per_job == SIZES
    assert Execution.objects.values("external_id").distinct().count() == 2500
    # job-b resumed at its cursor instead of starting over; job-a was complete and stopped after one page.
    rerun = rundeck.requests("executions")[requests_before:]
    b_offsets = [int(params["offset"]) for path, params in rerun if "/job/job-b/" in path]
    assert b_offsets[0] == 400 and 0 not in b_offsets
    assert {int(p["offset"]) for path, p in rerun if "/job/job-a/" in path} == {0}
    assert "resuming at offset 400" in output and "1000/1000 read" in output and "Import finished" in output
    # ROI metrics data became the per-execution override where the server had it; 404s left it empty.
    stored_roi = dict(Execution.objects.filter(hours_saved__isnull=False).values_list("external_id", "hours_saved"))
    assert stored_roi == expected_roi
    # Jobs carry the tags under which they were found; the untagged job was not imported.
    job_a = AutomationJob.objects.get(external_id="job-a")
    assert sorted(job_a.tags.values_list("name", flat=True)) == ["db", "ops"]
    assert not AutomationJob.objects.filter(external_id="job-x").exists()
    assert ImportRun.objects.filter(status="succeeded").count() == 1
    assert not ImportCursor.objects.filter(in_progress=True).exists()


def test_running_the_import_again_adds_new_runs_and_picks_up_runs_once_they_finish(rundeck):
    rundeck.add_job("job-c", "Re-run invoice export", "billing")
    for n in range(30):
        rundeck.add_execution("job-c", started=EPOCH + timedelta(hours=n))
    running = rundeck.add_execution("job-c", started=EPOCH + timedelta(hours=40), status="running")
    call_command("import_automation", "--page-size", "7", stdout=StringIO())
    assert Execution.objects.count() == 30
    assert not Execution.objects.filter(external_id=str(running)).exists()

    for n in range(5):
        rundeck.add_execution("job-c", started=EPOCH + timedelta(hours=50 + n), status="failed")
    rundeck.finish(running, status="succeeded")
    before = len(rundeck.requests("executions"))
    call_command("import_automation", "--page-size", "7", stdout=StringIO())

    assert Execution.objects.count() == 36
    assert Execution.objects.get(external_id=str(running)).status == "succeeded"
    assert Execution.objects.filter(status="failed").count() == 5
    # Only the pages down to the oldest run that was unfinished were read again, not all 36 rows.
    assert len(rundeck.requests("executions")) - before < 36 // 7 + 1


def test_a_full_import_reads_every_page_again_without_adding_anything(rundeck):
    rundeck.add_job("job-c", "Re-run invoice export", "billing")
    for n in range(25):
        rundeck.add_execution("job-c", started=EPOCH + timedelta(hours=n))
    call_command("import_automation", "--page-size", "10", stdout=StringIO())
    before = len(rundeck.requests("executions"))
    out = StringIO()
    call_command("import_automation", "--page-size", "10", "--full", stdout=out)
    assert len(rundeck.requests("executions")) - before == 3
    assert Execution.objects.count() == 25
    assert "Done: 0 new, 25 read" in out.getvalue()


def test_import_refuses_to_run_without_a_configured_server(settings):
    settings.RUNDECK_URL = ""
    with pytest.raises(CommandError, match="RUNDECK_URL"):
        call_command("import_automation", stdout=StringIO())


def test_a_rejected_token_stops_the_import_at_once_with_the_reason(rundeck, settings):
    settings.RUNDECK_TOKEN = "wrong"
    rundeck.add_job("job-c", "Re-run invoice export", "billing")
    with pytest.raises(CommandError, match="HTTP 403"):
        call_command("import_automation", stdout=StringIO())
    assert len(rundeck.log) == 1  # not retried: waiting does not fix a bad token
    assert ImportRun.objects.get().status == "failed"


def test_the_beat_task_imports_with_the_configured_settings(rundeck):
    rundeck.add_job("job-b", "Clear disk space", "ops")
    for n in range(3):
        rundeck.add_execution("job-b", started=EPOCH + timedelta(hours=n))
    run_id = import_automation.apply().get()
    assert ImportRun.objects.get(pk=run_id).executions_created == 3
    assert Execution.objects.count() == 3


def test_the_beat_task_does_nothing_without_a_server(settings, db):
    settings.RUNDECK_URL = ""
    assert import_automation.apply().get() is None
    assert not ImportRun.objects.exists()


def test_beat_imports_on_a_schedule_only_once_a_server_is_configured(tmp_path):
    import os
    import subprocess
    import sys

    from django.conf import settings as django_settings

    code = "from django.conf import settings as s; e = s.CELERY_BEAT_SCHEDULE.get('automation-import'); print(e)"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "BEACON_VAR_DIR": str(tmp_path)}
    env.pop("RUNDECK_URL", None)
    run = [sys.executable, "-c", "import django; django.setup(); " + code]
    off = subprocess.run(run, env=env, cwd=django_settings.BASE_DIR, capture_output=True, text=True, check=True)
    assert off.stdout.strip() == "None"
    env |= {"RUNDECK_URL": "https://rundeck.example.com", "AUTOMATION_IMPORT_MINUTES": "15"}
    on = subprocess.run(run, env=env, cwd=django_settings.BASE_DIR, capture_output=True, text=True, check=True)
    assert "'task': 'automation.tasks.import_automation'" in on.stdout and "'schedule': 900" in on.stdout
