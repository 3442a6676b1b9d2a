"""Forms collect and shape input; the rules themselves live in ``services``."""

import re

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from config.roles import ENGINEER

from .choices import (
    DESCRIPTION_MAX_LENGTH,
    MESSAGE_MAX_LENGTH,
    OPEN_STATUSES,
    TITLE_MAX_LENGTH,
    Severity,
    Status,
    Visibility,
)
from .models import Service

DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def engineers():
    return get_user_model().objects.filter(is_active=True, groups__name=ENGINEER).order_by("username").distinct()


class EmailListField(forms.CharField):
    """Addresses separated by commas, semicolons, spaces or new lines."""

    widget = forms.Textarea(attrs={"rows": 2, "placeholder": "ops-lead@example.com, vendor@example.com"})

    def to_python(self, value):
        text = super().to_python(value) or ""
        emails = [part.strip() for part in re.split(r"[,;\s]+", text) if part.strip()]
        for email in emails:
            try:
                validate_email(email)
            except ValidationError:
                raise ValidationError(_("%(email)r is not a valid email address."), params={"email": email}) from None
        return emails


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.get_full_name() or obj.get_username()


class _Crispy(forms.Form):
    submit_label = _("Save")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", self.submit_label))


class IncidentForm(_Crispy):
    submit_label = _("Open incident")

    title = forms.CharField(label=_("Title"), max_length=TITLE_MAX_LENGTH)
    severity = forms.TypedChoiceField(label=_("Severity"), choices=Severity.choices, coerce=int, initial=Severity.MINOR)
    services = forms.ModelMultipleChoiceField(
        label=_("Services"), queryset=Service.objects.filter(is_active=True), widget=forms.CheckboxSelectMultiple
    )
    description = forms.CharField(
        label=_("Description"),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        max_length=DESCRIPTION_MAX_LENGTH,
    )
    engineer = UserChoiceField(label=_("Engineer"), queryset=None, required=False, help_text=_("Responsible engineer"))
    started_at = forms.DateTimeField(
        label=_("Started at"),
        widget=DATETIME_WIDGET,
        required=False,
        help_text=_("When impact began (local time); empty means now."),
    )
    external_url = forms.URLField(required=False, label=_("External ticket link"), assume_scheme="https")
    extra_recipients = EmailListField(required=False, label=_("Other affected people (emails)"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["engineer"].queryset = engineers()


class UpdateForm(_Crispy):
    submit_label = _("Post update")

    message = forms.CharField(
        label=_("Message"), widget=forms.Textarea(attrs={"rows": 4}), max_length=MESSAGE_MAX_LENGTH
    )
    visibility = forms.ChoiceField(
        choices=Visibility.choices,
        initial=Visibility.PUBLIC,
        required=False,
        widget=forms.RadioSelect,
        label=_("Who sees it"),
        help_text=_("An internal note is for signed-in users only: never emailed, never on the status page."),
    )
    notify = forms.BooleanField(
        required=False,
        initial=True,
        label=_("Email the affected parties"),
        help_text=_("Untick for a small change nobody needs to hear about. Internal notes are never emailed."),
    )
    status = forms.ChoiceField(label=_("Status"), choices=[(s.value, s.label) for s in OPEN_STATUSES])
    severity = forms.TypedChoiceField(label=_("Severity"), choices=Severity.choices, coerce=int)
    effective_at = forms.DateTimeField(
        widget=DATETIME_WIDGET,
        required=False,
        label=_("When did this happen?"),
        help_text=_("Local time; empty means now. A change made earlier counts from when it happened."),
    )
    version = forms.IntegerField(widget=forms.HiddenInput)


class EditForm(_Crispy):
    """The scope of an open incident: what is affected and who is on it."""

    submit_label = _("Save changes")

    title = forms.CharField(label=_("Title"), max_length=TITLE_MAX_LENGTH)
    services = forms.ModelMultipleChoiceField(
        label=_("Services"), queryset=Service.objects.filter(is_active=True), widget=forms.CheckboxSelectMultiple
    )
    engineer = UserChoiceField(label=_("Engineer"), queryset=None, required=False, help_text=_("Responsible engineer"))
    external_url = forms.URLField(
        required=False, label=_("External ticket link"), assume_scheme="https", max_length=500
    )
    description = forms.CharField(
        label=_("Description"),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        max_length=DESCRIPTION_MAX_LENGTH,
    )
    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        label=_("Note for the log (optional)"),
        max_length=MESSAGE_MAX_LENGTH,
    )
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["engineer"].queryset = engineers()


class CorrectionForm(_Crispy):
    """Fix the record of a resolved incident; nobody is emailed, the reason is kept in the log."""

    submit_label = _("Save correction")

    title = forms.CharField(label=_("Title"), max_length=TITLE_MAX_LENGTH)
    services = forms.ModelMultipleChoiceField(
        label=_("Services"), queryset=Service.objects.all(), widget=forms.CheckboxSelectMultiple
    )
    engineer = UserChoiceField(label=_("Engineer"), queryset=None, required=False, help_text=_("Responsible engineer"))
    external_url = forms.URLField(
        required=False, label=_("External ticket link"), assume_scheme="https", max_length=500
    )
    description = forms.CharField(
        label=_("Description"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=DESCRIPTION_MAX_LENGTH,
    )
    started_at = forms.DateTimeField(widget=DATETIME_WIDGET, label=_("Impact began (local time)"))
    resolved_at = forms.DateTimeField(widget=DATETIME_WIDGET, label=_("Impact ended (local time)"))
    severity = forms.TypedChoiceField(
        choices=[("", _("No severity change")), *Severity.choices],
        coerce=int,
        required=False,
        empty_value=None,
        label=_("Severity was actually"),
    )
    effective_at = forms.DateTimeField(
        widget=DATETIME_WIDGET, required=False, label=_("…from (local time)"), help_text=_("When that severity began.")
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        label=_("Reason for the correction"),
        help_text=_("Required; kept in the log."),
    )
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["engineer"].queryset = engineers()


class CloseForm(_Crispy):
    submit_label = _("Close incident")

    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        label=_("Resolution"),
        help_text=_("What fixed it. Required."),
        max_length=MESSAGE_MAX_LENGTH,
    )
    resolved_at = forms.DateTimeField(
        label=_("Resolved at"),
        widget=DATETIME_WIDGET,
        required=False,
        help_text=_("When impact ended (local time); empty means now."),
    )
    version = forms.IntegerField(widget=forms.HiddenInput)


class ReopenForm(_Crispy):
    submit_label = _("Reopen incident")

    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), label=_("Why reopen?"), max_length=MESSAGE_MAX_LENGTH
    )
    severity = forms.TypedChoiceField(label=_("Severity"), choices=Severity.choices, coerce=int)
    version = forms.IntegerField(widget=forms.HiddenInput)


class IncidentFilterForm(forms.Form):
    """The incident list's filters; all optional, all carried in the URL."""

    q = forms.CharField(required=False, label=_("Search"))
    service = forms.ModelChoiceField(
        label=_("Service"),
        queryset=Service.objects.all(),
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
    start = forms.DateTimeField(label=_("From"), required=False, widget=DATETIME_WIDGET)
    end = forms.DateTimeField(label=_("To"), required=False, widget=DATETIME_WIDGET)

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            raise ValidationError(_("The end of the range must be after its start."))
        return data


def now_local_input() -> str:
    return timezone.localtime().strftime("%Y-%m-%dT%H:%M")
