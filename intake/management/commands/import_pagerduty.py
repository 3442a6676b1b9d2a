"""`manage.py import_pagerduty [--since YYYY-MM-DD] [--until YYYY-MM-DD] [--full]`."""

from datetime import date, datetime, time, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from intake import importer
from integrations.pagerduty import PagerDutyClient, PagerDutyError


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD).") from None


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class Command(BaseCommand):
    help = (
        "Import incidents and their log entries from PagerDuty (PAGERDUTY_API_URL, PAGERDUTY_TOKEN). Without "
        "--since it resumes where the last successful run ended. Idempotent: a second run writes nothing. "
        "Nobody is emailed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", help="first day to read (YYYY-MM-DD, TIME_ZONE); default: the stored cursor")
        parser.add_argument("--until", help="last day to read, included (YYYY-MM-DD); default: now")
        parser.add_argument("--full", action="store_true", help="ignore the cursor and read every incident's log again")

    def handle(self, *args, since, until, full, **options):
        now = timezone.now()
        start = _start_of(_day(since)) if since else None
        end = _start_of(_day(until) + timedelta(days=1)) if until else None
        if start and start > now:
            raise CommandError("--since is in the future.")
        if start and end and end <= start:
            raise CommandError("--until is before --since.")
        try:
            client = PagerDutyClient.from_settings()
            result = importer.pagerduty_import(
                client=client, since=start, until=end, full=full, now=now, progress=self.stdout.write
            )
        except PagerDutyError as exc:
            raise CommandError(str(exc)) from None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"Import finished: {result.summary}."))
