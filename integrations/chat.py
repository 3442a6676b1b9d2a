"""Chat channels (Slack, Microsoft Teams, Google Chat, generic JSON webhooks, …) via Apprise.

Apprise is maintained and speaks ~100 services, so Beacon holds no hand-written webhook
clients. A channel is an Apprise URL, e.g. ``slack://T000/B000/XXXX``,
``msteams://…``, ``gchat://…`` or ``json://host:port/path`` for a generic webhook.
"""

import apprise

from . import webhooks


class ChatError(Exception):
    pass


def chat_send(urls: list[str], *, title: str, body: str, secrets: dict[str, str] | None = None) -> None:
    """Post one message to every URL; raise ``ChatError`` naming those that failed.

    An http(s) URL is an outbound webhook: it gets ``{"title", "body"}`` as JSON, signed with
    ``secrets[url]`` when given."""
    failed = []
    for url in urls:
        if is_webhook(url):
            try:
                webhooks.webhook_post(url, secret=(secrets or {}).get(url, ""), payload={"title": title, "body": body})
            except webhooks.WebhookError as exc:
                failed.append(str(exc))
            continue
        client = apprise.Apprise()
        if not client.add(url):
            failed.append(f"{_redact(url)} (not a valid Apprise URL)")
            continue
        if not client.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT):
            failed.append(_redact(url))
    if failed:
        raise ChatError("Chat delivery failed for: " + ", ".join(failed))


def channel_send(url: str, *, title: str, body: str, secret: str = "", payload: dict | None = None, event: str = "",
                 delivery_id: str = "") -> None:  # fmt: skip
    """Post one event to one channel: an http(s) URL is an outbound webhook (signed JSON of
    ``payload``), anything else an Apprise URL (``title`` and ``body``). Raises ``ChatError``."""
    if is_webhook(url):
        try:
            webhooks.webhook_post(
                url, secret=secret, payload=payload or {"title": title, "body": body}, delivery_id=delivery_id,
                event=event,
            )  # fmt: skip
        except webhooks.WebhookError as exc:
            raise ChatError(str(exc)) from exc
        return
    chat_send([url], title=title, body=body)  # an Apprise URL


def is_webhook(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


def chat_url_is_valid(url: str) -> bool:
    return is_webhook(url) or apprise.Apprise().add(url)


def _redact(url: str) -> str:
    """Webhook URLs carry secrets; keep only the scheme and host in logs and errors."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/')[0]}/…"
