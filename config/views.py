import logging

from django.conf import settings
from django.db import connection
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme

from config.roles import user_roles

logger = logging.getLogger(__name__)


def filter_status(form) -> int:
    """The status of a page whose URL parameters fill ``form``: 400 when they are wrong.

    The page still renders (the form names the field and its error, and the page shows
    its default view), so a person sees what to fix and a client sees the refusal."""
    return 400 if form.is_bound and not form.is_valid() else 200


def healthz(request):
    """Liveness for load balancers: the process answers and the database responds.

    Says ok or fail only: the reason (host names, driver messages) goes to the log, never
    to an anonymous caller.
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - logged with its traceback, answered as "fail"
        logger.exception("healthz: database check failed")
        return JsonResponse({"status": "fail"}, status=503)
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


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def bad_request(request, exception=None):
    # Django answers malformed requests it catches itself (oversize bodies, bad hosts)
    # here; the API's callers get JSON like every other API error.
    if _is_api(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return render(request, "400.html", status=400)


def permission_denied(request, exception=None):
    """403 that says who the user is, which roles they hold and where they can go instead."""
    if _is_api(request):
        return JsonResponse({"detail": "You do not have permission to perform this action."}, status=403)
    user = request.user
    roles = sorted(user_roles(user)) if user.is_authenticated else []
    return render(
        request,
        "403.html",
        {"reason": str(exception or ""), "roles": roles, "is_superuser": getattr(user, "is_superuser", False)},
        status=403,
    )


def page_not_found(request, exception=None):
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return render(request, "404.html", {"reason": str(exception or "")}, status=404)


def server_error(request):
    if _is_api(request):
        return JsonResponse({"detail": "Server error."}, status=500)
    return render(request, "500.html", status=500)
