"""Incidents opened by the tools that already see outages: Alertmanager / Grafana and thresholds.

Every incident write goes through ``incidents.services``; this module only decides what
to write. Both paths notify subscribers exactly like a typed incident (the emails are
queued on commit by ``incidents.notifications``); nothing here does outbound I/O.

Alertmanager (one incident per ``groupKey``):
- the first notification with a firing alert opens an incident (``source="alertmanager"``)
  for the services named by the alerts' ``service`` label; an unknown slug creates that
  service rather than losing the outage;
- severity follows the worst firing alert (``ALERTMANAGER_SEVERITY``); a change is an
  update that takes effect when the alert started (raised) or ended (lowered);
- when every alert of the group is resolved, the incident is resolved at the last endsAt;
- the same notification twice, and Alertmanager's re-notifications, change nothing;
- a group that fires again after it was resolved opens a *new* incident: each outage
  keeps its own record and downtime, and the earlier one's postmortem stays its own;
- an incident closed by hand while its alerts still fire stays closed until the group
  resolves and fires again (a person's decision is not overridden by a repeat).

Thresholds (per series switch ``opens_incidents``): ``incident_after_polls`` polls in a row
past the critical threshold open an incident for the series' service (``source="threshold"``)
or join the one already open; as many good polls in a row resolve it, or, for an incident
someone else opened, add a note. Polls with no data count neither way.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_slug
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from incidents import services as incident_services
from incidents.choices import Severity, Status
from incidents.models import Incident, IncidentUpdate, Service
from integrations import alertmanager as am

from ..choices import Breach, ThresholdDirection
from ..models import AlertGroup, MetricSeries, SeriesAlarm
from ..selectors import threshold_breach

log = logging.getLogger(__name__)

SOURCE_ALERTMANAGER = "alertmanager"
SOURCE_THRESHOLD = "threshold"
# Resolved alerts are remembered this long (to recognise a late duplicate), then forgotten.
FORGET_RESOLVED_AFTER_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class AlertOutcome:
    """What a notification did: ``opened``, ``updated``, ``resolved`` or ``unchanged``."""

    action: str
    incident: Incident | None
    duplicate: bool = False


# --- Alertmanager / Grafana -------------------------------------------------------


def alert_severity(labels: dict[str, str]) -> int:
    """The incident severity for an alert's ``severity`` label, by ``ALERTMANAGER_SEVERITY``."""
    mapping = settings.ALERTMANAGER_SEVERITY
    value = (labels.get("severity") or "").strip().lower()
    return int(mapping.get(value, mapping.get("*", Severity.LOW)))


def alertmanager_notify(*, notification: am.Notification, by, now: datetime | None = None) -> AlertOutcome:
    """Apply one webhook notification to its group's incident, all or nothing.

    Raises ``ValidationError`` naming the field (``service``) when the alerts cannot be
    attributed; then nothing is stored.
    """
    now = now or timezone.now()
    key_hash = hashlib.sha256(notification.group_key.encode()).hexdigest()
    locked = AlertGroup.objects.select_for_update(of=("self",)).select_related("incident")
    with transaction.atomic():
        group = locked.filter(key_hash=key_hash).first()
        if group is None:
            AlertGroup.objects.get_or_create(
                key_hash=key_hash,
                defaults={"group_key": notification.group_key, "receiver": notification.receiver[:200]},
            )
            group = locked.get(key_hash=key_hash)
        if group.last_digest == notification.digest:
            return AlertOutcome("unchanged", group.incident, duplicate=True)
        before = [a for a in group.alerts.values() if a["status"] == am.FIRING]
        alerts = _merge(group.alerts, notification, now=now)
        firing = {fp: a for fp, a in alerts.items() if a["status"] == am.FIRING}
        incident = group.incident
        action = "unchanged"
        if firing:
            slugs = _service_slugs(firing.values())
            if not before or incident is None:
                group.episodes += 1
                incident = _open(group, notification, firing, _services(slugs), by=by, now=now)
                action = "opened"
            elif incident.is_open:
                action, incident = _follow(
                    incident,
                    notification,
                    alerts,
                    firing,
                    new_slugs=[slug for slug in slugs if slug not in {a["service"] for a in before}],
                    was_worst=min(a["severity"] for a in before),
                    by=by,
                    now=now,
                )
        elif before and incident is not None and incident.is_open:
            ended = [_time(a["ends_at"]) for a in alerts.values() if a.get("ends_at")]
            incident = incident_services.incident_resolve(
                incident=incident,
                message="Every alert of the group is resolved (Alertmanager).",
                by=by,
                resolved_at=_resolution_time(incident, max(ended, default=now), now=now),
                now=now,
                source_ref=f"{SOURCE_ALERTMANAGER}:{notification.digest[:16]}",
            ).incident
            action = "resolved"
        group.alerts = _forget_old(alerts, now=now)
        group.incident = incident
        group.receiver = notification.receiver[:200]
        group.last_digest = notification.digest
        group.save()
    return AlertOutcome(action, incident)


