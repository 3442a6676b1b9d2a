"""Outbound webhooks: Beacon's events as signed JSON for the receiving tool.

The body is JSON; ``X-Beacon-Timestamp`` is the Unix time of sending and
``X-Beacon-Signature`` is ``v1=<hex>``, the HMAC-SHA256 with the channel's secret of
``<timestamp>.<raw body>``. A receiver recomputes it over the raw body, compares in
constant time, and refuses timestamps more than a few minutes old (replays).
"""

import hashlib
import hmac
import json
import time

import requests

TIMEOUT_SECONDS = 10


class WebhookError(Exception):
    pass


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def webhook_post(url: str, *, secret: str, payload: dict, delivery_id: str = "", event: str = "") -> None:
    """POST ``payload`` to ``url``, signed when ``secret`` is set; raise ``WebhookError`` unless 2xx."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(time.time())
    headers = {"Content-Type": "application/json", "User-Agent": "Beacon-Webhook/1"}
    if secret:
        headers["X-Beacon-Timestamp"] = str(timestamp)
        headers["X-Beacon-Signature"] = signature(secret, timestamp, body)
    if delivery_id:
        headers["X-Beacon-Delivery"] = delivery_id
    if event:
        headers["X-Beacon-Event"] = event
    try:
        response = requests.post(url, data=body, headers=headers, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        raise WebhookError(f"{_host(url)}: {exc.__class__.__name__}") from exc
    if not 200 <= response.status_code < 300:
        raise WebhookError(f"{_host(url)} answered HTTP {response.status_code}")


def _host(url: str) -> str:
    """Webhook URLs may carry secrets in their path; errors name only the scheme and host."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/')[0]}/…"
