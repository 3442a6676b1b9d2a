from django import forms
from django.utils.translation import gettext_lazy as _

from .choices import Action


class AuditFilterForm(forms.Form):
    who = forms.CharField(label=_("Who (username)"), required=False, max_length=150)
    action = forms.ChoiceField(label=_("What"), required=False, choices=[("", _("Everything")), *Action.choices])
    q = forms.CharField(label=_("Object or text"), required=False, max_length=200)
    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            self.add_error("end", _("The end is before the start."))
        return data