def _merge(stored: dict, notification: am.Notification, *, now: datetime) -> dict:
    """The group's alerts after this notification, by fingerprint.

    A notification lists every alert of the group, so a firing alert missing from a
    complete one has ended. An alert older than the one already known (an earlier
    episode), or a "firing" for an alert already reported resolved with the same start
    (a late duplicate), does not move the state back.
    """
    merged = {fp: dict(state) for fp, state in stored.items()}
    seen = set()
    for alert in notification.alerts:
        seen.add(alert.fingerprint)
        previous = merged.get(alert.fingerprint)
        if previous:
            known_start = _time(previous["starts_at"])
            if alert.starts_at < known_start:
                continue
            if (
                alert.starts_at == known_start
                and alert.firing
                and previous["status"] == am.RESOLVED
                and not previous.get("absent")
            ):
                continue
        merged[alert.fingerprint] = _alert_state(alert, notification)
    if not notification.truncated_alerts:
        for fp, state in merged.items():
            if fp not in seen and state["status"] == am.FIRING:
                state.update(status=am.RESOLVED, ends_at=now.isoformat(), absent=True)
    return merged


def _alert_state(alert: am.Alert, notification: am.Notification) -> dict:
    labels = {**notification.common_labels, **alert.labels}
    annotations = {**notification.common_annotations, **alert.annotations}
    service = labels.get("service") or settings.ALERTMANAGER_DEFAULT_SERVICE
    return {
        "status": alert.status,
        "starts_at": alert.starts_at.isoformat(),
        "ends_at": alert.ends_at.isoformat() if alert.ends_at and not alert.firing else None,
        "severity": alert_severity(labels),
        "service": service,
        "name": labels.get("alertname", ""),
        "summary": annotations.get("summary", ""),
        "url": alert.generator_url,
    }


def _forget_old(alerts: dict, *, now: datetime) -> dict:
    return {
        fp: state
        for fp, state in alerts.items()
        if state["status"] == am.FIRING
        or (now - _time(state["ends_at"])).total_seconds() < FORGET_RESOLVED_AFTER_SECONDS
    }


def _service_slugs(firing) -> list[str]:
    """The service slugs the firing alerts name, checked; ``ValidationError`` on ``service``."""
    slugs: list[str] = []
    for state in firing:
        slug = (state["service"] or "").strip()
        if not slug:
            raise ValidationError(
                {
                    "service": f"Alert {state['name'] or '(unnamed)'} has no `service` label, and "
                    "ALERTMANAGER_DEFAULT_SERVICE is not set: label the alert with the service's slug."
                }
            )
        try:
            validate_slug(slug)
        except ValidationError:
            raise ValidationError(
                {"service": f"{slug!r} is not a service slug (letters, digits, hyphens and underscores)."}
            ) from None
        if len(slug) > Service._meta.get_field("slug").max_length:
            raise ValidationError({"service": f"{slug[:40]!r}… is longer than a service slug may be."})
        if slug not in slugs:
            slugs.append(slug)
    return slugs


def _services(slugs: list[str]) -> list[Service]:
    """The services named by ``slugs``; an unknown slug becomes a new service."""
    found = {s.slug: s for s in Service.objects.filter(slug__in=slugs)}
    for slug in slugs:
        if slug not in found:
            # Refusing would lose the outage; a service named by its slug can be renamed later.
            found[slug] = Service.objects.get_or_create(slug=slug, defaults={"name": slug})[0]
            log.warning("Alertmanager named unknown service %r: created it", slug)
    return [found[slug] for slug in slugs]


def _worst(firing: dict) -> dict:
    return min(firing.values(), key=lambda a: (a["severity"], a["starts_at"]))


