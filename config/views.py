import logging

from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render

logger = logging.getLogger(__name__)


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


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def bad_request(request, exception=None):
    # Django answers malformed requests it catches itself (oversize bodies, bad hosts)
    # here; the API's callers get JSON like every other API error.
    if _is_api(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return render(request, "400.html", status=400)


def permission_denied(request, exception=None):
    if _is_api(request):
        return JsonResponse({"detail": "You do not have permission to perform this action."}, status=403)
    return render(request, "403.html", {"reason": str(exception or "")}, status=403)


def page_not_found(request, exception=None):
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return render(request, "404.html", {"reason": str(exception or "")}, status=404)


def server_error(request):
    if _is_api(request):
        return JsonResponse({"detail": "Server error."}, status=500)
    return render(request, "500.html", status=500)
