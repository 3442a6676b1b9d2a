"""Planned maintenance pages: thin views that call services and render."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from config.roles import can
from incidents.views import apply_errors

from . import forms, selectors, services
from .choices import MaintenanceStatus
from .models import Maintenance

PAGE_SIZE = 25


def get_maintenance_or_404(pk: int) -> Maintenance:
    try:
        return selectors.maintenance_detail(pk=pk)
    except Maintenance.DoesNotExist:
        raise Http404(_("There is no planned maintenance number %(pk)s.") % {"pk": pk}) from None


def _same_minute(a, b) -> bool:
    return a.replace(second=0, microsecond=0) == b.replace(second=0, microsecond=0)


class _Read(View):
    """Readers of planned maintenance (rule: config.access)."""


class _Write(View):
    """Writers of planned maintenance (rule: config.access)."""


class MaintenanceListView(_Read):
    def get(self, request):
        now = timezone.now()
        planned = selectors.planned(now=now, days=3650)
        status = request.GET.get("status", "")
        if status not in MaintenanceStatus.values:
            status = ""
        history = selectors.maintenance_list(status=status).exclude(
            pk__in=[m.pk for m in (*planned.ongoing, *planned.upcoming)]
        )
        page = Paginator(history, PAGE_SIZE).get_page(request.GET.get("page"))
        return render(
            request,
            "maintenance/maintenance_list.html",
            {
                "now": now,
                "planned": planned,
                "page": page,
                "status": status,
                "statuses": MaintenanceStatus.choices,
                "can_write": can(request.user, "maintenance", write=True),
            },
        )


class MaintenanceDetailView(_Read):
    def get(self, request, pk: int):
        maintenance = get_maintenance_or_404(pk)
        return render(
            request,
            "maintenance/maintenance_detail.html",
            {
                "maintenance": maintenance,
                "deliveries": maintenance.deliveries.order_by("event", "email"),
                "can_write": can(request.user, "maintenance", write=True),
            },
        )


class MaintenanceCreateView(_Write):
    def get(self, request):
        return render(request, "maintenance/maintenance_form.html", {"form": forms.MaintenanceForm()})

    def post(self, request):
        form = forms.MaintenanceForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                maintenance = services.maintenance_schedule(
                    title=data["title"],
                    description=data["description"],
                    services=list(data["services"]),
                    starts_at=data["starts_at"],
                    ends_at=data["ends_at"],
                    by=request.user,
                )
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, _("Maintenance scheduled. Subscribers of its services are being emailed."))
                return redirect(maintenance)
        return render(request, "maintenance/maintenance_form.html", {"form": form}, status=400)


class MaintenanceEditView(_Write):
    template_name = "maintenance/maintenance_form.html"

    def _render(self, request, maintenance, form, status=200):
        return render(request, self.template_name, {"form": form, "maintenance": maintenance}, status=status)

    def get(self, request, pk: int):
        maintenance = get_maintenance_or_404(pk)
        if not maintenance.is_active:
            messages.warning(request, _("This maintenance is over and can no longer change."))
            return redirect(maintenance)
        tz = timezone.get_current_timezone()
        form = forms.MaintenanceEditForm(
            initial={
                "title": maintenance.title,
                "description": maintenance.description,
                "services": list(maintenance.services.all()),
                "starts_at": timezone.localtime(maintenance.starts_at, tz),
                "ends_at": timezone.localtime(maintenance.ends_at, tz),
                "version": maintenance.version,
            }
        )
        return self._render(request, maintenance, form)

    def post(self, request, pk: int):
        maintenance = get_maintenance_or_404(pk)
        form = forms.MaintenanceEditForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            # The form shows whole minutes; an unchanged time keeps its seconds (so an
            # ongoing maintenance's start does not "move" by being saved again).
            for name in ("starts_at", "ends_at"):
                if _same_minute(data[name], getattr(maintenance, name)):
                    data[name] = getattr(maintenance, name)
            try:
                services.maintenance_edit(
                    maintenance=maintenance,
                    by=request.user,
                    expected_version=data["version"],
                    title=data["title"],
                    description=data["description"],
                    services=list(data["services"]),
                    starts_at=data["starts_at"],
                    ends_at=data["ends_at"],
                )
            except services.StaleVersion as exc:
                form.add_error(None, str(exc))
                return self._render(request, exc.maintenance, form, status=409)
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, _("Maintenance updated."))
                return redirect(maintenance)
        return self._render(request, maintenance, form, status=400)


class MaintenanceCancelView(_Write):
    template_name = "maintenance/maintenance_cancel.html"

    def _render(self, request, maintenance, form, status=200):
        return render(request, self.template_name, {"form": form, "maintenance": maintenance}, status=status)

    def get(self, request, pk: int):
        maintenance = get_maintenance_or_404(pk)
        if maintenance.status != MaintenanceStatus.SCHEDULED:
            messages.warning(request, _("Only a maintenance that has not started can be cancelled."))
            return redirect(maintenance)
        return self._render(request, maintenance, forms.CancelForm(initial={"version": maintenance.version}))

    def post(self, request, pk: int):
        maintenance = get_maintenance_or_404(pk)
        form = forms.CancelForm(request.POST)
        if form.is_valid():
            try:
                services.maintenance_cancel(
                    maintenance=maintenance, by=request.user, expected_version=form.cleaned_data["version"]
                )
            except services.StaleVersion as exc:
                form.add_error(None, str(exc))
                return self._render(request, exc.maintenance, form, status=409)
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, _("Maintenance cancelled. Subscribers are being told."))
                return redirect(maintenance)
        return self._render(request, maintenance, form, status=400)
