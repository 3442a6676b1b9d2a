"""Request checks every page and API call shares."""

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
