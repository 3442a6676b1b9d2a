"""A bounded, seeded schemathesis run over every API operation, with every role's token.

The schema is generated in-process (drf-spectacular) and each case is sent through Django's
WSGI handler, so whatever operations exist at run time are covered. The run is bounded
(``SCHEMATHESIS_EXAMPLES`` cases per operation, mode and role) and derandomised, so a failure
repeats; it fails on any 5xx, any response the schema does not describe, or any undocumented
status code.
"""

import os
from collections import Counter

import pytest
import schemathesis
from django.contrib.auth.models import Group, User
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections, transaction
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services import token_create

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "8"))
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
ROLES = ("helpdesk", "engineer", "leadership", None)


def _tokens():
    tokens = {}
    for role in ROLES:
        user = User.objects.create_user(f"st-{role or 'admin'}", password="x", is_superuser=role is None)
        if role:
            user.groups.add(Group.objects.get_or_create(name=role)[0])
        tokens[role or "admin"] = token_create(user=user, name="schemathesis")[1]
    return tokens


def _objects(services, by):
    """Something for every read to return, nullable fields left empty (an incident without
    an engineer, a resolved one), so the response schema meets real rows."""
    from datetime import timedelta

    from django.utils import timezone

    from batches.services import batch_runs_ingest
    from incidents.services import incident_open, incident_resolve
    from maintenance.services import maintenance_schedule

    now = timezone.now()
    incident_open(title="Checkout slow", severity=3, services=[services["web"]], by=by, notify=False)
    closed = incident_open(title="Payments down", severity=1, services=[services["payments"]], by=by, notify=False)
    incident_resolve(incident=closed, message="Fixed.", by=by, notify=False)
    maintenance_schedule(
        title="DB upgrade", services=[services["web"]], by=by, starts_at=now + timedelta(days=1),
        ends_at=now + timedelta(days=1, hours=2),
    )  # fmt: skip
    batch_runs_ingest(rows=[{"client": "acme", "run_id": "r1", "started_at": now.isoformat(), "status": "running"}])


@pytest.mark.django_db
def test_no_operation_answers_5xx_or_outside_its_schema(services, engineer_user, settings):
    # Optional integrations switched on, so their real validation meets the generated cases
    # (switched off, a webhook answers 503 by design).
    settings.PAGERDUTY_WEBHOOK_SECRET = "schemathesis-secret"
    _objects(services, engineer_user)
    raw = SchemaGenerator().get_schema(request=None, public=True)
    schema = schemathesis.openapi.from_dict(raw)
    app = WSGIHandler()
    tokens = _tokens()
    failures = []
    counts = Counter()

    def run_operation(operation, mode, role, key):
        # JSON clients: the CSV exports (``?format=csv``, BI endpoints) are not fuzzed here.
        headers = {"Authorization": f"Token {key}", "Host": "testserver", "Accept": "application/json"}

        @hsettings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(mode))
        def run(case):
            with transaction.atomic():
                response = case.call(app=app, headers=headers)
                if response.status_code >= 500:
                    transaction.set_rollback(True)
            counts[response.status_code] += 1
            case.validate_response(response, checks=CHECKS, headers=headers)

        try:
            run()
        except Unsatisfiable:
            pass  # e.g. no negative value exists for a parameterless operation
        except (Exception, BaseExceptionGroup) as exc:  # collected; the test fails below with all of them
            failures.append(f"{operation.label} [{role}/{mode.value}]: {str(exc)[:1000]}")

    # As Django's test client does: the test's connection (and its transaction) stays open.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                for role, key in tokens.items():
                    run_operation(operation, mode, role, key)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)

    assert sum(counts.values()) > 0
    assert not failures, f"{len(failures)} failures over {sum(counts.values())} calls:\n" + "\n\n".join(failures[:40])
