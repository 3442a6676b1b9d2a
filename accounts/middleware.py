from __future__ import annotations

from django.conf import settings
from django.contrib import auth
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

# Set in the session by the sign-in form when a local password was checked (see views).
PASSWORD_SIGN_IN = "beacon_password_sign_in"


def _meta_key(header: str) -> str:
    header = header.strip()
    if header.upper().startswith("HTTP_"):
        return header.upper()
    return "HTTP_" + header.upper().replace("-", "_")


class TrustedProxyUserMiddleware:
    """Signs in the user named by ``REMOTE_USER_HEADER``, only on requests from
    ``TRUSTED_PROXY_IPS`` (anyone else could send the header); groups from
    ``REMOTE_GROUPS_HEADER`` (comma-separated) set the roles."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        header = settings.REMOTE_USER_HEADER
        if header and request.META.get("REMOTE_ADDR") in settings.TRUSTED_PROXY_IPS:
            username = request.META.get(_meta_key(header), "").strip()
            if username and not (request.user.is_authenticated and request.user.get_username() == username):
                groups = None
                if settings.REMOTE_GROUPS_HEADER:
                    raw = request.META.get(_meta_key(settings.REMOTE_GROUPS_HEADER), "")
                    groups = [g.strip() for g in raw.split(",") if g.strip()]
                user = auth.authenticate(request, remote_user=username, groups=groups)
                if user is not None:
                    request.user = user
                    auth.login(request, user)
        return self.get_response(request)


class TwoFactorMiddleware:
    """Staff and superusers who signed in with a local password must pass TOTP (set it up
    at the first sign-in) before anything else; identity providers do their own MFA."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (
            settings.TWO_FACTOR_FOR_STAFF
            and user.is_authenticated
            and (user.is_staff or user.is_superuser)
            and request.session.get(PASSWORD_SIGN_IN)
            and not user.is_verified()
        ):
            allowed = {reverse("accounts:two-factor"), reverse("logout")}
            if request.path not in allowed and not request.path.startswith(settings.STATIC_URL):
                if request.path.startswith("/api/"):
                    return JsonResponse(
                        {"detail": _("Confirm your sign-in with your authenticator code first.")}, status=403
                    )
                return redirect(f"{reverse('accounts:two-factor')}?next={request.get_full_path()}")
        return self.get_response(request)
