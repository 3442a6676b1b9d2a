"""config.broker: the embedded broker never hands a worker half a message."""

import json
import os
from queue import Empty

import pytest
from django.conf import settings
from kombu import Connection
from kombu.transport import filesystem

from config import broker


def channel(transport, folder):
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder), "store_processed": False}
    return Connection(transport=transport, transport_options=options).default_channel


def test_kombus_own_writer_lets_a_reader_take_a_message_before_it_is_written(tmp_path, monkeypatch):
    """Why config.broker exists (kombu issue #1551): this stopped the demo's worker for good."""
    ch = channel(filesystem.Transport, tmp_path)
    errors = []
    real_lock = filesystem.lock

    def read_between_create_and_write(handle, flags):
        try:
            ch._get("q")
        except json.JSONDecodeError as exc:
            errors.append(exc)
        real_lock(handle, flags)

    monkeypatch.setattr(filesystem, "lock", read_between_create_and_write)
    ch._put("q", {"body": "x"})
    assert errors, "kombu now writes its messages whole: config.broker may go"


def test_a_message_is_invisible_to_readers_until_it_is_whole(tmp_path, monkeypatch):
    ch = channel(broker.Transport, tmp_path)
    real_replace = os.replace
    taken_early = []

    def read_then_rename(src, dst):
        try:
            taken_early.append(ch._get("q"))
        except Empty:
            pass
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", read_then_rename)
    ch._put("q", {"body": "x" * 100_000})
    monkeypatch.undo()
    assert taken_early == []
    assert ch._get("q") == {"body": "x" * 100_000}
    assert os.listdir(tmp_path) == []  # no partial file left behind
    with pytest.raises(Empty):
        ch._get("q")


def test_messages_keep_their_order_and_the_queue_counts_only_whole_ones(tmp_path):
    ch = channel(broker.Transport, tmp_path)
    for n in range(5):
        ch._put("q", {"n": n})
    (tmp_path / ".99999999_x.q.msg.partial").write_bytes(b"")  # a write under way
    assert ch._size("q") == 5
    assert [ch._get("q")["n"] for _ in range(5)] == [0, 1, 2, 3, 4]
    with pytest.raises(Empty):
        ch._get("q")


@pytest.mark.skipif(bool(settings.REDIS_URL), reason="the embedded broker is used without REDIS_URL")
def test_celery_uses_it_when_there_is_no_redis():
    from config.celery import app

    with app.connection_for_write() as conn:
        assert isinstance(conn.transport, broker.Transport)
