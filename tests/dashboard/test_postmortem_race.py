"""Two engineers writing the same first postmortem: one wins, the other is told, never a 500."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client

from incidents.models import Postmortem

from ..conftest import _user
from .test_postmortems import form_data, url

WRITERS = 12


@pytest.fixture
def incident(make_incident, now):
    return make_incident(started_at=now - timedelta(days=3), resolved_at=now - timedelta(days=2), severity=1)


def test_of_many_concurrent_first_saves_exactly_one_wins_and_the_others_conflict(transactional_db, incident):
    engineers = [_user(f"writer{i}", "engineer") for i in range(WRITERS)]
    barrier = threading.Barrier(WRITERS)
    statuses: list[int] = []
    lock = threading.Lock()

    def write(user, index):
        client = Client(raise_request_exception=False)
        client.force_login(user)
        barrier.wait()
        try:
            response = client.post(url(incident), form_data(version="0", summary=f"Summary by writer {index}"))
            with lock:
                statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(user, i)) for i, user in enumerate(engineers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(statuses) == [302] + [409] * (WRITERS - 1)
    postmortem = Postmortem.objects.get(incident=incident)
    assert postmortem.version == 1 and postmortem.summary.startswith("Summary by writer")


def test_a_first_save_after_a_colleagues_keeps_my_text_and_says_so(client, engineer_user, incident):
    from incidents.postmortems import postmortem_save

    postmortem_save(incident=incident, by=None, summary="The colleague's summary", expected_version=0)
    client.force_login(engineer_user)
    response = client.post(url(incident), form_data(version="0", summary="My own summary"))
    assert response.status_code == 409
    page = response.content.decode()
    assert "wrote the postmortem" in page and "My own summary" in page
    assert Postmortem.objects.get(incident=incident).summary == "The colleague's summary"
