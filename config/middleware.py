"""Request checks and response headers every page and API call shares."""

from django.conf import settings
from django.http import JsonResponse

from config.api import text_problem


class RefuseUnstorableTextMiddleware:
    """A NUL character or lone surrogate in the path or the query string is a 400.

    PostgreSQL cannot compare text containing NUL, so ``?ticket=%00`` would otherwise reach
    a query and fail there with a 500 on whichever page or API received it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        values = [request.path, *(v for values in request.GET.lists() for v in [values[0], *values[1]])]
        for value in values:
            problem = text_problem(value)
            if problem:
                if request.path.startswith("/api/"):
                    return JsonResponse({"detail": problem}, status=400)
                from config.views import bad_request

                return bad_request(request)
        return self.get_response(request)


class ContentSecurityPolicyMiddleware:
    """Adds ``Content-Security-Policy`` (``settings.CSP_HEADER``) unless a view set its own.

    Pages load scripts only from our static files: no inline ``<script>`` blocks and no
    other host, so the app works on an intranet and injected markup cannot run.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if settings.CSP_HEADER and "Content-Security-Policy" not in response:
            policy = settings.CSP_HEADER
            if getattr(getattr(response, "accepted_renderer", None), "format", "") == "api":
                # DRF's browsable API (a developer tool, signed-in only) ships an inline script.
                policy = policy.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
            response["Content-Security-Policy"] = policy
        return response
