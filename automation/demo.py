"""Demo data: runbook jobs with tags and four months of executions. Safe to run twice."""

import math
from datetime import timedelta
from decimal import Decimal

from django.db import transaction

from . import services
from .choices import ExecutionSource, ExecutionStatus
from .models import AutomationJob, Execution

DAYS = 120
JOBS = [
    # key, name, project, group, tags, minutes saved, cost/hour, runs per day, success rate, typical seconds
    ("restart-web", "Restart stuck web workers", "ops", "remediation", ["remediation", "web"], 15, 75, 9, 0.97, 40),
    ("disk-cleanup", "Clear disk space on app hosts", "ops", "remediation", ["remediation"], 20, 70, 4, 0.95, 95),
    ("tls-rotate", "Rotate TLS certificates", "ops", "security", ["security", "compliance"], 90, 95, 1 / 7, 0.9, 600),
    ("cdn-purge", "Purge CDN cache", "web", "", ["web"], 10, 70, 6, 0.99, 25),
    ("dev-account", "Provision developer account", "it-service", "onboarding", ["onboarding"], 45, 60, 1.5, 0.93, 180),
    ("diag-bundle", "Collect diagnostics bundle", "support", "", ["diagnostics"], 30, 65, 3, 0.96, 240),
    ("backup-verify", "Verify nightly backups", "dba", "", ["database", "compliance"], 60, 110, 1, 0.98, 1500),
    ("db-failover", "Database failover drill", "dba", "resilience", ["database"], 240, 110, 1 / 14, 0.85, 2400),
]


def seed(*, now, rng, stdout):
    created = 0
    for key, name, project, group, tags, minutes, cost, per_day, success, seconds in JOBS:
        external_id = f"demo-{key}"
        with transaction.atomic():
            job, new = services.job_upsert(
                external_id=external_id,
                name=name,
                project=project,
                group=group,
                tags=tags,
                url=f"https://runbooks.example.com/project/{project}/job/show/{external_id}",
            )
            if new:
                AutomationJob.objects.filter(pk=job.pk).update(
                    minutes_saved=Decimal(minutes), cost_per_hour=Decimal(cost)
                )
            if Execution.objects.filter(job=job).exists():
                continue
            rows = _executions(job, rng=rng, now=now, per_day=per_day, success=success, seconds=seconds, key=key)
            Execution.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
            created += len(rows)
    stdout.write(f"Demo automation: {created} new executions, {Execution.objects.count()} in all.")


def _executions(job, *, rng, now, per_day, success, seconds, key):
    rows = []
    # Adoption grows over the months, so the weekly trend has a shape worth looking at.
    start = now - timedelta(days=DAYS)
    at = start
    number = 0
    while True:
        progress = (at - start) / timedelta(days=DAYS)
        rate = per_day * (0.4 + 0.8 * progress)
        at += timedelta(days=rng.expovariate(rate))
        if at >= now - timedelta(minutes=10):
            break
        if at.weekday() >= 5 and key == "dev-account":
            continue
        number += 1
        ok = rng.random() < success
        duration = max(5.0, rng.lognormvariate(math.log(seconds), 0.35))
        status = ExecutionStatus.SUCCEEDED if ok else rng.choice([ExecutionStatus.FAILED, ExecutionStatus.TIMEDOUT])
        # Account provisioning records its own ROI value per run: some requests take longer by hand.
        hours = Decimal(str(rng.choice([0.5, 0.75, 1.0, 1.25]))) if key == "dev-account" and ok else None
        rows.append(
            Execution(
                job=job,
                external_id=f"demo-{key}-{number}",
                status=status,
                started_at=at,
                ended_at=at + timedelta(seconds=duration),
                duration_seconds=duration,
                hours_saved=hours,
                source=ExecutionSource.DEMO,
            )
        )
    return rows
