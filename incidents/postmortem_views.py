"""The postmortem page: everyone who may read incidents reads it, engineers write it."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views import View

from config.roles import can

from . import postmortems
from .models import ActionItem, Incident, Postmortem
from .postmortem_forms import ActionItemFormSet, PostmortemForm, action_items_from
from .views import apply_errors


def _incident(ticket: str) -> Incident:
    incident = Incident.objects.select_related("engineer").filter(ticket__iexact=ticket.strip()).first()
    if incident is None:
        raise Http404(f"No incident has the ticket number {ticket}.")
    return incident


def _postmortem(incident: Incident) -> Postmortem | None:
    return Postmortem.objects.select_related("author").filter(incident=incident).first()


def _items(postmortem: Postmortem | None) -> list[ActionItem]:
    if postmortem is None:
        return []
    return list(postmortem.action_items.select_related("owner"))


class PostmortemView(View):
    template_name = "incidents/postmortem_form.html"

    def _render(self, request, incident, postmortem, form=None, formset=None, status=200):
        can_edit = can(request.user, "postmortems", write=True)
        items = _items(postmortem)
        if can_edit and form is None:
            # Version 0 = "there was no postmortem when I opened the form".
            initial = {"version": postmortem.version if postmortem else 0}
            if postmortem:
                initial.update({field: getattr(postmortem, field) for field in postmortems.TEXT_FIELDS})
            form = PostmortemForm(initial=initial)
            formset = ActionItemFormSet(
                prefix="items",
                initial=[
                    {"id": i.pk, "title": i.title, "owner": i.owner_id, "due_date": i.due_date, "done": i.done}
                    for i in items
                ],
            )
        return render(
            request,
            self.template_name,
            {
                "incident": incident,
                "postmortem": postmortem,
                "items": items,
                "can_edit": can_edit,
                "form": form,
                "formset": formset,
            },
            status=status,
        )

    def get(self, request, ticket):
        incident = _incident(ticket)
        return self._render(request, incident, _postmortem(incident))

    def post(self, request, ticket):
        incident = _incident(ticket)
        form = PostmortemForm(request.POST)
        formset = ActionItemFormSet(request.POST, prefix="items")
        if form.is_valid() and formset.is_valid():
            data = form.cleaned_data
            try:
                postmortems.postmortem_save(
                    incident=incident,
                    by=request.user,
                    summary=data["summary"],
                    impact=data["impact"],
                    root_cause=data["root_cause"],
                    lessons=data["lessons"],
                    action_items=action_items_from(formset),
                    expected_version=data["version"],
                )
            except postmortems.StaleVersion as exc:
                form.add_error(None, str(exc))
                return self._render(request, incident, exc.postmortem, form, formset, status=409)
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, f"Postmortem of {incident.ticket} saved.")
                return redirect("incidents:postmortem", ticket=incident.ticket)
        return self._render(request, incident, _postmortem(incident), form, formset, status=400)
