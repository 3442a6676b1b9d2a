"""Response headers every page gets."""

from django.conf import settings


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