def _open(group: AlertGroup, notification, firing: dict, services, *, by, now: datetime) -> Incident:
    worst = _worst(firing)
    started_at = min(min(_time(a["starts_at"]) for a in firing.values()), now)
    return incident_services.incident_open(
        title=_title(notification, worst),
        severity=worst["severity"],
        services=services,
        by=by,
        description=_describe(firing),
        external_url=_link(notification, worst),
        started_at=started_at,
        now=now,
        source=SOURCE_ALERTMANAGER,
        source_ref=f"{SOURCE_ALERTMANAGER}:{group.key_hash[:16]}:{group.episodes}",
    )


def _follow(
    incident: Incident,
    notification,
    alerts: dict,
    firing: dict,
    *,
    new_slugs: list[str],
    was_worst: int,
    by,
    now: datetime,
) -> tuple[str, Incident]:
    """An open incident tracks its group: the worst firing severity, and any newly named service.

    Severity moves only when the worst firing alert's severity moves (``was_worst`` is the
    one before this notification), so a severity someone set by hand stands until then.
    """
    action = "unchanged"
    ref = f"{SOURCE_ALERTMANAGER}:{notification.digest[:16]}"
    if new_slugs:
        current = list(incident.services.all())
        added = [s for s in _services(new_slugs) if s not in current]
        if added:
            incident = incident_services.incident_edit(
                incident=incident,
                by=by,
                services=[*current, *added],
                message="Alerts now also name " + ", ".join(s.slug for s in added) + ".",
                now=now,
            )
            action = "updated"
    worst = _worst(firing)
    if worst["severity"] != was_worst and worst["severity"] != incident.severity:
        if worst["severity"] < was_worst:
            when = _time(worst["starts_at"])
            reason = f"{worst['name'] or 'An alert'} is firing with severity {worst['severity']}."
        else:
            worse_ended = [
                _time(a["ends_at"])
                for a in alerts.values()
                if a["status"] == am.RESOLVED and a["severity"] < worst["severity"] and a.get("ends_at")
            ]
            when = max(worse_ended, default=now)
            reason = f"The most severe alerts ended; the worst still firing is severity {worst['severity']}."
        incident = incident_services.incident_update(
            incident=incident,
            message=reason,
            by=by,
            severity=worst["severity"],
            effective_at=min(max(when, _last_severity_change(incident)), now),
            now=now,
            source_ref=ref,
        ).incident
        action = "updated"
    return action, incident


def _title(notification, worst: dict) -> str:
    title = (
        notification.common_annotations.get("summary")
        or worst["summary"]
        or notification.common_labels.get("alertname")
        or worst["name"]
        or "Alert from Alertmanager"
    )
    return title.strip()[:200] or "Alert from Alertmanager"


def _describe(firing: dict) -> str:
    lines = ["Opened by Alertmanager. Firing:"]
    for state in sorted(firing.values(), key=lambda a: (a["severity"], a["name"])):
        line = f"- {state['name'] or 'alert'} (severity {state['severity']}, {state['service']})"
        if state["summary"]:
            line += f": {state['summary']}"
        lines.append(line)
    return "\n".join(lines)


def _link(notification, worst: dict) -> str:
    """The alert's generatorURL, else Alertmanager's externalURL: the first valid http(s) link."""
    validate = URLValidator(schemes=["http", "https"])
    max_length = Incident._meta.get_field("external_url").max_length
    for candidate in (worst["url"], notification.external_url):
        if candidate and len(candidate) <= max_length:
            try:
                validate(candidate)
            except ValidationError:
                continue
            return candidate
    return ""


def _time(value: str) -> datetime:
    return parse_datetime(value)


def _last_severity_change(incident: Incident) -> datetime:
    """When the severity in force was set: a later alert change takes effect no earlier.

    Back-dating further would put it before that change (say, one made by hand), and the
    replay of the log would then keep the older change in force.
    """
    last = IncidentUpdate.objects.filter(incident=incident, sets_severity__isnull=False).aggregate(
        last=Max("effective_at")
    )["last"]
    return max(incident.started_at, last or incident.started_at)


def _resolution_time(incident: Incident, wanted: datetime, *, now: datetime) -> datetime:
    """``wanted``, kept between the incident's last recorded change and now."""
    last = IncidentUpdate.objects.filter(incident=incident).aggregate(last=Max("effective_at"))["last"]
    floor = max(incident.started_at, last or incident.started_at)
    return min(max(wanted, floor), now)


# --- Thresholds ------------------------------------------------------------------


