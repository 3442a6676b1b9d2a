"""The Prometheus Alertmanager webhook payload (version 4), as Grafana alerting sends it too (as "1").

Only parsing lives here: ``notification_parse(body)`` turns the JSON body into plain
dataclasses or raises ``PayloadError`` naming the offending field
(``alerts[2].startsAt``). What Beacon does with a notification is in
``metrics.services.alerting``.

Reference: https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

FIRING = "firing"
RESOLVED = "resolved"
STATUSES = (FIRING, RESOLVED)
# Alertmanager's webhook payload is version "4"; Grafana alerting sends the same shape as "1".
VERSIONS = ("4", "1")

# Go's zero time: the endsAt of an alert that has not ended.
_ZERO_YEAR = 1
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|z|[+-]\d{2}:\d{2})$",
)


class PayloadError(ValueError):
    """The body is not an Alertmanager webhook payload; ``field`` names where it goes wrong."""

    def __init__(self, field_name: str, message: str):
        self.field = field_name
        self.message = message
        super().__init__(f"{field_name}: {message}")


@dataclass(frozen=True)
class Alert:
    fingerprint: str
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None  # None: not ended (Go's zero time)
    generator_url: str

    @property
    def firing(self) -> bool:
        return self.status == FIRING


@dataclass(frozen=True)
class Notification:
    version: str
    group_key: str
    status: str
    receiver: str
    group_labels: dict[str, str]
    common_labels: dict[str, str]
    common_annotations: dict[str, str]
    external_url: str
    truncated_alerts: int
    alerts: list[Alert] = field(default_factory=list)
    digest: str = ""  # SHA-256 of the canonical body: equal for a repeated delivery


def notification_parse(body: bytes | str | dict) -> Notification:
    """Parse and check a webhook body; raises ``PayloadError`` naming the first bad field."""
    if isinstance(body, dict):
        data = body
    else:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PayloadError("body", f"Malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PayloadError("body", "Expected a JSON object (the Alertmanager webhook payload).")
    version = data.get("version", "4")
    if not isinstance(version, str):
        raise PayloadError("version", 'Must be a string such as "4".')
    if version not in VERSIONS:
        raise PayloadError(
            "version", f"Alertmanager payload version 4 (or Grafana's 1) is understood, not {version!r}."
        )
    group_key = _string(data, "groupKey", required=True)
    if not group_key.strip():
        raise PayloadError("groupKey", "Must not be empty.")
    status = _string(data, "status", required=True)
    if status not in STATUSES:
        raise PayloadError("status", f"Must be one of {', '.join(STATUSES)}, not {status!r}.")
    raw_alerts = data.get("alerts")
    if not isinstance(raw_alerts, list) or not raw_alerts:
        raise PayloadError("alerts", "Must be a non-empty list of alerts.")
    truncated = data.get("truncatedAlerts", 0)
    if isinstance(truncated, bool) or not isinstance(truncated, int) or truncated < 0:
        raise PayloadError("truncatedAlerts", "Must be a whole number ≥ 0.")
    alerts = [_alert(raw, f"alerts[{i}]") for i, raw in enumerate(raw_alerts)]
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return Notification(
        version=version,
        group_key=group_key,
        status=status,
        receiver=_string(data, "receiver"),
        group_labels=_labels(data, "groupLabels"),
        common_labels=_labels(data, "commonLabels"),
        common_annotations=_labels(data, "commonAnnotations"),
        external_url=_string(data, "externalURL"),
        truncated_alerts=truncated,
        alerts=alerts,
        digest=hashlib.sha256(canonical.encode()).hexdigest(),
    )


def _alert(raw, where: str) -> Alert:
    if not isinstance(raw, dict):
        raise PayloadError(where, "Each alert must be a JSON object.")
    status = _string(raw, "status", required=True, where=where)
    if status not in STATUSES:
        raise PayloadError(f"{where}.status", f"Must be one of {', '.join(STATUSES)}, not {status!r}.")
    labels = _labels(raw, "labels", where=where)
    starts_at = parse_time(raw.get("startsAt"), f"{where}.startsAt", required=True)
    ends_at = parse_time(raw.get("endsAt"), f"{where}.endsAt")
    if status == RESOLVED and ends_at is None:
        raise PayloadError(f"{where}.endsAt", "A resolved alert needs the time it ended.")
    fingerprint = _string(raw, "fingerprint", where=where) or labels_fingerprint(labels)
    return Alert(
        fingerprint=fingerprint,
        status=status,
        labels=labels,
        annotations=_labels(raw, "annotations", where=where),
        starts_at=starts_at,
        ends_at=ends_at,
        generator_url=_string(raw, "generatorURL", where=where),
    )


def labels_fingerprint(labels: dict[str, str]) -> str:
    """A stable id for an alert that came without Alertmanager's ``fingerprint``."""
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


def parse_time(value, where: str, *, required: bool = False) -> datetime | None:
    """RFC 3339 as Go writes it (nanoseconds, ``Z``); Go's zero time and empty mean "none"."""
    if value is None or value == "":
        if required:
            raise PayloadError(where, "This time is required (RFC 3339).")
        return None
    if not isinstance(value, str):
        raise PayloadError(where, "Must be an RFC 3339 time string.")
    match = _RFC3339.match(value.strip())
    if not match:
        raise PayloadError(where, f"{value!r} is not an RFC 3339 time (e.g. 2025-03-10T12:00:00Z).")
    day, clock, fraction, offset = match.groups()
    micro = (fraction or "0")[:6].ljust(6, "0")
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        moment = datetime.fromisoformat(f"{day}T{clock}.{micro}{offset}")
    except ValueError:
        raise PayloadError(where, f"{value!r} is not a valid date and time.") from None
    if moment.year <= _ZERO_YEAR:
        if required:
            raise PayloadError(where, "This time is required (RFC 3339).")
        return None
    return moment.astimezone(UTC)


def _string(data: dict, key: str, *, required: bool = False, where: str = "") -> str:
    name = f"{where}.{key}" if where else key
    value = data.get(key)
    if value is None:
        if required:
            raise PayloadError(name, "This field is required.")
        return ""
    if not isinstance(value, str):
        raise PayloadError(name, "Must be a string.")
    return value


def _labels(data: dict, key: str, *, where: str = "") -> dict[str, str]:
    name = f"{where}.{key}" if where else key
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise PayloadError(name, "Must be an object of string values.")
    return value
