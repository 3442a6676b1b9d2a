from datetime import timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .choices import DurationUnit

DEFAULT_DAYS = 90
MAX_DAYS = 366 * 5
PRESETS = [("30 days", 30), ("90 days", 90), ("1 year", 365), ("2 years", 730)]


class RangeForm(forms.Form):
    """Date range (inclusive, in TIME_ZONE) and unit of the client investigation chart."""

    start = forms.DateField(label=_("Start"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("End"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    unit = forms.ChoiceField(label=_("Unit"), choices=DurationUnit.choices, required=False)

    def clean(self):
        data = super().clean()
        end = data.get("end") or timezone.localdate()
        start = data.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise forms.ValidationError(_("The start date must be on or before the end date."))
        if (end - start).days > MAX_DAYS:
            raise forms.ValidationError(_("Choose a range of at most five years."))
        data["start"], data["end"] = start, end
        data["unit"] = data.get("unit") or DurationUnit.MINUTES
        return data

    @staticmethod
    def defaults() -> dict:
        end = timezone.localdate()
        return {"start": end - timedelta(days=DEFAULT_DAYS - 1), "end": end, "unit": DurationUnit.MINUTES}
