from .context import current_ip, current_user


class AuditActorMiddleware:
    """Remembers the request's user and address for entries written during it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user_token = current_user.set(getattr(request, "user", None))
        ip_token = current_ip.set(request.META.get("REMOTE_ADDR") or None)
        try:
            return self.get_response(request)
        finally:
            current_user.reset(user_token)
            current_ip.reset(ip_token)
