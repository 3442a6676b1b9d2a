from django.apps import AppConfig


class IntakeConfig(AppConfig):
    """Incidents from the tools that already see them (PagerDuty import and webhooks)."""

    name = "intake"
