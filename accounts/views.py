"""Sign-in page, password reset (rate-limited), two-factor, and the user's API tokens."""

from __future__ import annotations

from io import BytesIO

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import View
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.choices import Action
from audit.services import audit_record

from . import ratelimit, services
from .forms import TokenForm, TwoFactorForm
from .middleware import PASSWORD_SIGN_IN
from .models import ApiToken


def password_form_shown() -> bool:
    """The username/password form serves local accounts and LDAP alike."""
    return settings.LOCAL_LOGIN_ENABLED or settings.LDAP_ENABLED


class SignInView(auth_views.LoginView):
    """``/accounts/login/``: "Sign in with <provider>" and, unless switched off, the form."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            {
                "password_form": password_form_shown(),
                "oidc_enabled": settings.OIDC_ENABLED,
                "oidc_name": settings.OIDC_PROVIDER_NAME,
                "password_reset": settings.LOCAL_LOGIN_ENABLED,
                "sso_failed": self.request.GET.get("sso") == "failed",
            }
        )
        return context

    def post(self, request, *args, **kwargs):
        if not password_form_shown():
            raise Http404(_("Password sign-in is switched off; sign in with your company account."))
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        user = form.get_user()
        if getattr(user, "backend", "") == "django.contrib.auth.backends.ModelBackend":
            self.request.session[PASSWORD_SIGN_IN] = True
        return response


class PasswordResetView(auth_views.PasswordResetView):
    """Rate-limited per address and per email; off when local passwords are."""

    def dispatch(self, request, *args, **kwargs):
        if not settings.LOCAL_LOGIN_ENABLED:
            raise Http404(_("Passwords are managed by your company's identity provider."))
        return super().dispatch(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        email = (request.POST.get("email") or "").strip().lower()
        limit = settings.PASSWORD_RESET_LIMIT
        keys = [f"reset-ip:{ratelimit.client_address(request) or 'unknown'}", f"reset-email:{email}"]
        if any(ratelimit.exceeded(key, limit) for key in keys):
            form = self.get_form()
            form.is_valid()
            form.add_error(None, _("Too many password reset requests; try again later."))
            return self.render_to_response(self.get_context_data(form=form), status=429)
        for key in keys:
            ratelimit.hit(key)
        return super().post(request, *args, **kwargs)


def _safe_next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or settings.LOGIN_REDIRECT_URL
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return settings.LOGIN_REDIRECT_URL


def _qr_svg(url: str) -> str:
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode()


class TwoFactorView(View):
    """Confirm the sign-in with a TOTP code; at the first time, set the authenticator up."""

    template_name = "accounts/two_factor.html"

    def _device(self, user) -> tuple[TOTPDevice, bool]:
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device:
            return device, False
        device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
        return device, True

    def _render(self, request, form, status=200):
        device, setup = self._device(request.user)
        context = {"form": form, "setup": setup, "next": _safe_next(request)}
        if setup:
            context.update({"qr": _qr_svg(device.config_url), "secret": device.bin_key.hex()})
        return render(request, self.template_name, context, status=status)

    def get(self, request):
        return self._render(request, TwoFactorForm())

    def post(self, request):
        form = TwoFactorForm(request.POST)
        if not form.is_valid():
            return self._render(request, form, status=400)
        device, setup = self._device(request.user)
        key = f"otp-fail:{request.user.pk}"
        if ratelimit.exceeded(key, settings.AXES_FAILURE_LIMIT):
            form.add_error("code", _("Too many wrong codes; wait a few minutes and try again."))
            return self._render(request, form, status=429)
        allowed, _info = device.verify_is_allowed()
        if not allowed:
            # django-otp slows guessing down: each wrong code doubles the wait before the next.
            form.add_error("code", _("Too soon after a wrong code; wait a few seconds and enter the current code."))
            return self._render(request, form, status=429)
        if not device.verify_token(form.cleaned_data["code"].strip().replace(" ", "")):
            ratelimit.hit(key)
            form.add_error("code", _("That code is not right (or has expired); try the current one."))
            return self._render(request, form, status=400)
        if setup:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            audit_record(action=Action.TWO_FACTOR, target=request.user, request=request)
        otp_login(request, device)
        return redirect(_safe_next(request))


class TokenListView(View):
    """The signed-in user's API tokens: create (key shown once), see last use, revoke."""

    template_name = "accounts/tokens.html"

    def _render(self, request, form, new_key=None, status=200):
        tokens = ApiToken.objects.filter(user=request.user).order_by("revoked_at", "-created_at")
        return render(request, self.template_name, {"form": form, "tokens": tokens, "new_key": new_key}, status=status)

    def get(self, request):
        initial = {"expires_days": settings.API_TOKEN_DEFAULT_DAYS or None}
        return self._render(request, TokenForm(initial=initial))

    def post(self, request):
        form = TokenForm(request.POST)
        if not form.is_valid():
            return self._render(request, form, status=400)
        try:
            _token, key = services.token_create(
                user=request.user,
                name=form.cleaned_data["name"],
                expires_days=form.cleaned_data["expires_days"],
                by=request.user,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
            return self._render(request, form, status=400)
        return self._render(request, TokenForm(), new_key=key, status=201)


class TokenRevokeView(View):
    def post(self, request, pk: int):
        token = get_object_or_404(ApiToken, pk=pk, user=request.user)
        services.token_revoke(token=token, by=request.user)
        messages.success(request, _("The token “%(name)s” is revoked.") % {"name": token.name})
        return redirect("accounts:tokens")


def locked_out(request, credentials=None, *args, **kwargs):
    """django-axes' lockout response (AXES_LOCKOUT_CALLABLE): a page that says why and for how long."""
    minutes = max(1, round(settings.AXES_COOLOFF_TIME * 60))
    return render(request, "registration/locked_out.html", {"cooloff_minutes": minutes}, status=429)
