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


def test_a_test_without_the_worker_sends_its_tasks_where_no_worker_reads(transactional_db, celery_queue):
    """The worker outlives the test that started it; a later committing test's tasks must not
    reach it (it would act on that test's rows while the test's teardown empties the tables)."""
    from config.celery import app

    assert app.conf.task_default_queue != celery_queue
    assert app.conf.task_default_queue.startswith(celery_queue)  # still this run's own queue
