"""The request being served, for entries written far from the view (configuration saved
by the admin, signals). Its user is read when the entry is written, so a user that DRF
authenticated by token during the request is the one recorded."""

from contextvars import ContextVar

current_request: ContextVar = ContextVar("beacon_audit_request", default=None)
