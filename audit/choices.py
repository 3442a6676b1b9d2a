from django.db import models
from django.utils.translation import gettext_lazy as _


class Action(models.TextChoices):
    SIGN_IN = "sign_in", _("Signed in")
    SIGN_IN_FAILED = "sign_in_failed", _("Sign-in failed")
    SIGN_OUT = "sign_out", _("Signed out")
    LOCKED_OUT = "locked_out", _("Locked out")
    ROLE_CHANGE = "role_change", _("Roles changed")
    CONFIG_CREATE = "config_create", _("Configuration added")
    CONFIG_CHANGE = "config_change", _("Configuration changed")
    CONFIG_DELETE = "config_delete", _("Configuration deleted")
    INCIDENT_CORRECTION = "incident_correction", _("Incident corrected")
    REPORT_GENERATE = "report_generate", _("Report generated")
    REPORT_DOWNLOAD = "report_download", _("Report downloaded")
    REPORT_EMAIL = "report_email", _("Report emailed")
    IMPORT = "import", _("Import")
    TOKEN_CREATE = "token_create", _("API token created")
    TOKEN_REVOKE = "token_revoke", _("API token revoked")
    TWO_FACTOR = "two_factor", _("Two-factor set up")
