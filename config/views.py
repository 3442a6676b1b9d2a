from django.conf import settings
from django.db import connection
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme

from config.roles import user_roles


def healthz(request):
    """Liveness for load balancers: the process answers and the database responds."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - reported, not swallowed
        return JsonResponse({"status": "error", "database": str(exc)}, status=503)
    return JsonResponse({"status": "ok"})


def set_language(request):
    """The language switch: ``?language=fr&next=/status/`` stores the choice in a cookie.

    A plain link (GET) rather than Django's POST view, so the switch works on cached
    public pages such as ``/status/`` that carry no CSRF token. It only sets a cookie.
    """
    code = request.GET.get("language", "")
    target = request.GET.get("next") or "/"
    host = {request.get_host()}
    safe = url_has_allowed_host_and_scheme(target, allowed_hosts=host, require_https=request.is_secure())
    if not safe:
        target = "/"
    response = HttpResponseRedirect(target)
    if code in dict(settings.LANGUAGES):
        translation.activate(code)
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            code,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            path=settings.LANGUAGE_COOKIE_PATH,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
        )
    return response


def permission_denied(request, exception=None):
    """403 that says who the user is, which roles they hold and where they can go instead."""
    user = request.user
    roles = sorted(user_roles(user)) if user.is_authenticated else []
    return render(
        request,
        "403.html",
        {"reason": str(exception or ""), "roles": roles, "is_superuser": getattr(user, "is_superuser", False)},
        status=403,
    )


def page_not_found(request, exception=None):
    return render(request, "404.html", {"reason": str(exception or "")}, status=404)
