"""Demo postmortems for `seed_demo`: a few Sev 1–2 incidents get their autopsy, with action
items done, open and overdue, so the dashboard's flags have something to show. Safe to
run twice: incidents that already have a postmortem are left alone."""

from datetime import timedelta

from django.contrib.auth import get_user_model

from incidents.choices import OUTAGE_SEVERITIES, Status
from incidents.models import Incident, Postmortem
from incidents.postmortems import ActionItemInput, postmortem_save

WRITE_UPS = [
    (
        "{title}: users were affected for {minutes} minutes until a rollback.",
        "About a third of requests failed during the window; support took 40 calls.",
        "A configuration change was rolled out to every node at once and was not caught by the canary.",
        "Canary first, always. Alerting fired after 6 minutes; the runbook was out of date.",
        ["Roll out config changes through the canary stage", "Update the runbook for this alert"],
    ),
    (
        "{title} after a dependency slowed down.",
        "Customers saw errors and retries; no data was lost.",
        "Connection pool exhausted because timeouts were longer than the upstream's own.",
        "Timeouts must be shorter than the caller's. The dashboard made the blast radius obvious.",
        ["Shorten upstream timeouts to 2 s", "Add pool saturation to the hourly digest", "Load-test the failover path"],
    ),
]


def seed(*, now, rng, stdout) -> None:
    User = get_user_model()
    engineers = list(User.objects.filter(groups__name="engineer").order_by("username"))
    if not engineers or Postmortem.objects.filter(source_ref="demo").exists():
        return
    candidates = list(
        Incident.objects.filter(status=Status.RESOLVED, severity__in=OUTAGE_SEVERITIES, postmortem__isnull=True)
        .exclude(source_ref__startswith="statuspage:")
        .order_by("-resolved_at")[:12]
    )
    # Leave most recent ones without a postmortem so "postmortems due" shows on `/`.
    chosen = candidates[3:6]
    for index, incident in enumerate(chosen):
        summary, impact, cause, lessons, items = WRITE_UPS[index % len(WRITE_UPS)]
        minutes = int((incident.resolved_at - incident.started_at).total_seconds() // 60)
        author = incident.engineer or rng.choice(engineers)
        postmortem_save(
            incident=incident,
            by=author,
            summary=summary.format(title=incident.title, minutes=minutes),
            impact=impact,
            root_cause=cause,
            lessons=lessons,
            action_items=[
                ActionItemInput(
                    title=title,
                    owner=rng.choice(engineers),
                    # One overdue, one due soon, one done.
                    due_date=(now + timedelta(days=(-4 if n == 0 else 10 + n))).date(),
                    done=(n == 2),
                )
                for n, title in enumerate(items)
            ],
            source_ref="demo",
            now=now,
        )
    stdout.write(f"Demo postmortems: {len(chosen)} new.")
