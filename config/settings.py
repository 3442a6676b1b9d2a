"""Beacon settings: one module, configured by environment variables.

Defaults run with nothing installed but Python: SQLite under ``var/`` and Celery on an
embedded (filesystem) broker. Set ``DATABASE_URL`` and ``REDIS_URL`` for the production
stack. Every helper below fails loudly on a malformed value rather than guessing.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("BEACON_VAR_DIR", BASE_DIR / "var"))


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
# True when no SECRET_KEY was given outside DEBUG: the web app, the worker, beat and
# runserver then refuse to start (config/startup.py). Commands that only read the project
# (check, makemigrations, makemessages, URL and contract checks) still run, on a random key
# that lives and dies with the process, so nothing signed with it can be forged or reused.
SECRET_KEY_MISSING = False
SECRET_KEY_MESSAGE = (
    "Set SECRET_KEY (e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'), or DEBUG=true for development."
)
if not SECRET_KEY:
    if DEBUG or env_bool("BEACON_ALLOW_DEV_SECRET_KEY", False):
        # Development only (DEBUG): a fixed key so sessions survive restarts of `make run`.
        SECRET_KEY = "dev-only-insecure-key-set-SECRET_KEY-in-production"
    else:
        import secrets

        SECRET_KEY = secrets.token_urlsafe(50)
        SECRET_KEY_MISSING = True

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
SITE_NAME = env_str("SITE_NAME", "Beacon")

INSTALLED_APPS = [
    "config.apps.BeaconAdminConfig",  # django.contrib.admin with Beacon's access rule
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "mozilla_django_oidc",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc served from our static files (intranets)
    "django_filters",
    "crispy_forms",
    "crispy_bootstrap5",
    "incidents",
    "dashboard",
    "reports",
    "metrics",
    "batches",
    "automation",
    "maintenance",
    "intake",
    "accounts",
    "audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Anonymous /status/ from the cache, before sessions and auth (dashboard.status_cache).
    "dashboard.status_cache.StatusPageCacheMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Language from the user's choice (cookie), else the browser's Accept-Language.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.TrustedProxyUserMiddleware",  # a no-op unless REMOTE_USER_HEADER is set
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.TwoFactorMiddleware",
    "audit.middleware.AuditActorMiddleware",
    "config.roles.AccessMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "config.middleware.RefuseUnstorableTextMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.roles.roles_context",
                "config.context_processors.ui",
                "incidents.context_processors.delivery_banner",
            ],
            "builtins": ["config.template_filters"],
        },
    },
]

# Database: SQLite under var/ unless DATABASE_URL is set.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'beacon.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Worker, beat and web share the file: wait for locks instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30
    # Take the write lock when a transaction starts, so a read-then-write transaction
    # waits for a concurrent writer instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
    # Tests use a file too, so a separate Celery worker process can see committed rows.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-beacon.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Sign-in backends, identity providers, role mapping, throttling, two-factor, tokens:
# see the "Sign-in (accounts app)" section at the end.
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-gb"
# The organisation works in English and French; the browser picks, the user may switch.
LANGUAGES = [("en-gb", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# One date and number format per language (config/formats/<lang>/formats.py), used by
# config.formatting and its template filters.
FORMAT_MODULE_PATH = ["config.formats"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
# Emails to subscribers, and the monthly report (PDF and email), are written in one language.
EMAIL_LANGUAGE = env_str("EMAIL_LANGUAGE", LANGUAGE_CODE)
REPORT_LANGUAGE = env_str("REPORT_LANGUAGE", LANGUAGE_CODE)
if EMAIL_LANGUAGE not in dict(LANGUAGES) or REPORT_LANGUAGE not in dict(LANGUAGES):
    raise ImproperlyConfigured(f"EMAIL_LANGUAGE and REPORT_LANGUAGE must be one of {[c for c, _ in LANGUAGES]}")
LANGUAGE_COOKIE_SAMESITE = "Lax"
USE_I18N = True
USE_TZ = True
# Times are stored in UTC; TIME_ZONE is how they are shown.
TIME_ZONE = env_str("TIME_ZONE", "UTC")
# Month boundaries of the availability report.
REPORT_TIME_ZONE = env_str("REPORT_TIME_ZONE", "UTC")

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if env_bool("BEACON_PRODUCTION", False)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Serve app and vendored static files straight from their folders when not collected.
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- Security (production) -------------------------------------------------------
if env_bool("BEACON_PRODUCTION", False):
    # Behind TLS (the default) cookies are Secure and HSTS is on. A LAN install served
    # over plain HTTP sets SECURE_COOKIES=false and SECURE_SSL_REDIRECT=false (the
    # docker-compose.yml defaults), or the browser drops the Secure CSRF cookie and no
    # one can sign in. HSTS preload binds the whole domain for months: only when asked.
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if SESSION_COOKIE_SECURE else 0)
    # Covers only names under Beacon's own host, never its parent domain.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        # Preloading is a request to browser vendors for a public domain, not a default for
        # an intranet host: `check --deploy` need not ask for it.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (config.middleware): scripts only from our own static files,
# nothing from another host. Styles allow inline attributes (Bootstrap utilities, Chart.js).
CSP_HEADER = env_str(
    "CSP_HEADER",
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
)

# Cache: Redis when configured (shared by every web process), else this process's memory.
# `/status/` keeps its rendered page there (dashboard.status_cache), pages their recent
# renderings (config.snapshots) and the report its previews.
if env_str("REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env_str("REDIS_URL"),
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "beacon"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- REST API ----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "config.authentication.BearerOrTokenAuthentication",
    ],
    # The declared rule of each URL (config.access), decided by config.roles.can.
    "DEFAULT_PERMISSION_CLASSES": ["config.roles.UrlRulePermission"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DATETIME_FORMAT": "iso-8601",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # NaN, huge numbers, NUL, lone surrogates, deep nesting and oversize bodies are a 400/413.
    "DEFAULT_PARSER_CLASSES": [
        "config.api.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Beacon API",
    "DESCRIPTION": "Incidents, availability, metrics, batch runs and automation ROI.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Every API call needs a login, the schema and its docs too.
    "SERVE_PERMISSIONS": ["config.roles.UrlRulePermission"],
    # Swagger UI and Redoc from drf-spectacular-sidecar's static files, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "IncidentStatusEnum": "incidents.choices.Status",
        "ServiceStatusEnum": "incidents.choices.ServiceStatus",
        "MaintenanceStatusEnum": "maintenance.choices.MaintenanceStatus",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.api.schema_error_responses",
    ],
}
# Bulk ingest endpoints (metrics, batch runs, executions) take large JSON lists.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 32 * 1024 * 1024)
# Largest JSON body any API call accepts; a larger one is answered 413 in JSON.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 32 * 1024 * 1024)

# --- Email ------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = env_int("EMAIL_PORT", 1025)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Beacon <beacon@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Notification delivery: how long a worker may hold a delivery before another may retry
# it (a worker killed mid-send leaves its claim behind); how long a failing delivery keeps
# being retried (a time, not a count: an outage of hours loses nothing) and its backoff,
# doubling from NOTIFY_RETRY_BACKOFF_BASE up to NOTIFY_RETRY_BACKOFF_MAX seconds; and how
# many emails one task sends over one SMTP connection (bigger updates fan out in batches,
# so several worker processes send at once).
NOTIFY_LEASE_SECONDS = env_int("NOTIFY_LEASE_SECONDS", 120)
NOTIFY_RETRY_FOR_SECONDS = env_int("NOTIFY_RETRY_FOR_SECONDS", 24 * 3600)
NOTIFY_RETRY_BACKOFF_BASE = env_float("NOTIFY_RETRY_BACKOFF_BASE", 2.0)
NOTIFY_RETRY_BACKOFF_MAX = env_int("NOTIFY_RETRY_BACKOFF_MAX", 300)
# Batch alerts (batches/tasks.py) still retry a fixed number of times.
NOTIFY_MAX_RETRIES = env_int("NOTIFY_MAX_RETRIES", 8)
NOTIFY_BATCH_SIZE = env_int("NOTIFY_BATCH_SIZE", 1000)
NOTIFY_SMTP_CONNECTIONS = env_int("NOTIFY_SMTP_CONNECTIONS", 4)  # per batch, in parallel

# --- Celery -----------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
BROKER_DIR = VAR_DIR / "broker"
# A task taken by a worker that dies unacknowledged (acks late) goes back to the queue after
# the broker's visibility timeout: Redis's default is an hour; Beacon's is the notification
# lease plus a minute, so a lost send is redelivered about as soon as its claims run out.
# The longest retry backoff stays below it, so waiting retries are not redelivered twice.
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", max(NOTIFY_LEASE_SECONDS + 60, 360))
if NOTIFY_RETRY_BACKOFF_MAX >= CELERY_VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured("NOTIFY_RETRY_BACKOFF_MAX must be shorter than CELERY_VISIBILITY_TIMEOUT")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
else:
    # Embedded broker: plain files under var/, so `make run` needs no Redis and
    # scheduled tasks really run in the demo.
    CELERY_BROKER_URL = "filesystem://"
    # kombu's filesystem transport, writing each message whole (config.broker).
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        # An idle worker looks for new files this often (kombu's default is 1 s, which made
        # every hand-over between tasks, e.g. the batches of a big notification, wait).
        "polling_interval": env_float("CELERY_POLLING_INTERVAL", 0.2),
    }
    for folder in ("queue", "control"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "beacon")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "notifications-sweep": {
        "task": "incidents.tasks.sweep_deliveries",
        "schedule": env_int("NOTIFY_SWEEP_SECONDS", 60),
    },
}

# --- Beacon ------------------------------------------------------------------------
# Each app's settings have their own section below; keep them there.
# `/status/` is public unless switched off.
STATUS_PAGE_ENABLED = env_bool("STATUS_PAGE_ENABLED", True)
# Sev 1-2 incidents still without a postmortem this many days after resolution are flagged.
POSTMORTEM_DUE_DAYS = env_int("POSTMORTEM_DUE_DAYS", 5)
LEADERSHIP_EMAILS = env_list("LEADERSHIP_EMAILS")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Dashboard, status page and postmortems (dashboard app) -------------------------
# The timeline (page and /api/v1/timeline/) spans at most this many days and returns at
# most this many incidents (newest first; the answer says when it was capped).
TIMELINE_MAX_DAYS = env_int("TIMELINE_MAX_DAYS", 400)
TIMELINE_MAX_ROWS = env_int("TIMELINE_MAX_ROWS", 10000)
# Seconds between live updates of /status/ in the browser (0 = never).
STATUS_PAGE_REFRESH_SECONDS = env_int("STATUS_PAGE_REFRESH_SECONDS", 60)
# Seconds a rendered /status/ is reused (any change to incidents, services or maintenance
# invalidates it at once); `/` and `/batches/` poll for fresh data this often.
STATUS_PAGE_CACHE_SECONDS = env_int("STATUS_PAGE_CACHE_SECONDS", 30)
# While changes keep coming (an outage with updates every few seconds), /status/ is
# rendered at most once this often and the latest copy is served in between (0 = every change).
STATUS_PAGE_RENDER_INTERVAL_SECONDS = env_int("STATUS_PAGE_RENDER_INTERVAL_SECONDS", 2)
# A web process reuses a timeline (dashboard chart, timeline API) it computed this recently
# for the same filters: the chart may be that many seconds old (0 = always afresh).
TIMELINE_REUSE_SECONDS = env_int("TIMELINE_REUSE_SECONDS", 2)
LIVE_REFRESH_SECONDS = env_int("LIVE_REFRESH_SECONDS", 30)
# (end dashboard)

# --- Reports (reports app) ----------------------------------------------------------
# Last month's report is generated and emailed to LEADERSHIP_EMAILS on the 1st, at this
# local time in REPORT_TIME_ZONE. Beat checks hourly at REPORT_SCHEDULE_MINUTE (UTC minute)
# and the task decides in the report's time zone, so any zone works and a missed hour catches up.
REPORT_SCHEDULE_HOUR = env_int("REPORT_SCHEDULE_HOUR", 6)
REPORT_SCHEDULE_MINUTE = env_int("REPORT_SCHEDULE_MINUTE", 5)
if not (0 <= REPORT_SCHEDULE_HOUR <= 23 and 0 <= REPORT_SCHEDULE_MINUTE <= 59):
    raise ImproperlyConfigured("REPORT_SCHEDULE_HOUR must be 0-23 and REPORT_SCHEDULE_MINUTE 0-59")
try:
    from zoneinfo import ZoneInfo as _ZoneInfo

    _ZoneInfo(REPORT_TIME_ZONE)
except (ValueError, KeyError, OSError):
    raise ImproperlyConfigured(f"REPORT_TIME_ZONE {REPORT_TIME_ZONE!r} is not a known time zone") from None
if env_bool("REPORT_SCHEDULE_ENABLED", True):
    from celery.schedules import crontab as _crontab

    CELERY_BEAT_SCHEDULE["reports-monthly"] = {
        "task": "reports.tasks.monthly_report_due",
        "schedule": _crontab(minute=REPORT_SCHEDULE_MINUTE),
    }
# Review before sending: the scheduled report is stored as a draft, REPORT_REVIEWERS (default:
# leadership members with an email address) are told, and it is emailed once one approves it.
REPORT_REVIEW_REQUIRED = env_bool("REPORT_REVIEW_REQUIRED", False)
REPORT_REVIEWERS = env_list("REPORT_REVIEWERS")
# On the 1st of January, April, July and October the schedule also sends last quarter.
REPORT_QUARTERLY = env_bool("REPORT_QUARTERLY", False)
# Paper of the PDF: A4 (default) or letter.
REPORT_PAPER_SIZE = env_str("REPORT_PAPER_SIZE", "A4").lower()
if REPORT_PAPER_SIZE not in ("a4", "letter"):
    raise ImproperlyConfigured("REPORT_PAPER_SIZE must be A4 or letter")
# WeasyPrint narrates every layout step at INFO; keep its warnings only.
LOGGING["loggers"].update({"weasyprint": {"level": "WARNING"}, "fontTools": {"level": "WARNING"}})
# (end reports)

# --- Metrics (metrics app) ----------------------------------------------------------
# Beat polls every enabled series this often (one Celery task per series).
METRICS_POLL_INTERVAL_SECONDS = env_int("METRICS_POLL_INTERVAL_SECONDS", 300)
# Query window per attempt when a source has no data yet: widened step by step, at most 5 minutes.
METRICS_WINDOW_STEPS = [int(v) for v in env_list("METRICS_WINDOW_STEPS", "60,120,180,240,300")]
# Each poll also re-reads this much before the previous poll's end (late data; upserts make it harmless),
# but never more than METRICS_MAX_CATCHUP_SECONDS back.
METRICS_POLL_OVERLAP_SECONDS = env_int("METRICS_POLL_OVERLAP_SECONDS", 300)
METRICS_MAX_CATCHUP_SECONDS = env_int("METRICS_MAX_CATCHUP_SECONDS", 3600)
# Celery exponential backoff (with full jitter) between attempts: base and cap, seconds.
METRICS_RETRY_BACKOFF_SECONDS = env_int("METRICS_RETRY_BACKOFF_SECONDS", 5)
METRICS_RETRY_BACKOFF_MAX_SECONDS = env_int("METRICS_RETRY_BACKOFF_MAX_SECONDS", 120)
METRICS_HTTP_TIMEOUT_SECONDS = env_int("METRICS_HTTP_TIMEOUT_SECONDS", 10)
# STS endpoint for sources with a role_arn (empty: AWS's default for the region). Separate
# from a source's CloudWatch endpoint_url, which does not answer AssumeRole.
AWS_STS_ENDPOINT_URL = env_str("AWS_STS_ENDPOINT_URL")
# Hourly digest: minute of the hour, optional email recipients; values older than
# METRICS_STALE_MINUTES are reported as "no data since …", never as a current number.
METRICS_DIGEST_MINUTE = env_int("METRICS_DIGEST_MINUTE", 57)
METRICS_DIGEST_EMAILS = env_list("METRICS_DIGEST_EMAILS")
METRICS_STALE_MINUTES = env_int("METRICS_STALE_MINUTES", 60)
# Raw samples older than this are rolled up to hourly values and deleted (daily job).
METRICS_RETENTION_DAYS = env_int("METRICS_RETENTION_DAYS", 400)
# Largest list one POST /api/v1/metrics/samples/ may carry.
METRICS_INGEST_MAX_ROWS = env_int("METRICS_INGEST_MAX_ROWS", 100_000)
METRICS_INGEST_MAX_BYTES = env_int("METRICS_INGEST_MAX_BYTES", 32 * 1024 * 1024)


# --- Incidents from alerts (metrics app: Alertmanager / Grafana webhook, thresholds) -
# Alert label `severity` → incident severity (1 critical … 4 low), as "label=N" pairs;
# "*" is every other value (and alerts without the label).
def _alert_severities(name: str, default: str) -> dict[str, int]:
    mapping: dict[str, int] = {}
    for item in env_list(name, default):
        label, sep, number = item.partition("=")
        if not sep or not label.strip() or number.strip() not in ("1", "2", "3", "4"):
            raise ImproperlyConfigured(f"{name} must be label=1..4 pairs separated by commas, got {item!r}")
        mapping[label.strip().lower()] = int(number)
    mapping.setdefault("*", 4)
    return mapping


ALERTMANAGER_SEVERITY = _alert_severities("ALERTMANAGER_SEVERITY", "critical=1,major=2,error=2,warning=3,*=4")
# Service (slug) for alerts without a `service` label; empty = such a notification is refused (400).
ALERTMANAGER_DEFAULT_SERVICE = env_str("ALERTMANAGER_DEFAULT_SERVICE")
# Severity of incidents opened by a series past its critical threshold (METRICS series switch).
METRICS_THRESHOLD_SEVERITY = env_int("METRICS_THRESHOLD_SEVERITY", 2)
if METRICS_THRESHOLD_SEVERITY not in (1, 2, 3, 4):
    raise ImproperlyConfigured("METRICS_THRESHOLD_SEVERITY must be 1, 2, 3 or 4")


def _metrics_beat():
    from celery.schedules import crontab

    CELERY_BEAT_SCHEDULE["metrics-poll"] = {
        "task": "metrics.tasks.poll_all_series",
        "schedule": METRICS_POLL_INTERVAL_SECONDS,
    }
    CELERY_BEAT_SCHEDULE["metrics-digest"] = {
        "task": "metrics.tasks.send_hourly_digest",
        "schedule": crontab(minute=METRICS_DIGEST_MINUTE),
    }
    CELERY_BEAT_SCHEDULE["metrics-retention"] = {
        "task": "metrics.tasks.apply_retention",
        "schedule": crontab(hour=env_int("METRICS_RETENTION_HOUR", 3), minute=17),
    }


_metrics_beat()
# (end metrics)

# --- Batch monitoring (batches app) --------------------------------------------------
# Latest run vs the mean of the previous BATCH_BASELINE_RUNS succeeded runs: "long" above
# LONG_FACTOR x mean, "short" (a batch that did nothing) below SHORT_FACTOR x mean.
BATCH_BASELINE_RUNS = env_int("BATCH_BASELINE_RUNS", 14)
BATCH_MIN_BASELINE_RUNS = env_int("BATCH_MIN_BASELINE_RUNS", 3)


BATCH_LONG_FACTOR = env_float("BATCH_LONG_FACTOR", 1.5)
BATCH_SHORT_FACTOR = env_float("BATCH_SHORT_FACTOR", 0.25)
# Outliers on the client page: beyond median +/- K x MAD of the previous WINDOW runs.
BATCH_OUTLIER_WINDOW = env_int("BATCH_OUTLIER_WINDOW", 30)
BATCH_OUTLIER_MADS = env_float("BATCH_OUTLIER_MADS", 3.0)
BATCH_OUTLIER_MIN_POINTS = env_int("BATCH_OUTLIER_MIN_POINTS", 5)
BATCH_FAILED_LOOKBACK_DAYS = env_int("BATCH_FAILED_LOOKBACK_DAYS", 7)
BATCH_API_MAX_ROWS = env_int("BATCH_API_MAX_ROWS", 5000)
BATCH_ALERT_EMAILS = env_list("BATCH_ALERT_EMAILS")
CELERY_BEAT_SCHEDULE["batches-check"] = {
    "task": "batches.tasks.check_batches",
    "schedule": env_int("BATCH_CHECK_SECONDS", 300),
}
# (end batches)

# --- Automation ROI (automation app) -------------------------------------------------
# Rundeck / PagerDuty Runbook Automation server to import executions from (import is off without a URL).
RUNDECK_URL = env_str("RUNDECK_URL").rstrip("/")
RUNDECK_TOKEN = env_str("RUNDECK_TOKEN")  # sent as X-Rundeck-Auth-Token
RUNDECK_API_VERSION = env_int("RUNDECK_API_VERSION", 41)
RUNDECK_PROJECTS = env_list("RUNDECK_PROJECTS")
# Only jobs carrying one of these tags are imported; empty = every job of the projects.
RUNDECK_TAGS = env_list("RUNDECK_TAGS")
RUNDECK_PAGE_SIZE = env_int("RUNDECK_PAGE_SIZE", 200)
RUNDECK_ROI_METRICS = env_bool("RUNDECK_ROI_METRICS", True)  # read each run's ROI Metrics Data
RUNDECK_ROI_HOURS_KEY = env_str("RUNDECK_ROI_HOURS_KEY", "hours")
RUNDECK_MAX_RETRIES = env_int("RUNDECK_MAX_RETRIES", 5)


RUNDECK_TIMEOUT = env_float("RUNDECK_TIMEOUT", 30)
RUNDECK_BACKOFF_FACTOR = env_float("RUNDECK_BACKOFF_FACTOR", 1.0)  # waits 1, 2, 4, 8 … seconds
RUNDECK_BACKOFF_MAX = env_float("RUNDECK_BACKOFF_MAX", 60)
RUNDECK_RETRY_AFTER_MAX = env_float("RUNDECK_RETRY_AFTER_MAX", 300)  # cap on a server's Retry-After
# Defaults for jobs an import creates; set the real values per job in /admin/.
AUTOMATION_DEFAULT_MINUTES_SAVED = env_float("AUTOMATION_DEFAULT_MINUTES_SAVED", 0)
AUTOMATION_DEFAULT_COST_PER_HOUR = env_float("AUTOMATION_DEFAULT_COST_PER_HOUR", 0)
AUTOMATION_CURRENCY = env_str("AUTOMATION_CURRENCY", "$")
AUTOMATION_IMPORT_MINUTES = env_int("AUTOMATION_IMPORT_MINUTES", 30)
if RUNDECK_URL:
    CELERY_BEAT_SCHEDULE["automation-import"] = {
        "task": "automation.tasks.import_automation",
        "schedule": AUTOMATION_IMPORT_MINUTES * 60,
    }
# (end automation)

# --- Planned maintenance (maintenance app) -------------------------------------------
# Beat starts and ends maintenance on time (and emails subscribers once per event), and
# re-queues maintenance emails a dead worker left behind, like the incidents' sweeper.
CELERY_BEAT_SCHEDULE["maintenance-advance"] = {
    "task": "maintenance.tasks.advance_maintenance",
    "schedule": env_int("MAINTENANCE_ADVANCE_SECONDS", 60),
}
CELERY_BEAT_SCHEDULE["maintenance-sweep"] = {
    "task": "maintenance.tasks.sweep_maintenance_deliveries",
    "schedule": env_int("NOTIFY_SWEEP_SECONDS", 60),
}
# (end maintenance)

# --- Sign-in (accounts app): identity providers, roles, throttling, 2FA, tokens ------
# Local username/password sign-in (the form on /accounts/login/ and password reset).
LOCAL_LOGIN_ENABLED = env_bool("LOCAL_LOGIN_ENABLED", True)

# Roles from the identity provider's groups, refreshed at every sign-in: each variable is a
# comma-separated list of group names (for LDAP also full DNs); matching ignores case.
# With none of them set, sign-ins leave roles alone (they are managed in /admin/).
ROLE_GROUPS = {
    "helpdesk": env_list("ROLE_GROUPS_HELPDESK"),
    "engineer": env_list("ROLE_GROUPS_ENGINEER"),
    "leadership": env_list("ROLE_GROUPS_LEADERSHIP"),
    "staff": env_list("ROLE_GROUPS_STAFF"),
}

# OpenID Connect (mozilla-django-oidc): on when OIDC_CLIENT_ID is set. Give OIDC_ISSUER (its
# /.well-known/openid-configuration is read once, at the first sign-in) or every endpoint.
OIDC_ENABLED = bool(env_str("OIDC_CLIENT_ID"))
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "single sign-on")
OIDC_ISSUER = env_str("OIDC_ISSUER").rstrip("/")
OIDC_RP_CLIENT_ID = env_str("OIDC_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET")
OIDC_RP_SIGN_ALGO = env_str("OIDC_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env_str("OIDC_SCOPES", "openid email profile groups")
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("OIDC_AUTHORIZATION_ENDPOINT")
OIDC_OP_TOKEN_ENDPOINT = env_str("OIDC_TOKEN_ENDPOINT")
OIDC_OP_USER_ENDPOINT = env_str("OIDC_USERINFO_ENDPOINT")
OIDC_OP_JWKS_ENDPOINT = env_str("OIDC_JWKS_ENDPOINT")
OIDC_USERNAME_CLAIM = env_str("OIDC_USERNAME_CLAIM", "preferred_username")
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", "groups")
OIDC_USE_NONCE = True
OIDC_VERIFY_SSL = env_bool("OIDC_VERIFY_SSL", True)
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT", 10)
OIDC_CREATE_USER = True
OIDC_AUTHENTICATION_CALLBACK_URL = "oidc_authentication_callback"
LOGIN_REDIRECT_URL_FAILURE = "/accounts/login/?sso=failed"
if OIDC_ENABLED and not (OIDC_ISSUER or (OIDC_OP_AUTHORIZATION_ENDPOINT and OIDC_OP_TOKEN_ENDPOINT)):
    raise ImproperlyConfigured("OIDC_CLIENT_ID is set: set OIDC_ISSUER, or the OIDC_*_ENDPOINT variables")

# LDAP / Active Directory (django-auth-ldap): on when LDAP_SERVER_URI is set.
LDAP_ENABLED = bool(env_str("LDAP_SERVER_URI"))
AUTH_LDAP_SERVER_URI = env_str("LDAP_SERVER_URI")
AUTH_LDAP_BIND_DN = env_str("LDAP_BIND_DN")
AUTH_LDAP_BIND_PASSWORD = env_str("LDAP_BIND_PASSWORD")
AUTH_LDAP_START_TLS = env_bool("LDAP_START_TLS", False)
AUTH_LDAP_ALWAYS_UPDATE_USER = True
AUTH_LDAP_MIRROR_GROUPS = False  # roles come from ROLE_GROUPS, not a copy of every group
AUTH_LDAP_FIND_GROUP_PERMS = False
AUTH_LDAP_CACHE_TIMEOUT = 0
if LDAP_ENABLED:
    import ldap
    from django_auth_ldap.config import GroupOfNamesType, LDAPSearch, NestedActiveDirectoryGroupType

    _ldap_user_base = env_str("LDAP_USER_SEARCH_BASE")
    _ldap_group_base = env_str("LDAP_GROUP_SEARCH_BASE")
    if not _ldap_user_base or not _ldap_group_base:
        raise ImproperlyConfigured("LDAP_SERVER_URI is set: set LDAP_USER_SEARCH_BASE and LDAP_GROUP_SEARCH_BASE too")
    AUTH_LDAP_USER_SEARCH = LDAPSearch(
        _ldap_user_base, ldap.SCOPE_SUBTREE, env_str("LDAP_USER_FILTER", "(uid=%(user)s)")
    )
    AUTH_LDAP_GROUP_SEARCH = LDAPSearch(
        _ldap_group_base, ldap.SCOPE_SUBTREE, env_str("LDAP_GROUP_FILTER", "(objectClass=groupOfNames)")
    )
    AUTH_LDAP_GROUP_TYPE = (
        NestedActiveDirectoryGroupType()
        if env_str("LDAP_GROUP_TYPE", "groupOfNames").lower() in ("ad", "activedirectory", "active-directory")
        else GroupOfNamesType()
    )
    AUTH_LDAP_USER_ATTR_MAP = {
        "first_name": env_str("LDAP_ATTR_FIRST_NAME", "givenName"),
        "last_name": env_str("LDAP_ATTR_LAST_NAME", "sn"),
        "email": env_str("LDAP_ATTR_EMAIL", "mail"),
    }
    # A disabled directory account cannot sign in: members of this group are refused (optional).
    if env_str("LDAP_DENY_GROUP"):
        AUTH_LDAP_DENY_GROUP = env_str("LDAP_DENY_GROUP")
    AUTH_LDAP_CONNECTION_OPTIONS = {ldap.OPT_NETWORK_TIMEOUT: env_int("LDAP_TIMEOUT", 10), ldap.OPT_REFERRALS: 0}

# Trusted reverse-proxy header (e.g. Remote-User from an authenticating proxy), honoured only
# on requests whose REMOTE_ADDR is one of TRUSTED_PROXY_IPS; groups optionally from a header.
# From those proxies X-Forwarded-For also names the client (for lockouts and rate limits).
REMOTE_USER_HEADER = env_str("REMOTE_USER_HEADER")
REMOTE_GROUPS_HEADER = env_str("REMOTE_GROUPS_HEADER")
TRUSTED_PROXY_IPS = env_list("TRUSTED_PROXY_IPS")
if REMOTE_USER_HEADER and not TRUSTED_PROXY_IPS:
    raise ImproperlyConfigured("REMOTE_USER_HEADER is set: list the proxy addresses in TRUSTED_PROXY_IPS")

AUTHENTICATION_BACKENDS = [
    # First, so a locked-out user or address is refused before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    *(["django.contrib.auth.backends.ModelBackend"] if LOCAL_LOGIN_ENABLED else []),
    *(["accounts.backends.BeaconLDAPBackend"] if LDAP_ENABLED else []),
    *(["accounts.backends.BeaconOIDCBackend"] if OIDC_ENABLED else []),
    *(["accounts.backends.TrustedProxyBackend"] if REMOTE_USER_HEADER else []),
    # Staff may configure Beacon in /admin/ without per-model permissions (config.roles.can).
    "accounts.backends.StaffConfigurationBackend",
]

# Throttling failed sign-ins (django-axes): per user and per address; then locked for a while.
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_float("LOGIN_LOCKOUT_MINUTES", 15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username"], ["ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.views.locked_out"
AXES_CLIENT_IP_CALLABLE = "accounts.ratelimit.client_address"  # X-Forwarded-For only from TRUSTED_PROXY_IPS
AXES_VERBOSE = False
# Bad API tokens and password-reset requests: at most this many per address per window.
API_TOKEN_FAILURE_LIMIT = env_int("API_TOKEN_FAILURE_LIMIT", 20)
PASSWORD_RESET_LIMIT = env_int("PASSWORD_RESET_LIMIT", 5)
RATE_LIMIT_WINDOW_SECONDS = env_int("RATE_LIMIT_WINDOW_SECONDS", 600)
# Two-factor (TOTP) for staff and superusers who sign in with a local password. On unless
# DEBUG (the `make run` demo), so the demo admin signs in without an authenticator app.
TWO_FACTOR_FOR_STAFF = env_bool("TWO_FACTOR_FOR_STAFF", not DEBUG)
OTP_TOTP_ISSUER = SITE_NAME

# API tokens: a default lifetime for tokens made on the tokens page (0 = no expiry).
API_TOKEN_DEFAULT_DAYS = env_int("API_TOKEN_DEFAULT_DAYS", 0)
# (end sign-in)

# --- PagerDuty (intake app) -----------------------------------------------------------
# `import_pagerduty` reads incidents and their log entries from PagerDuty's REST API v2;
# beat runs it every PAGERDUTY_IMPORT_MINUTES once a token is set.
PAGERDUTY_API_URL = env_str("PAGERDUTY_API_URL", "https://api.pagerduty.com").rstrip("/")
PAGERDUTY_TOKEN = env_str("PAGERDUTY_TOKEN")  # sent as "Authorization: Token token=<token>"
# Webhooks v3 (POST /api/v1/integrations/pagerduty/) are accepted only signed with this secret.
PAGERDUTY_WEBHOOK_SECRET = env_str("PAGERDUTY_WEBHOOK_SECRET")


def _severity_map(name: str, default: str) -> dict[str, int]:
    """``P1:1,P2:2`` → {"p1": 1, "p2": 2}; keys compared case-insensitively, severities 1–4."""
    mapping = {}
    for item in env_list(name, default):
        key, sep, value = item.rpartition(":")
        if not sep or not key.strip() or value.strip() not in ("1", "2", "3", "4"):
            raise ImproperlyConfigured(f"{name} must look like 'P1:1,P2:2' with severities 1-4, got {item!r}")
        mapping[key.strip().lower()] = int(value)
    return mapping


PAGERDUTY_PRIORITY_SEVERITY = _severity_map("PAGERDUTY_PRIORITY_SEVERITY", "P1:1,P2:2,P3:3,P4:4,P5:4")
PAGERDUTY_URGENCY_SEVERITY = _severity_map("PAGERDUTY_URGENCY_SEVERITY", "high:2,low:3")
PAGERDUTY_IMPORT_MINUTES = env_int("PAGERDUTY_IMPORT_MINUTES", 10)
# The first import (no cursor yet, no --since) reaches this far back.
PAGERDUTY_IMPORT_DAYS = env_int("PAGERDUTY_IMPORT_DAYS", 30)
PAGERDUTY_PAGE_SIZE = env_int("PAGERDUTY_PAGE_SIZE", 100)
# Threads writing a page side by side, each with its own connection (PostgreSQL only; SQLite uses one).
PAGERDUTY_IMPORT_WORKERS = env_int("PAGERDUTY_IMPORT_WORKERS", 4)
PAGERDUTY_TIMEOUT = env_float("PAGERDUTY_TIMEOUT", 30)
PAGERDUTY_MAX_RETRIES = env_int("PAGERDUTY_MAX_RETRIES", 5)
PAGERDUTY_BACKOFF_FACTOR = env_float("PAGERDUTY_BACKOFF_FACTOR", 1.0)  # waits 1, 2, 4, 8 … seconds
PAGERDUTY_BACKOFF_MAX = env_float("PAGERDUTY_BACKOFF_MAX", 60)
PAGERDUTY_RETRY_AFTER_MAX = env_float("PAGERDUTY_RETRY_AFTER_MAX", 300)  # cap on a server's Retry-After
if PAGERDUTY_IMPORT_MINUTES < 1:
    raise ImproperlyConfigured("PAGERDUTY_IMPORT_MINUTES must be at least 1")
if PAGERDUTY_TOKEN:
    CELERY_BEAT_SCHEDULE["pagerduty-import"] = {
        "task": "intake.tasks.import_pagerduty",
        "schedule": PAGERDUTY_IMPORT_MINUTES * 60,
    }
# (end pagerduty)
