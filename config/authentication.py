"""API token authentication that accepts both ``Authorization`` keywords in use.

``Authorization: Token <key>`` or ``Authorization: Bearer <key>`` (what Alertmanager,
Grafana and most webhook senders send) name the same Beacon API token
(``accounts.models.ApiToken``: only a hash of the key is stored). Bad keys are counted per
address; past ``API_TOKEN_FAILURE_LIMIT`` in the window the address gets 429.
"""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, Throttled


class BearerOrTokenAuthentication(BaseAuthentication):
    keywords = ("token", "bearer")

    def authenticate(self, request):
        from accounts import ratelimit, services

        auth = get_authorization_header(request).split()
        if not auth or auth[0].lower().decode(errors="replace") not in self.keywords:
            return None
        if len(auth) != 2:
            raise AuthenticationFailed(_("Invalid token header: give exactly one token after the keyword."))
        try:
            key = auth[1].decode()
        except UnicodeError:
            raise AuthenticationFailed(_("Invalid token header: the token has characters it cannot have.")) from None
        counter = f"token-fail:{ratelimit.client_address(request._request) or 'unknown'}"
        if ratelimit.exceeded(counter, settings.API_TOKEN_FAILURE_LIMIT):
            raise Throttled(detail=_("Too many requests with a bad token from this address; try again later."))
        token = services.token_authenticate(key)
        if token is None:
            ratelimit.hit(counter)
            raise AuthenticationFailed(_("Invalid token."))
        if not token.user.is_active:
            raise AuthenticationFailed(_("The token's user is deactivated."))
        return token.user, token

    def authenticate_header(self, request):
        return "Bearer"


class BearerOrTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes the token (``Bearer``; ``Token`` works the same)."""

    target_class = "config.authentication.BearerOrTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token from /accounts/tokens/ or `manage.py create_token`; "
            "`Authorization: Token <key>` is accepted too.",
        }
