"""Demo batch history, shaped like the seed's generated data: ~100 clients, each starting on
a random date, with daily durations that depend on the client's daily volume and AWS
instance size and grow with history (each client gets one of several growth curves,
since summaries of past runs are re-processed every day). On top: noise, occasional
spikes (outliers), failures, missed days, and a few clients in trouble right now (stale,
a long or short latest run, a run still going), so every part of the pages has data.

Idempotent: clients that already exist are left alone. Runs are written with
``bulk_create`` so ~30,000 rows take a few seconds even on SQLite.
"""

import math
from datetime import UTC, datetime, time, timedelta

from django.db import transaction

from . import services
from .choices import RunStatus
from .models import BatchRun, Client

FIRST = [
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka", "Hooli", "Vandelay", "Soylent",
    "Cyberdyne", "Tyrell", "Aperture", "Massive", "Gringotts", "Oceanic", "Duff", "Pied Piper", "Monarch", "Dunder",
]  # fmt: skip
SECOND = ["Retail", "Foods", "Logistics", "Pharma", "Motors", "Energy", "Apparel", "Media", "Home", "Outdoor"]
# (instance size, relative speed): larger instances process the same data much faster.
INSTANCES = [("t3.large", 0.6), ("m5.xlarge", 1.0), ("m5.2xlarge", 1.9), ("c5.4xlarge", 3.5), ("c5.9xlarge", 7.0)]
RECORDS_PER_MINUTE = 4000


def _growth(kind: str, days: float) -> float:
    """The seed's increasing functions: how re-processed history slows a client down."""
    years = days / 365.0
    return {
        "linear": years,
        "sqrt": math.sqrt(years),
        "log": math.log1p(3 * years),
        "quadratic": years * years,
    }[kind]


def _clients(rng, count: int) -> list[dict]:
    specs = []
    names = [f"{a} {b}" for a in FIRST for b in SECOND]
    rng.shuffle(names)
    for name in names[:count]:
        volume = int(10 ** rng.uniform(3.5, 6.4))
        # Bigger clients tend to get bigger machines, not always.
        tier = min(len(INSTANCES) - 1, max(0, int((math.log10(volume) - 3.5) / 0.65) + rng.choice([-1, 0, 0, 1])))
        specs.append(
            {
                "slug": name.lower().replace(" ", "-"),
                "name": f"{name} Inc." if rng.random() < 0.3 else name,
                "volume": volume,
                "instance": INSTANCES[tier],
                "start_days_ago": rng.randint(45, 720),
                "hour": rng.randint(0, 5),
                "minute": rng.randint(0, 59),
                "growth": rng.choice(["linear", "sqrt", "log", "quadratic"]),
                "growth_rate": rng.uniform(0.2, 1.4),
            }
        )
    return specs


def seed(*, now, rng, stdout, clients: int = 100) -> None:
    specs = _clients(rng, clients)
    existing = set(Client.objects.filter(slug__in=[s["slug"] for s in specs]).values_list("slug", flat=True))
    trouble = {}
    order = list(range(len(specs)))
    rng.shuffle(order)
    for index, kind in zip(
        order, ["stale"] * 5 + ["long"] * 3 + ["short"] * 2 + ["running"] * 2 + ["failed"] * 3, strict=False
    ):
        trouble[specs[index]["slug"]] = kind
    new_clients, runs = 0, []
    today = now.astimezone(UTC).date()
    with transaction.atomic():
        for spec in specs:
            if spec["slug"] in existing:
                continue
            size, speed = spec["instance"]
            client = Client.objects.create(
                slug=spec["slug"], name=spec["name"], instance_size=size, average_daily_volume=spec["volume"]
            )
            new_clients += 1
            runs.extend(
                _runs(client, spec, speed=speed, today=today, now=now, rng=rng, trouble=trouble.get(spec["slug"]))
            )
            if len(runs) >= 5000:
                BatchRun.objects.bulk_create(runs, batch_size=2000)
                runs = []
        BatchRun.objects.bulk_create(runs, batch_size=2000)
        ids = list(Client.objects.filter(slug__in=[s["slug"] for s in specs]).values_list("pk", flat=True))
        if new_clients:
            services.client_stats_refresh(client_ids=ids)
            # Record who is in trouble now without emailing anyone about demo data.
            services.batch_alerts_check(now=now, notify=False)
    total = BatchRun.objects.filter(client_id__in=ids).count()
    stdout.write(f"Demo batch clients: {new_clients} new, {len(ids)} in all, {total} runs.")


def _runs(client, spec, *, speed, today, now, rng, trouble):
    base_minutes = 3 + spec["volume"] / (RECORDS_PER_MINUTE * speed)
    first = today - timedelta(days=spec["start_days_ago"])
    last = today
    if trouble == "stale":
        last = today - timedelta(days=rng.randint(2, 6))
    starts = []
    day = first
    while day <= last:
        started = datetime.combine(day, time(spec["hour"], spec["minute"]), tzinfo=UTC)
        started += timedelta(seconds=rng.randint(-300, 300))
        if started <= now:
            starts.append((day, started))
        day += timedelta(days=1)
    runs = []
    for position, (day, started) in enumerate(starts):
        is_last = position == len(starts) - 1
        if not is_last and rng.random() < 0.015:
            continue  # a missed day: nobody noticed, the next run came as usual
        age = (day - first).days
        minutes = base_minutes * (1 + spec["growth_rate"] * _growth(spec["growth"], age))
        minutes *= rng.lognormvariate(0, 0.07)
        status = RunStatus.SUCCEEDED
        if rng.random() < 0.012:
            minutes *= rng.uniform(2.2, 4.0)  # a spike: the outliers the client page marks
        if rng.random() < 0.025:
            status, minutes = RunStatus.FAILED, minutes * rng.uniform(0.05, 0.8)
        if is_last and trouble == "long":
            minutes *= rng.uniform(2.5, 4.0)
            status = RunStatus.SUCCEEDED
        elif is_last and trouble == "short":
            minutes *= rng.uniform(0.03, 0.1)
            status = RunStatus.SUCCEEDED
        elif is_last and trouble == "failed":
            status = RunStatus.FAILED
        duration = timedelta(minutes=minutes)
        finished = started + duration
        if is_last and trouble == "running" or finished > now:
            status, finished, duration = RunStatus.RUNNING, None, None
        records = int(spec["volume"] * rng.uniform(0.7, 1.3)) if status != RunStatus.FAILED else None
        runs.append(
            BatchRun(
                client=client,
                run_id=f"{day:%Y%m%d}",
                run_date=day,
                started_at=started,
                finished_at=finished,
                duration=duration,
                status=status,
                records_processed=records,
            )
        )
    return runs
