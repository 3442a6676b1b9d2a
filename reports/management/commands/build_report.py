from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from reports import selectors, services
from reports.choices import Trigger
from reports.uptime import BadMonth, Month


class Command(BaseCommand):
    help = "Generate a new version of a month's availability report, print the PDF path, optionally email it."

    def add_arguments(self, parser):
        parser.add_argument("--month", help="YYYY-MM (default: last month in REPORT_TIME_ZONE)")
        parser.add_argument("--email", action="store_true", help="Email the PDF to LEADERSHIP_EMAILS (or --to)")
        parser.add_argument("--to", default="", help="Comma-separated recipients instead of LEADERSHIP_EMAILS")

    def handle(self, *args, month, email, to, **options):
        try:
            month_obj = Month.parse(month) if month else selectors.last_complete_month()
            selectors.check_month(month_obj)
        except (BadMonth, selectors.FutureMonth) as exc:
            raise CommandError(str(exc)) from None
        recipients = [e.strip() for e in to.split(",") if e.strip()] or None
        if email:
            try:
                recipients = services.report_recipients(recipients)
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from None
        report = services.report_generate(month=month_obj, trigger=Trigger.COMMAND)
        self.stdout.write(report.pdf.path)
        self.stderr.write(f"{report} · {report.size:,} bytes · sha256 {report.sha256}")
        if email:
            sent = services.report_email(report=report, recipients=recipients)
            self.stderr.write(f"Emailed to {', '.join(sent.recipients)}")
