"""OpenID Connect with mozilla-django-oidc, configured from environment variables only.

With ``OIDC_ISSUER`` the endpoints come from the provider's discovery document, read at
the first sign-in (not at start-up, so Beacon starts while the provider is down) and kept
for the life of the process. Explicit ``OIDC_*_ENDPOINT`` variables win over discovery.
"""

from __future__ import annotations

import logging
import threading

import requests
from django.conf import settings
from django.http import Http404, HttpResponseRedirect
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

logger = logging.getLogger(__name__)
DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}
_lock = threading.Lock()
_documents: dict[str, dict] = {}


class ProviderUnavailable(Exception):
    """The provider's configuration could not be read (down, wrong OIDC_ISSUER)."""


def discovery(issuer: str) -> dict:
    with _lock:
        if issuer not in _documents:
            url = f"{issuer}/.well-known/openid-configuration"
            try:
                response = requests.get(url, timeout=settings.OIDC_TIMEOUT, verify=settings.OIDC_VERIFY_SSL)
                response.raise_for_status()
                document = response.json()
            except (requests.RequestException, ValueError) as exc:
                raise ProviderUnavailable(
                    f"Could not read the OpenID provider's configuration at {url}: {exc}"
                ) from exc
            _documents[issuer] = document
        return _documents[issuer]


def oidc_setting(attr: str, *default):
    value = import_from_settings(attr, *default)
    if not value and attr in DISCOVERED and settings.OIDC_ISSUER:
        return discovery(settings.OIDC_ISSUER).get(DISCOVERED[attr]) or value
    return value


class SignInRequestView(OIDCAuthenticationRequestView):
    """The "Sign in with …" button's target: redirects to the provider."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args, **kwargs):
        # The parent reads the endpoint here; discovery waits for the first request instead.
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID

    def get(self, request):
        if not settings.OIDC_ENABLED:
            raise Http404("Single sign-on is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = oidc_setting("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except ProviderUnavailable as exc:
            logger.warning("%s", exc)
            return HttpResponseRedirect(settings.LOGIN_REDIRECT_URL_FAILURE)
        return super().get(request)


class SignInCallbackView(OIDCAuthenticationCallbackView):
    """The provider sends the browser back here; the state, the nonce and the ID token's
    signature are checked by mozilla-django-oidc before anyone is signed in."""

    get_settings = staticmethod(oidc_setting)

    def get(self, request):
        if not settings.OIDC_ENABLED:
            raise Http404("Single sign-on is not configured.")
        try:
            return super().get(request)
        except (ProviderUnavailable, requests.RequestException) as exc:
            # The provider is down or refused the code: say so on the sign-in page, not with a 500.
            logger.warning("OpenID Connect sign-in failed: %s", exc)
            return self.login_failure()
