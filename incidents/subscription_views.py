"""`/subscriptions/` (any signed-in user) and the one-click unsubscribe link (no sign-in)."""

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from . import subscriptions
from .models import Service


class SubscriptionForm(forms.Form):
    services = forms.ModelMultipleChoiceField(
        queryset=Service.objects.filter(is_active=True),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label=_("Email me about incidents and maintenance of"),
    )


class SubscriptionsView(LoginRequiredMixin, View):
    template_name = "subscriptions/subscriptions.html"

    def get(self, request):
        form = SubscriptionForm(initial={"services": list(subscriptions.subscriptions_of(request.user))})
        return self.render(request, form)

    def post(self, request):
        form = SubscriptionForm(request.POST)
        if form.is_valid():
            try:
                added, removed = subscriptions.subscriptions_set(
                    user=request.user, services=list(form.cleaned_data["services"])
                )
            except ValidationError as exc:
                for name, errors in exc.message_dict.items():
                    form.add_error(name if name in form.fields else None, errors)
            else:
                messages.success(
                    request,
                    _("Subscriptions saved: %(added)d added, %(removed)d removed.")
                    % {"added": added, "removed": removed},
                )
                return redirect("subscriptions:mine")
        return self.render(request, form, status=400)

    def render(self, request, form, status=200):
        return render(request, self.template_name, {"form": form, "email": request.user.email}, status=status)


@method_decorator(csrf_exempt, name="dispatch")
class UnsubscribeView(View):
    """GET shows what the link unsubscribes and a button (link scanners only GET); POST does
    it. Mail clients' one-click button POSTs ``List-Unsubscribe=One-Click`` here (RFC 8058).
    The signed token is the authorisation, so neither a session nor a CSRF token is needed."""

    template_name = "subscriptions/unsubscribe.html"

    def get(self, request, token):
        try:
            found = subscriptions.unsubscription_from_token(token)
        except ValidationError as exc:
            return self._invalid(request, exc)
        return render(request, self.template_name, {"found": found, "done": False})

    def post(self, request, token):
        try:
            found = subscriptions.unsubscribe(token=token)
        except ValidationError as exc:
            return self._invalid(request, exc)
        return render(request, self.template_name, {"found": found, "done": True})

    def _invalid(self, request, exc):
        message = exc.message_dict.get("token", [str(exc)])[0]
        return render(request, self.template_name, {"error": message}, status=400)
