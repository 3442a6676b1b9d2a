"""The dashboard's range and filter form. Everything it holds travels in the URL, so a
view of the timeline can be bookmarked and shared."""

from datetime import datetime, time, timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from config.api import TIME_MAX, TIME_MIN
from incidents.choices import Severity, Status
from incidents.models import Service
from incidents.selectors import IncidentFilters

from . import selectors

PRESETS = {
    "24h": (_("24 h"), timedelta(hours=24)),
    "7d": (_("7 d"), timedelta(days=7)),
    "30d": (_("30 d"), timedelta(days=30)),
    "90d": (_("90 d"), timedelta(days=90)),
}
DEFAULT_PRESET = "7d"


class TimelineForm(forms.Form):
    """A preset (``range=24h|7d|30d|90d``) or a custom range of days (``start``, ``end``,
    both inclusive, in ``TIME_ZONE``), plus the incident filters."""

    range = forms.ChoiceField(label=_("Range"), choices=[(k, v[0]) for k, v in PRESETS.items()], required=False)
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label=_("From"))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label=_("To"))
    service = forms.ModelChoiceField(
        label=_("Service"),
        queryset=Service.objects.order_by("name"),
        to_field_name="slug",
        required=False,
        empty_label=_("All services"),
    )
    severity = forms.TypedChoiceField(
        label=_("Severity"),
        choices=[("", _("Any severity")), *Severity.choices],
        coerce=int,
        required=False,
        empty_value=None,
    )
    status = forms.ChoiceField(
        label=_("Status"), choices=[("", _("Any status")), ("open", _("Open")), *Status.choices], required=False
    )
    q = forms.CharField(required=False, label=_("Search"), max_length=200)
    # Exact instants (drag-to-zoom on the timeline): take precedence over the day range.
    since = forms.DateTimeField(required=False, widget=forms.HiddenInput, label=_("Since"))
    until = forms.DateTimeField(required=False, widget=forms.HiddenInput, label=_("Until"))

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        since, until = data.get("since"), data.get("until")
        if (since or until) and not (since and until and since < until):
            raise ValidationError(_("A zoomed range needs a start before its end."))
        if since and until:
            try:
                selectors.timeline_range_check(start=since, end=until)
            except ValidationError as exc:
                raise ValidationError([m for messages in exc.message_dict.values() for m in messages]) from None
        if start and end and end < start:
            raise ValidationError(_("The end of the range must not be before its start."))
        if start or end:
            for day in (start, end):
                if day and not (TIME_MIN.year <= day.year <= TIME_MAX.year - 1):
                    raise ValidationError(_("Choose dates between %(a)s and %(b)s.") % {"a": 1970, "b": 2998})
            # The range rule is the selector's, the same for the API.
            first, last = self.window(timezone.now())
            try:
                selectors.timeline_range_check(start=first, end=last)
            except ValidationError as exc:
                raise ValidationError([m for messages in exc.message_dict.values() for m in messages]) from None
        return data

    @property
    def preset(self) -> str:
        """The preset in force: the chosen one, "custom" for a date range, else the default."""
        data = getattr(self, "cleaned_data", None) or {}
        if data.get("start") or data.get("end") or data.get("since"):
            return "custom"
        return data.get("range") or DEFAULT_PRESET

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        preset = self.preset
        if preset != "custom":
            return now - PRESETS[preset][1], now
        data = self.cleaned_data
        if data.get("since") and data.get("until"):
            return data["since"], data["until"]
        last = data.get("end") or timezone.localdate(now)
        first = data.get("start") or (last - timedelta(days=6))
        tz = timezone.get_current_timezone()
        return (
            timezone.make_aware(datetime.combine(first, time.min), tz),
            timezone.make_aware(datetime.combine(last + timedelta(days=1), time.min), tz),
        )

    def filters(self, now: datetime) -> IncidentFilters:
        start, end = self.window(now)
        data = getattr(self, "cleaned_data", None) or {}
        service = data.get("service")
        return IncidentFilters(
            start=start,
            end=end,
            service=service.slug if service else "",
            severity=data.get("severity"),
            status=data.get("status") or "",
            q=(data.get("q") or "").strip(),
        )
