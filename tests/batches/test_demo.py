import random
from io import StringIO

from django.db.models import Count, Max, Min
from django.utils import timezone

from batches import demo, selectors
from batches.models import BatchAlertEvent, BatchRun, Client


def test_the_demo_seeds_a_realistic_history_once(db):
    now = timezone.now().replace(second=0, microsecond=0)
    out = StringIO()
    demo.seed(now=now, rng=random.Random(7), stdout=out)
    clients = Client.objects.count()
    runs = BatchRun.objects.count()
    assert clients == 100 and runs > 10_000
    assert "100 new" in out.getvalue()

    # Runs start on different dates per client and durations grow with history and volume.
    firsts = Client.objects.annotate(first=Min("runs__started_at")).values_list("first", flat=True)
    assert len({f.date() for f in firsts}) > 30
    assert BatchRun.objects.filter(status="failed").count() > 50
    assert set(Client.objects.exclude(instance_size="").values_list("instance_size", flat=True)) >= {"m5.xlarge"}
    grower = Client.objects.annotate(n=Count("runs")).order_by("-n").first()
    durations = list(grower.runs.filter(status="succeeded").order_by("started_at").values_list("duration", flat=True))
    early, late = durations[:30], durations[-30:]
    assert sum(late, start=early[0] * 0) > sum(early, start=early[0] * 0)

    # Some clients are in trouble now, so the monitoring page has something to show.
    overview = selectors.monitoring_overview(now=now)
    assert overview.counts["stale"] >= 5 and overview.counts["long"] >= 1 and overview.counts["short"] >= 1
    assert not BatchAlertEvent.objects.filter(emailed_at__isnull=True).exists()  # demo alerts are silent

    demo.seed(now=now, rng=random.Random(7), stdout=StringIO())
    assert (Client.objects.count(), BatchRun.objects.count()) == (clients, runs)
    assert BatchRun.objects.aggregate(latest=Max("started_at"))["latest"] <= now
