from datetime import timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import selectors
from .choices import DEFAULT_PERIOD, Period

INPUT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]
MAX_RANGE = timedelta(days=3 * 366)


class PeriodForm(forms.Form):
    """The period of the dashboard and the CSV export, carried in the URL so a view can be shared.

    A preset (1 h, 24 h, 14 d, 30 d) ends now; ``custom`` takes ``start`` and ``end``
    (local time, end exclusive). Giving ``start``/``end`` without ``period`` means custom.
    """

    period = forms.ChoiceField(label=_("Period"), choices=Period.choices, required=False)
    start = forms.DateTimeField(
        label=_("Start"),
        required=False,
        input_formats=INPUT_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    end = forms.DateTimeField(
        label=_("End"),
        required=False,
        input_formats=INPUT_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def clean(self):
        data = super().clean()
        period = data.get("period") or ""
        start, end = data.get("start"), data.get("end")
        if not period and (start or end):
            period = Period.CUSTOM
        data["period"] = period or DEFAULT_PERIOD
        if data["period"] == Period.CUSTOM:
            if not start:
                self.add_error("start", _("A custom range needs a start."))
            if not end:
                self.add_error("end", _("A custom range needs an end."))
            if start and end:
                if end <= start:
                    self.add_error("end", _("The end must be after the start."))
                elif end - start > MAX_RANGE:
                    self.add_error("end", _("Choose a range of at most three years."))
        return data

    def bounds(self, *, now=None):
        """(period, start, end) of a valid form, or of the default period when it is not valid."""
        now = now or timezone.now()
        if self.is_valid():
            period = self.cleaned_data["period"]
            if period == Period.CUSTOM:
                return period, self.cleaned_data["start"], self.cleaned_data["end"]
        else:
            period = DEFAULT_PERIOD
        start, end = selectors.period_bounds(period, now=now)
        return period, start, end
