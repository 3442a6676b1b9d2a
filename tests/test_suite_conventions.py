"""The suite's own rules: markers follow fixtures, and CI is recognised however it is spelt."""

import pytest

from tests import conftest


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("1", True), ("TRUE", True), ("", False), (None, False)]
)
def test_ci_is_recognised_as_1_or_true(value, expected):
    assert conftest.ci_from_env(value) is expected


def test_tests_using_the_worker_or_a_browser_carry_the_marker(request):
    session_items = request.session.items
    for item in session_items:
        used = set(item.fixturenames)
        if used & {"worker", "celery_worker_process"}:
            assert item.get_closest_marker("worker"), item.nodeid
        if used & {"page", "browser"}:
            assert item.get_closest_marker("e2e"), item.nodeid
