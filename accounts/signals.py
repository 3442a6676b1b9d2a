"""Sign-in events to the audit trail (Django's and django-axes' signals: no service exists)."""

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from audit.choices import Action
from audit.services import audit_record

BACKEND_NAMES = {
    "django.contrib.auth.backends.ModelBackend": "password",
    "accounts.backends.BeaconLDAPBackend": "ldap",
    "accounts.backends.BeaconOIDCBackend": "openid-connect",
    "accounts.backends.TrustedProxyBackend": "proxy header",
}


@receiver(user_logged_in, dispatch_uid="audit-sign-in")
def _signed_in(sender, request, user, **kwargs):
    backend = getattr(user, "backend", "") or ""
    if request is None or not getattr(request, "path", ""):
        return  # test clients' force_login: no one signed in
    audit_record(
        action=Action.SIGN_IN,
        actor=user,
        target=user,
        summary=f"with {BACKEND_NAMES.get(backend, backend)}",
        request=request,
    )


@receiver(user_login_failed, dispatch_uid="audit-sign-in-failed")
def _failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username") or credentials.get("remote_user") or "")
    audit_record(
        action=Action.SIGN_IN_FAILED,
        actor_name=username,
        object_type="auth.User",
        object_repr=username,
        request=request,
    )


@receiver(user_logged_out, dispatch_uid="audit-sign-out")
def _signed_out(sender, request, user, **kwargs):
    if user is not None and request is not None and getattr(request, "path", ""):
        audit_record(action=Action.SIGN_OUT, actor=user, target=user, request=request)


@receiver(user_locked_out, dispatch_uid="audit-locked-out")
def _locked_out(sender, request, username, ip_address, **kwargs):
    audit_record(
        action=Action.LOCKED_OUT,
        actor_name=username or "",
        object_type="auth.User",
        object_repr=username or "",
        summary=f"from {ip_address}",
        request=request,
    )
