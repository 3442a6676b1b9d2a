"""Loaded with ``-p tests.pytest_environment`` before Django reads its settings.

The suite's results must not depend on the shell it runs in: variables that change what
settings mean are replaced by fixed test values here (the Celery worker process started by
the tests inherits them too), and ``tests/conftest.py`` pins the settings again per test.
"""

import os

# Settings refuse to start without a SECRET_KEY unless DEBUG; tests are neither.
os.environ.setdefault("SECRET_KEY", "tests-only-not-a-secret")
# A TIME_ZONE or REPORT_TIME_ZONE exported in the developer's shell would move day and
# month boundaries under the tests.
for name in ("TIME_ZONE", "REPORT_TIME_ZONE"):
    os.environ[name] = "UTC"
for name in ("BEACON_PRODUCTION", "DEBUG", "SECURE_SSL_REDIRECT", "CELERY_TASK_ALWAYS_EAGER", "LANGUAGE_CODE"):
    os.environ.pop(name, None)
