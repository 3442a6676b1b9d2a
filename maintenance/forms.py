"""Forms collect and shape input; the rules themselves live in ``services``."""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.utils.translation import gettext_lazy as _

from incidents.forms import DATETIME_WIDGET
from incidents.models import Service

from .choices import DESCRIPTION_MAX_LENGTH, TITLE_MAX_LENGTH


class _Crispy(forms.Form):
    submit_label = _("Save")
    submit_class = "btn-primary"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", self.submit_label, css_class=self.submit_class))


class MaintenanceForm(_Crispy):
    submit_label = _("Schedule maintenance")

    title = forms.CharField(label=_("Title"), max_length=TITLE_MAX_LENGTH)
    services = forms.ModelMultipleChoiceField(
        label=_("Services"), queryset=Service.objects.filter(is_active=True), widget=forms.CheckboxSelectMultiple
    )
    starts_at = forms.DateTimeField(label=_("Starts"), widget=DATETIME_WIDGET, help_text=_("Local time."))
    ends_at = forms.DateTimeField(label=_("Ends"), widget=DATETIME_WIDGET, help_text=_("Local time."))
    description = forms.CharField(
        label=_("Description"),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        max_length=DESCRIPTION_MAX_LENGTH,
        help_text=_("What will be done and what users will notice. Subscribers read this."),
    )


class MaintenanceEditForm(MaintenanceForm):
    submit_label = _("Save changes")

    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A maintenance may name a service that was switched off since; keep it choosable.
        self.fields["services"].queryset = Service.objects.all()


class CancelForm(_Crispy):
    submit_label = _("Cancel maintenance")
    submit_class = "btn-danger"

    version = forms.IntegerField(widget=forms.HiddenInput)
