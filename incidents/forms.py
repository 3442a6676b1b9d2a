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
                raise ValidationError(f"{email!r} is not a valid email address.") from None
        return emails


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.get_full_name() or obj.get_username()


class _Crispy(forms.Form):
    submit_label = "Save"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", self.submit_label))


class IncidentForm(_Crispy):
    submit_label = "Open incident"

    title = forms.CharField(max_length=TITLE_MAX_LENGTH)
    severity = forms.TypedChoiceField(choices=Severity.choices, coerce=int, initial=Severity.MINOR)
    services = forms.ModelMultipleChoiceField(
        queryset=Service.objects.filter(is_active=True), widget=forms.CheckboxSelectMultiple
    )
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), required=False, max_length=DESCRIPTION_MAX_LENGTH
    )
    engineer = UserChoiceField(queryset=None, required=False, help_text="Responsible engineer")
    started_at = forms.DateTimeField(
        widget=DATETIME_WIDGET, required=False, help_text="When impact began (local time); empty means now."
    )
    external_url = forms.URLField(required=False, label="External ticket link", assume_scheme="https")
    extra_recipients = EmailListField(required=False, label="Other affected people (emails)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["engineer"].queryset = engineers()


class UpdateForm(_Crispy):
    submit_label = "Post update"

    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=MESSAGE_MAX_LENGTH)
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
    status = forms.ChoiceField(choices=[(s.value, s.label) for s in OPEN_STATUSES])
    severity = forms.TypedChoiceField(choices=Severity.choices, coerce=int)
    effective_at = forms.DateTimeField(
        widget=DATETIME_WIDGET,
        required=False,
        label="When did this happen?",
        help_text="Local time; empty means now. A change made earlier counts from when it happened.",
    )
    version = forms.IntegerField(widget=forms.HiddenInput)


class EditForm(_Crispy):
    """The scope of an open incident: what is affected and who is on it."""

    submit_label = "Save changes"

    title = forms.CharField(max_length=TITLE_MAX_LENGTH)
    services = forms.ModelMultipleChoiceField(
        queryset=Service.objects.filter(is_active=True), widget=forms.CheckboxSelectMultiple
    )
    engineer = UserChoiceField(queryset=None, required=False, help_text="Responsible engineer")
    external_url = forms.URLField(required=False, label="External ticket link", assume_scheme="https", max_length=500)
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), required=False, max_length=DESCRIPTION_MAX_LENGTH
    )
    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        label="Note for the log (optional)",
        max_length=MESSAGE_MAX_LENGTH,
    )
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["engineer"].queryset = engineers()


class CorrectionForm(_Crispy):
    """Fix the record of a resolved incident; nobody is emailed, the reason is kept in the log."""

    submit_label = "Save correction"

    title = forms.CharField(max_length=TITLE_MAX_LENGTH)
    services = forms.ModelMultipleChoiceField(queryset=Service.objects.all(), widget=forms.CheckboxSelectMultiple)
    engineer = UserChoiceField(queryset=None, required=False, help_text="Responsible engineer")
    external_url = forms.URLField(required=False, label="External ticket link", assume_scheme="https", max_length=500)
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=DESCRIPTION_MAX_LENGTH
    )
    started_at = forms.DateTimeField(widget=DATETIME_WIDGET, label="Impact began (local time)")
    resolved_at = forms.DateTimeField(widget=DATETIME_WIDGET, label="Impact ended (local time)")
    severity = forms.TypedChoiceField(
        choices=[("", "No severity change"), *Severity.choices],
        coerce=int,
        required=False,
        empty_value=None,
        label="Severity was actually",
    )
    effective_at = forms.DateTimeField(
        widget=DATETIME_WIDGET, required=False, label="…from (local time)", help_text="When that severity began."
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Reason for the correction",
        help_text="Required; kept in the log.",
    )
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["engineer"].queryset = engineers()


class CloseForm(_Crispy):
    submit_label = "Close incident"

    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        label="Resolution",
        help_text="What fixed it. Required.",
        max_length=MESSAGE_MAX_LENGTH,
    )
    resolved_at = forms.DateTimeField(
        widget=DATETIME_WIDGET, required=False, help_text="When impact ended (local time); empty means now."
    )
    version = forms.IntegerField(widget=forms.HiddenInput)


class ReopenForm(_Crispy):
    submit_label = "Reopen incident"

    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), label="Why reopen?", max_length=MESSAGE_MAX_LENGTH
    )
    severity = forms.TypedChoiceField(choices=Severity.choices, coerce=int)
    version = forms.IntegerField(widget=forms.HiddenInput)


class IncidentFilterForm(forms.Form):
    """The incident list's filters; all optional, all carried in the URL."""

    q = forms.CharField(required=False, label="Search")
    service = forms.ModelChoiceField(
        queryset=Service.objects.all(), to_field_name="slug", required=False, empty_label="All services"
    )
    severity = forms.TypedChoiceField(
        choices=[("", "Any severity"), *Severity.choices], coerce=int, required=False, empty_value=None
    )
    status = forms.ChoiceField(choices=[("", "Any status"), ("open", "Open"), *Status.choices], required=False)
    start = forms.DateTimeField(required=False, widget=DATETIME_WIDGET)
    end = forms.DateTimeField(required=False, widget=DATETIME_WIDGET)

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            raise ValidationError("The end of the range must be after its start.")
        return data


def now_local_input() -> str:
    return timezone.localtime().strftime("%Y-%m-%dT%H:%M")
