"""Property-based testing of the API against its own OpenAPI schema (schemathesis): for
generated parameters of every operation, no server error, and every answer (its status, content
type and body) is one the schema documents."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.wsgi import application

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def connection_kept():
    """As the test client does: the test's transaction (and its connection) must outlive each
    request the WSGI application answers."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_every_operation_answers_as_the_schema_says(seeded, connection_kept):
    # Loaded in the test (schemathesis' lazy pytest loader does not run on this pytest): the
    # schema is fetched from the site itself, as a client would.
    cache.clear()  # no rate limit carried over from other tests
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def answers_as_documented(case):
            case.call_and_validate(checks=CHECKS)

        answers_as_documented()
