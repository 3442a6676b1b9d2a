"""API token authentication that accepts both ``Authorization`` keywords in use.

DRF's ``TokenAuthentication`` knows only ``Token <key>``; Alertmanager, Grafana and most
webhook senders send ``Bearer <key>``. Both name the same Beacon API token.
"""

from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed


class BearerOrTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>`` or ``Authorization: Bearer <key>``, the same tokens."""

    keywords = ("token", "bearer")

    def authenticate(self, request):
        auth = get_authorization_header(request).split()
        if not auth or auth[0].lower().decode(errors="replace") not in self.keywords:
            return None
        if len(auth) != 2:
            raise AuthenticationFailed("Invalid token header: give exactly one token after the keyword.")
        try:
            key = auth[1].decode()
        except UnicodeError:
            raise AuthenticationFailed("Invalid token header: the token has characters it cannot have.") from None
        return self.authenticate_credentials(key)

    def authenticate_header(self, request):
        return "Bearer"
