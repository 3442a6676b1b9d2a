"""Forms of the postmortem page: the text and a formset of action items.

They only shape input; the rules live in ``incidents.postmortems``.
"""

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from .forms import UserChoiceField
from .postmortems import ActionItemInput


class PostmortemForm(forms.Form):
    summary = forms.CharField(
        label=_("Summary"),
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("What happened, in a few sentences anyone can read."),
    )
    impact = forms.CharField(
        label=_("Impact"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text=_("Who was affected, how, for how long."),
    )
    root_cause = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False, label=_("Root cause"))
    lessons = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        label=_("Lessons learned"),
        help_text=_("What went well, what did not."),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class ActionItemForm(forms.Form):
    id = forms.IntegerField(widget=forms.HiddenInput, required=False)
    title = forms.CharField(
        label=_("Title"),
        max_length=200,
        required=False,
        widget=forms.TextInput(
            attrs={
                "placeholder": _("What to do"),
                "aria-label": _("Action item"),
                "class": "form-control form-control-sm",
            }
        ),
    )
    owner = UserChoiceField(
        queryset=None,
        required=False,
        empty_label=_("No owner"),
        widget=forms.Select(attrs={"class": "form-select form-select-sm", "aria-label": _("Owner")}),
    )
    due_date = forms.DateField(
        label=_("Due date"),
        required=False,
        widget=forms.DateInput(
            attrs={"type": "date", "class": "form-control form-control-sm", "aria-label": _("Due date")},
            format="%Y-%m-%d",
        ),
    )
    done = forms.BooleanField(
        label=_("Done"), required=False, widget=forms.CheckboxInput(attrs={"class": "form-check-input"})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")

    def clean(self):
        data = super().clean()
        # A filled-in row without a title is a mistake worth pointing at; a blank row is just unused.
        filled = data.get("owner") or data.get("due_date") or data.get("done")
        if filled and not data.get("title") and not data.get("DELETE"):
            self.add_error("title", _("Give the action item a title."))
        return data


ActionItemFormSet = forms.formset_factory(ActionItemForm, extra=1, can_delete=True, max_num=100, validate_max=True)


def action_items_from(formset) -> list[ActionItemInput]:
    """The formset as the service's input, leaving out blank extra rows."""
    items = []
    for form in formset.forms:
        data = form.cleaned_data
        if not data:
            continue
        if data.get("id") is None and not data.get("title"):
            continue
        items.append(
            ActionItemInput(
                id=data.get("id"),
                title=data.get("title") or "",
                owner=data.get("owner"),
                due_date=data.get("due_date"),
                done=bool(data.get("done")),
                delete=bool(data.get("DELETE")),
            )
        )
    return items
