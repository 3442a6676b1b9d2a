"""Who is acting in the current request, for entries written far from the view
(configuration saved by the admin, sign-in signals)."""

from contextvars import ContextVar

current_user: ContextVar = ContextVar("beacon_audit_user", default=None)
current_ip: ContextVar = ContextVar("beacon_audit_ip", default=None)
