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
            response["Content-Security-Policy"] = settings.CSP_HEADER
        return response
