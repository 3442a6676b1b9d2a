"""`POST /api/v1/integrations/pagerduty/`: PagerDuty webhooks (v3), authenticated by their signature.

No Beacon token or session: the HMAC-SHA256 of the raw body with PAGERDUTY_WEBHOOK_SECRET,
checked by ``PagerDutySignatureAuthentication`` before anything is parsed, is the only way
in. The request does no outbound I/O (nobody is emailed, PagerDuty is not called back).
"""

import hashlib
import hmac
import json

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import services

SIGNATURE_HEADER = "X-PagerDuty-Signature"


class WebhookNotConfigured(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "PagerDuty webhooks are not enabled here: set PAGERDUTY_WEBHOOK_SECRET."
    default_code = "not_configured"


class ValidSignature:
    """``request.auth`` of a delivery whose signature matched."""


def signature_matches(secret: str, body: bytes, header: str) -> bool:
    """Any ``v1=<hex>`` in the header equals HMAC-SHA256(secret, body); compared in constant time.

    PagerDuty sends several during a secret rotation, comma-separated.
    """
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
    found = False
    for part in (header or "").split(","):
        scheme, _, value = part.strip().partition("=")
        if scheme == "v1" and value:
            # No early exit: every signature is compared, whether or not one matched.
            # Bytes, not str: compare_digest refuses non-ASCII text, and a header may carry anything.
            found |= hmac.compare_digest(expected, value.strip().lower().encode("utf-8", "replace"))
    return found


class PagerDutySignatureAuthentication(BaseAuthentication):
    def authenticate(self, request):
        secret = settings.PAGERDUTY_WEBHOOK_SECRET
        if not secret:
            raise WebhookNotConfigured()
        if not signature_matches(secret, request.body, request.headers.get(SIGNATURE_HEADER, "")):
            raise exceptions.AuthenticationFailed(f"Missing or wrong {SIGNATURE_HEADER}.")
        return AnonymousUser(), ValidSignature()

    def authenticate_header(self, request):
        return SIGNATURE_HEADER  # so a failure is a 401, not a 403


class HasValidSignature(BasePermission):
    message = f"Only signed PagerDuty webhooks are accepted ({SIGNATURE_HEADER})."

    def has_permission(self, request, view):
        return isinstance(request.auth, ValidSignature)


class PagerDutyWebhookView(APIView):
    authentication_classes = [PagerDutySignatureAuthentication]
    permission_classes = [HasValidSignature]

    @extend_schema(
        auth=[],
        request={"application/json": dict},
        responses={
            200: OpenApiResponse(description="Applied, or a repeated delivery (no change)."),
            202: OpenApiResponse(description="An event type Beacon does not take; ignored."),
            400: OpenApiResponse(description="Not a PagerDuty v3 event; the field is named."),
            401: OpenApiResponse(description="Missing or wrong signature; nothing written."),
            503: OpenApiResponse(description="PAGERDUTY_WEBHOOK_SECRET is not set."),
        },
        description="PagerDuty webhook v3 subscription endpoint, signed with PAGERDUTY_WEBHOOK_SECRET "
        "(X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of the body>). Incident events open, update, "
        "re-prioritise, resolve and reopen the Beacon incident of the same PagerDuty incident.",
    )
    def post(self, request):
        # The signature was checked over the raw body; only now is it decoded.
        try:
            body = json.loads(request.body)
        except (UnicodeDecodeError, ValueError) as exc:
            return Response({"body": [f"Not valid JSON: {exc}"]}, status=status.HTTP_400_BAD_REQUEST)
        try:
            event = services.webhook_event_parse(body)
        except services.PayloadError as exc:
            return Response({exc.field: [exc.message]}, status=status.HTTP_400_BAD_REQUEST)
        if event is None:
            event_type = body["event"]["event_type"]
            return Response({"detail": f"Event type {event_type!r} is not used by Beacon; ignored."}, status=202)
        for attempt in range(2):
            try:
                outcome = services.pagerduty_webhook_apply(event=event)
                break
            except IntegrityError:
                # A concurrent delivery created the same incident or service first; its row is there now.
                if attempt:
                    return Response(
                        {"detail": "A concurrent delivery changed this incident; nothing was written, send it again."},
                        status=status.HTTP_409_CONFLICT,
                    )
        return Response({"detail": outcome})
