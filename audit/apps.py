from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self):
        from . import signals  # noqa: F401 - configuration edited in /admin/ (no service exists for it)
