from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from reports import selectors, services
from reports.choices import Trigger
from reports.uptime import BadPeriod, Month, parse_period


class Command(BaseCommand):
    help = "Generate a new version of a period's availability report, print the PDF path, optionally email it."

    def add_arguments(self, parser):
        parser.add_argument("--month", help="YYYY-MM (default: last month in REPORT_TIME_ZONE)")
        parser.add_argument("--period", help="YYYY-MM, YYYY-QN or YYYY (instead of --month)")
        parser.add_argument("--group", default="", help="Service group slug (default: all services)")
        parser.add_argument("--email", action="store_true", help="Email the PDF to LEADERSHIP_EMAILS (or --to)")
        parser.add_argument("--to", default="", help="Comma-separated recipients instead of LEADERSHIP_EMAILS")

    def handle(self, *args, month, period, group, email, to, **options):
        if month and period:
            raise CommandError("Give --month or --period, not both.")
        try:
            if period:
                period_obj = parse_period(period)
            else:
                period_obj = Month.parse(month) if month else selectors.last_complete_month()
            selectors.check_month(period_obj)
            group_obj = selectors.service_group(group)
        except (BadPeriod, ValueError, selectors.FutureMonth, selectors.UnknownGroup) as exc:
            raise CommandError(str(exc)) from None
        recipients = [e.strip() for e in to.split(",") if e.strip()] or None
        if recipients is None and group_obj is not None and group_obj.recipient_list:
            recipients = group_obj.recipient_list
        if email:
            try:
                recipients = services.report_recipients(recipients)
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from None
        report = services.report_generate(month=period_obj, group=group_obj, trigger=Trigger.COMMAND)
        self.stdout.write(report.pdf.path)
        self.stderr.write(f"{report} · {report.size:,} bytes · sha256 {report.sha256}")
        if email:
            sent = services.report_email(report=report, recipients=recipients)
            self.stderr.write(f"Emailed to {', '.join(sent.recipients)}")