def threshold_evaluate(*, series: MetricSeries, points: list, now: datetime | None = None) -> str | None:
    """Count one poll of ``series`` against its critical threshold; open or resolve on the N-th.

    ``points`` are what the poll returned; the newest is the series' current value. A poll
    whose newest point was already counted (the source has nothing newer) counts neither
    way. Returns ``opened``, ``joined``, ``resolved``, ``recovered`` or None.
    """
    if not series.opens_incidents or series.critical_threshold is None or not points:
        return None
    now = now or timezone.now()
    ts, value = max(points, key=lambda point: point[0])
    bad = threshold_breach(series, value) == Breach.CRITICAL
    needed = max(series.incident_after_polls, 1)
    try:
        with transaction.atomic():
            alarm, _ = SeriesAlarm.objects.get_or_create(series=series)
            alarm = SeriesAlarm.objects.select_for_update().get(pk=alarm.pk)
            if alarm.last_ts is not None and ts <= alarm.last_ts:
                return None
            alarm.last_ts, alarm.last_value = ts, value
            action = None
            if bad:
                alarm.good_polls, alarm.good_since = 0, None
                alarm.bad_polls += 1
                alarm.bad_since = alarm.bad_since or ts
                if not alarm.in_alarm and alarm.bad_polls >= needed:
                    alarm.in_alarm = True
                    action = _threshold_open(alarm, series, value, now=now)
            else:
                alarm.bad_polls, alarm.bad_since = 0, None
                if alarm.in_alarm:
                    alarm.good_polls += 1
                    alarm.good_since = alarm.good_since or ts
                    if alarm.good_polls >= needed:
                        action = _threshold_recover(alarm, series, value, now=now)
                        alarm.in_alarm, alarm.good_polls, alarm.good_since = False, 0, None
            alarm.save()
            return action
    except ValidationError as exc:
        # The poll itself is stored; the alarm is left as it was and the next poll tries again.
        log.warning("Threshold incident for %s not written: %s", series.key, exc)
        return None


def _limit_text(series: MetricSeries, value: float) -> str:
    word = "below" if series.threshold_direction == ThresholdDirection.BELOW else "above"
    return f"{value:g}{series.unit}, {word} its critical threshold {series.critical_threshold:g}{series.unit}"


def _threshold_open(alarm: SeriesAlarm, series: MetricSeries, value: float, *, now: datetime) -> str | None:
    service = series.service
    if service is None:
        log.warning("%s is past its critical threshold but has no service: no incident opened", series.key)
        return None
    polls = series.incident_after_polls
    message = f"{series.label} is {_limit_text(series, value)}, for {polls} poll(s) in a row."
    joined = (
        Incident.objects.filter(services=service).exclude(status=Status.RESOLVED).order_by("started_at", "pk").first()
    )
    if joined is not None:
        incident_services.incident_update(
            incident=joined, message=message, by=None, now=now, notify=False, source_ref=f"threshold:{series.key}"
        )
        alarm.incident = joined
        return "joined"
    alarm.incident = incident_services.incident_open(
        title=f"{series.label} past its critical threshold"[:200],
        severity=settings.METRICS_THRESHOLD_SEVERITY,
        services=[service],
        by=None,
        description=message,
        started_at=min(alarm.bad_since or now, now),
        now=now,
        source=SOURCE_THRESHOLD,
        source_ref=f"threshold:{series.key}:{int((alarm.bad_since or now).timestamp())}",
    )
    return "opened"


def _threshold_recover(alarm: SeriesAlarm, series: MetricSeries, value: float, *, now: datetime) -> str | None:
    incident = alarm.incident
    if incident is None:
        return None
    incident.refresh_from_db()
    if not incident.is_open:
        return None
    polls = series.incident_after_polls
    message = f"{series.label} is back within its critical threshold ({value:g}{series.unit}) for {polls} poll(s)."
    others = SeriesAlarm.objects.filter(incident=incident, in_alarm=True).exclude(pk=alarm.pk).exists()
    if incident.source == SOURCE_THRESHOLD and not others:
        incident_services.incident_resolve(
            incident=incident,
            message=message,
            by=None,
            resolved_at=_resolution_time(incident, min(alarm.good_since or now, now), now=now),
            now=now,
            source_ref=f"threshold:{series.key}",
        )
        return "resolved"
    # Someone else's incident (or another series still past its threshold): a note, not a close.
    incident_services.incident_update(
        incident=incident, message=message, by=None, now=now, notify=False, source_ref=f"threshold:{series.key}"
    )
    return "recovered"
