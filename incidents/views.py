"""Incident pages: thin views that call services and render."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from config import snapshots
from config.views import filter_status

from . import forms, history, postmortems, selectors, services
from .choices import Visibility
from .models import Incident


def apply_errors(form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: per field where the form has it."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            for message in errors:
                form.add_error(field if field in form.fields else None, message)
    else:
        for message in exc.messages:
            form.add_error(None, message)


def get_incident_or_404(ticket: str) -> Incident:
    try:
        return selectors.incident_detail(ticket=ticket)
    except Incident.DoesNotExist:
        raise Http404(f"No incident has the ticket number {ticket}.") from None


FLAG_POSTMORTEM_DUE = "postmortem-due"
FLAG_ACTION_ITEMS_OVERDUE = "action-items-overdue"


class IncidentListView(View):
    def get(self, request):
        ticket = request.GET.get("ticket", "").strip()
        if ticket:
            # "Find by ticket": accept INC-000042, inc-42 or 42.
            number = ticket.upper().removeprefix("INC-").lstrip("0")
            match = Incident.objects.filter(ticket__iexact=ticket).first() or (
                # ASCII digits only: "²".isdigit() is true but int("²") fails.
                number.isascii()
                and number.isdigit()
                and len(number) <= 12
                and Incident.objects.filter(ticket=f"INC-{int(number):06d}").first()
            )
            if match:
                return redirect(match)
            messages.error(request, _("No incident has the ticket number %(ticket)s.") % {"ticket": ticket})
        form = forms.IncidentFilterForm(request.GET or None)
        # The same list for every reader: one rendering per query, language and time zone
        # serves them all for TIMELINE_REUSE_SECONDS (``config.snapshots``).
        content = snapshots.recent(
            snapshots.request_key("incident-list", request), lambda: self.content(request.GET, form)
        )
        return render(request, "incidents/incident_list.html", {"content": content}, status=filter_status(form))

    @staticmethod
    def content(params, form) -> str:
        filters = selectors.IncidentFilters()
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            filters = selectors.IncidentFilters(
                start=data["start"],
                end=data["end"],
                service=data["service"].slug if data["service"] else "",
                severity=data["severity"],
                status=data["status"],
                q=data["q"],
            )
        incidents = selectors.incident_list(filters=filters)
        # The dashboard's "and N more" links: the whole list behind one of its flags.
        flag = params.get("flag", "")
        if flag == FLAG_POSTMORTEM_DUE:
            incidents = postmortems.postmortems_due().prefetch_related("services")
        elif flag == FLAG_ACTION_ITEMS_OVERDUE:
            overdue = postmortems.action_items_overdue().values("postmortem__incident_id")
            incidents = incidents.filter(pk__in=overdue)
        else:
            flag = ""
        page = Paginator(incidents, 25).get_page(params.get("page"))
        query = params.copy()
        query.pop("page", None)
        return render_to_string(
            "incidents/_list.html", {"form": form, "page": page, "query": query.urlencode(), "flag": flag}
        )


class IncidentCreateView(View):
    def get(self, request):
        return render(request, "incidents/incident_form.html", {"form": forms.IncidentForm()})

    def post(self, request):
        form = forms.IncidentForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                incident = services.incident_open(
                    title=data["title"],
                    severity=data["severity"],
                    services=list(data["services"]),
                    description=data["description"],
                    engineer=data["engineer"],
                    external_url=data["external_url"],
                    started_at=data["started_at"],
                    extra_recipients=data["extra_recipients"],
                    by=request.user,
                )
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, f"{incident.ticket} opened. Affected parties are being emailed.")
                return redirect(incident)
        return render(request, "incidents/incident_form.html", {"form": form}, status=400)


class IncidentDetailView(View):
    def get(self, request, ticket):
        incident = get_incident_or_404(ticket)
        updates = sorted(incident.updates.all(), key=lambda u: (u.effective_at, u.id))
        in_force = history.severity_after_each(
            updates, started_at=incident.started_at, resolved_at=incident.resolved_at
        )
        for update in updates:
            update.severity_in_force = in_force.get(update.id) or update.severity
        return render(
            request,
            "incidents/incident_detail.html",
            {
                "incident": incident,
                "updates": updates,
                "periods": selectors.severity_periods(incident, updates),
                "reopen_form": forms.ReopenForm(initial={"version": incident.version, "severity": incident.severity}),
                "now": timezone.now(),
            },
        )


class _IncidentActionView(View):
    """Shared flow of update / close / reopen: load by ticket, validate, call a service."""

    form_class: type = forms.UpdateForm
    template_name = ""
    requires_open = True

    def initial(self, incident):
        return {"version": incident.version}

    def perform(self, incident, data, user):
        raise NotImplementedError

    def success_message(self, incident) -> str:
        raise NotImplementedError

    def render_form(self, request, incident, form, status=200, conflict=None):
        context = {"incident": incident, "form": form, "conflict": conflict}
        return render(request, self.template_name, context, status=status)

    def get(self, request, ticket):
        incident = get_incident_or_404(ticket)
        if incident.is_open != self.requires_open:
            messages.warning(
                request,
                f"{incident.ticket} is resolved; reopen it first."
                if self.requires_open
                else f"{incident.ticket} is open.",
            )
            return redirect(incident)
        return self.render_form(request, incident, self.form_class(initial=self.initial(incident)))

    def post(self, request, ticket):
        incident = get_incident_or_404(ticket)
        form = self.form_class(request.POST)
        if form.is_valid():
            try:
                self.perform(incident, form.cleaned_data, request.user)
            except services.StaleVersion as exc:
                # Keep what the user typed and show what the colleague changed meanwhile.
                form.add_error(None, str(exc))
                data = form.data.copy()
                data["version"] = exc.incident.version
                form.data = data
                conflict = list(
                    exc.incident.updates.filter(version__gt=exc.expected).exclude(changes={}).select_related("author")
                )
                return self.render_form(request, exc.incident, form, status=409, conflict=conflict)
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, self.success_message(incident))
                return redirect(incident)
        return self.render_form(request, incident, form, status=400)


class IncidentUpdateView(_IncidentActionView):
    form_class = forms.UpdateForm
    template_name = "incidents/incident_update.html"

    def initial(self, incident):
        return {
            "version": incident.version,
            "status": incident.status,
            "severity": incident.severity,
            "notify": True,
            "visibility": Visibility.PUBLIC,
        }

    def perform(self, incident, data, user):
        services.incident_update(
            incident=incident,
            message=data["message"],
            status=data["status"],
            severity=data["severity"],
            effective_at=data["effective_at"],
            expected_version=data["version"],
            notify=data["notify"],
            visibility=data["visibility"] or Visibility.PUBLIC,
            by=user,
        )

    def success_message(self, incident):
        return f"Update posted to {incident.ticket}."


class IncidentCloseView(_IncidentActionView):
    form_class = forms.CloseForm
    template_name = "incidents/incident_close.html"

    def perform(self, incident, data, user):
        services.incident_resolve(
            incident=incident,
            message=data["message"],
            resolved_at=data["resolved_at"],
            expected_version=data["version"],
            by=user,
        )

    def success_message(self, incident):
        return f"{incident.ticket} closed."


class IncidentReopenView(_IncidentActionView):
    form_class = forms.ReopenForm
    template_name = "incidents/incident_reopen.html"
    requires_open = False

    def initial(self, incident):
        return {"version": incident.version, "severity": incident.severity}

    def perform(self, incident, data, user):
        services.incident_reopen(
            incident=incident,
            message=data["message"],
            severity=data["severity"],
            expected_version=data["version"],
            by=user,
        )

    def success_message(self, incident):
        return f"{incident.ticket} reopened."


class IncidentEditView(_IncidentActionView):
    """The scope of an open incident (services, engineer, title, link, description)."""

    form_class = forms.EditForm
    template_name = "incidents/incident_edit.html"

    def initial(self, incident):
        return {
            "version": incident.version,
            "title": incident.title,
            "services": list(incident.services.all()),
            "engineer": incident.engineer,
            "external_url": incident.external_url,
            "description": incident.description,
        }

    def perform(self, incident, data, user):
        services.incident_edit(
            incident=incident,
            by=user,
            expected_version=data["version"],
            message=data["message"],
            title=data["title"],
            services=list(data["services"]),
            engineer=data["engineer"],
            external_url=data["external_url"],
            description=data["description"],
        )

    def success_message(self, incident):
        return f"{incident.ticket} changed."


class IncidentCorrectView(_IncidentActionView):
    """Correct a resolved incident's record without reopening it; nobody is emailed."""

    form_class = forms.CorrectionForm
    template_name = "incidents/incident_correct.html"
    requires_open = False

    def initial(self, incident):
        return {
            "version": incident.version,
            "title": incident.title,
            "services": list(incident.services.all()),
            "engineer": incident.engineer,
            "external_url": incident.external_url,
            "description": incident.description,
            "started_at": timezone.localtime(incident.started_at),
            "resolved_at": timezone.localtime(incident.resolved_at),
        }

    def perform(self, incident, data, user):
        def changed(value, stored):
            # The form shows minutes; an untouched field must not "correct" away the seconds.
            if value is None or stored is None or value == stored.replace(second=0, microsecond=0):
                return None
            return value

        self.result = services.incident_correct(
            incident=incident,
            by=user,
            reason=data["reason"],
            expected_version=data["version"],
            title=data["title"],
            services=list(data["services"]),
            engineer=data["engineer"],
            external_url=data["external_url"],
            description=data["description"],
            started_at=changed(data["started_at"], incident.started_at),
            resolved_at=changed(data["resolved_at"], incident.resolved_at),
            severity=data["severity"],
            effective_at=data["effective_at"],
        )

    def success_message(self, incident):
        if self.result is None:
            return f"Nothing to correct: the record of {incident.ticket} already says that."
        return f"Correction of {incident.ticket} saved. Nobody was emailed; affected reports are marked out of date."
