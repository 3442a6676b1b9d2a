"""Batch pages: thin views over the selectors."""

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views import View

from config.views import filter_status

from . import rules, selectors
from .choices import DurationUnit
from .forms import PRESETS, RangeForm
from .models import Client


def rule_settings() -> dict:
    """The thresholds as the pages state them."""
    return {
        "long_factor": settings.BATCH_LONG_FACTOR,
        "short_factor": settings.BATCH_SHORT_FACTOR,
        "baseline_runs": settings.BATCH_BASELINE_RUNS,
        "min_baseline_runs": settings.BATCH_MIN_BASELINE_RUNS,
        "outlier_window": settings.BATCH_OUTLIER_WINDOW,
        "outlier_mads": settings.BATCH_OUTLIER_MADS,
        "outlier_min_points": settings.BATCH_OUTLIER_MIN_POINTS,
        "mad_floor_percent": rules.MAD_FLOOR_FRACTION * 100,
        "failed_days": settings.BATCH_FAILED_LOOKBACK_DAYS,
    }


class MonitoringView(View):
    def get(self, request):
        wanted = request.GET.get("client", "").strip()
        if wanted:
            # The picker: accept a slug or a name.
            match = (
                Client.objects.filter(slug=wanted.lower()).first() or Client.objects.filter(name__iexact=wanted).first()
            )
            if match:
                return redirect(match)
            messages.error(request, f"No client is called {wanted!r}.")
        now = timezone.now()
        overview = selectors.monitoring_overview(now=now)
        return render(request, "batches/monitoring.html", {"overview": overview, "rules": rule_settings(), "now": now})


class ClientView(View):
    def get(self, request, slug):
        client = get_object_or_404(Client.objects.select_related("latest_run"), slug=slug)
        form = RangeForm(request.GET or None)
        params = form.cleaned_data if form.is_bound and form.is_valid() else RangeForm.defaults()
        now = timezone.now()
        data = selectors.client_investigation(client=client, start=params["start"], end=params["end"], now=now)
        end = params["end"]
        presets = [(label, (end - timedelta(days=days - 1)).isoformat(), end.isoformat()) for label, days in PRESETS]
        return render(
            request,
            "batches/client.html",
            {
                "client": client,
                "form": form,
                "data": data,
                "unit": params["unit"],
                "units": DurationUnit.choices,
                "presets": presets,
                "rules": rule_settings(),
                "now": now,
                "chart": {"points": data.points, "unit": params["unit"], "outlierColor": OUTLIER_COLOR},
            },
            status=filter_status(form),
        )


# Red, as in the report the page replaces; the browser test reads it back from Chart.js.
OUTLIER_COLOR = "#dc3545"
