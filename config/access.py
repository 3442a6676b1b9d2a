"""The declared access table: every URL name → the rule (``config.roles.RULES``) guarding it.

``tests/accounts/test_permission_matrix.py`` walks Django's URL resolver and checks every
pattern against this table for every persona, reading and writing; a URL missing here
fails that test, and is refused at run time (``AccessMiddleware``).
"""

from __future__ import annotations

URL_RULES: dict[str, str] = {
    # Open to everyone.
    "healthz": "public",
    "dashboard:status": "public",  # switched off by STATUS_PAGE_ENABLED (the view 404s)
    "dashboard:status-feed": "public",  # the same switch
    "subscriptions:unsubscribe": "public",  # the signed token in the link is the authority
    "subscriptions:mine": "signed_in",
    "login": "public",
    "logout": "public",
    "password_reset": "public",
    "password_reset_done": "public",
    "password_reset_confirm": "public",
    "password_reset_complete": "public",
    "oidc_authentication_init": "public",
    "oidc_authentication_callback": "public",
    "accounts:two-factor": "signed_in",
    "password_change": "signed_in",
    "password_change_done": "signed_in",
    "accounts:tokens": "signed_in",
    "accounts:token-revoke": "signed_in",
    "api-schema": "signed_in",
    "api-docs": "signed_in",
    # Incidents.
    "dashboard:home": "read_incidents",
    "incidents:list": "read_incidents",
    "incidents:detail": "read_incidents",
    "incidents:new": "file_incidents",
    "incidents:update": "file_incidents",
    "incidents:close": "file_incidents",
    "incidents:reopen": "file_incidents",
    "incidents:edit": "file_incidents",
    "incidents:correct": "correct_records",
    "incidents:postmortem": "postmortems",
    "api-services": "read_incidents",
    "api-timeline": "read_incidents",
    "incident-list": "read_incidents",
    "incident-detail": "read_incidents",
    "incident-close": "read_incidents",
    "incident-reopen": "read_incidents",
    "incident-updates": "read_incidents",
    # Reports.
    "reports:list": "read_reports",
    "reports:detail": "read_reports",
    "reports:pdf": "read_reports",
    "reports:csv": "read_reports",
    "reports:version-pdf": "read_reports",
    "reports:generate": "read_reports",
    "reports:email": "read_reports",
    "reports:approve": "read_reports",
    "reports:job": "read_reports",
    "api-uptime": "read_reports",
    # Operations: metrics, batches, automation.
    "metrics:overview": "operations",
    "api-metric-series": "operations",
    "api-metric-samples": "operations",
    "batches:monitoring": "operations",
    "batches:client": "operations",
    "api-batch-runs": "batch_runs",
    "automation:dashboard": "operations",
    "automation:export": "operations",
    "api-automation-executions": "operations",
    "api-automation-roi": "operations",
    # Planned maintenance.
    "maintenance:list": "maintenance",
    "maintenance:detail": "maintenance",
    "maintenance:new": "maintenance_forms",
    "maintenance:edit": "maintenance_forms",
    "maintenance:cancel": "maintenance_forms",
    "maintenance-list": "maintenance",
    "maintenance-detail": "maintenance",
    # Inbound integrations.
    "api-integrations-alertmanager": "alert_webhook",
    "api-pagerduty-webhook": "signature",  # HMAC over the body, checked by the view; no user
    # Staff.
    "audit:list": "staff",
    "audit:export": "staff",
    # Django admin: every URL of the admin site (its login page redirects to ours).
    "admin-login": "public",
    "admin:*": "staff",
}

# Declared before the URL exists (built on another branch); the matrix test tolerates only these.
DECLARED_AHEAD: set[str] = set()


def rule_for(match) -> str | None:
    """The rule name for a resolved URL (``ResolverMatch``), or None when none is declared."""
    if match is None:
        return None
    if match.view_name in URL_RULES:
        return URL_RULES[match.view_name]
    if match.namespaces:
        return URL_RULES.get(f"{match.namespaces[0]}:*")
    return None
