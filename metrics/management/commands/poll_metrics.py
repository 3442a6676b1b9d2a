"""``python manage.py poll_metrics [--series KEY] [--dry-run]``: poll once by hand and print what was found."""

import time

from django.core.management.base import BaseCommand, CommandError

from metrics import services
from metrics.models import MetricSeries


class Command(BaseCommand):
    help = "Poll every enabled metric series once (or one with --series) and print what each source returned."

    def add_arguments(self, parser):
        parser.add_argument("--series", metavar="KEY", help="poll only this series")
        parser.add_argument("--dry-run", action="store_true", help="print what the sources return; store nothing")

    def handle(self, *args, series=None, dry_run=False, **options):
        if series:
            found = MetricSeries.objects.filter(key=series).values_list("pk", flat=True).first()
            if found is None:
                raise CommandError(f"No metric series with key {series!r}.")
            ids = [found]
        else:
            ids = services.pollable_series_ids()
            if not ids:
                self.stdout.write("No enabled metric series to poll.")
                return
        attempts = services.max_attempts()
        failures = 0
        for series_id in ids:
            outcome = None
            # Same steps as the Celery task: widen the window while there is no data; back off
            # (briefly, this is interactive) after a transient error such as throttling.
            for attempt in range(attempts):
                outcome = services.series_poll(
                    series_id=series_id, attempt=attempt, final=attempt == attempts - 1, dry_run=dry_run
                )
                if outcome is None or outcome.status != services.RETRY:
                    break
                self.stdout.write("  " + outcome.describe())
                if outcome.error:
                    time.sleep(min(services.retry_countdown(attempt), 5))
            if outcome is None:
                self.stdout.write(f"series {series_id}: disabled, skipped")
                continue
            style = self.style.SUCCESS if outcome.status == "ok" else self.style.WARNING
            failures += outcome.status != "ok"
            self.stdout.write(style(outcome.describe()))
            if options["verbosity"] > 1:
                for ts, value in outcome.points:
                    self.stdout.write(f"    {ts.isoformat()}  {value:g}")
        summary = f"Polled {len(ids)} series, {failures} without data or failed" + (
            " (dry run: nothing stored)" if dry_run else ""
        )
        self.stdout.write(summary)
