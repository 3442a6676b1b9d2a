"""`manage.py import_automation`: pull executions from Rundeck / PagerDuty Runbook Automation."""

from django.core.management.base import BaseCommand, CommandError

from automation import importer
from integrations.rundeck import RundeckClient, RundeckError


class Command(BaseCommand):
    help = (
        "Import job executions (and their ROI metrics data) from a Rundeck-compatible server, following every "
        "page. Safe to stop and run again: it resumes where it stopped and never stores an execution twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", action="append", help="Project to read (repeatable; default RUNDECK_PROJECTS)")
        parser.add_argument("--tag", action="append", help="Only jobs with this tag (repeatable; default RUNDECK_TAGS)")
        parser.add_argument("--page-size", type=int, help="Executions per API page (default RUNDECK_PAGE_SIZE)")
        parser.add_argument("--full", action="store_true", help="Read every page again, not only new executions")
        parser.add_argument("--no-roi", action="store_true", help="Do not read ROI metrics data")

    def handle(self, *args, project, tag, page_size, full, no_roi, **options):
        opts = importer.ImportOptions.from_settings(projects=project, tags=tag, page_size=page_size, full=full)
        if no_roi:
            opts.fetch_roi = False
        if opts.page_size < 1:
            raise CommandError("--page-size must be at least 1")
        try:
            client = RundeckClient.from_settings()
            run = importer.rundeck_import(client=client, options=opts, progress=self.stdout.write)
        except RundeckError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Import finished: {run.message}."))
