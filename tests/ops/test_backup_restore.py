"""bin/backup + bin/restore: a dump restored into a fresh database and media directory
serves the same report PDFs, byte for byte (their stored SHA-256). PostgreSQL only."""

import hashlib
import os
import subprocess
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from reports.models import MonthlyReport
from reports.services import report_generate
from reports.uptime import Month
from tests.conftest import ROOT, _database_url

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="pg_dump/pg_restore: runs in CI's PostgreSQL pass"
)


@pytest.fixture
def fresh_database():
    url = _database_url()
    base, _, name = url.rpartition("/")
    fresh = f"{name}_restore_{os.getpid()}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{fresh}"')
        admin.execute(f'CREATE DATABASE "{fresh}"')
    yield f"{base}/{fresh}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')


@pytest.mark.django_db(transaction=True)
def test_a_restored_backup_serves_the_same_report_pdfs(tmp_path, settings, services, fresh_database):
    settings.MEDIA_ROOT = tmp_path / "media"
    reports = [report_generate(month=Month.parse(m)) for m in ("2025-02", "2025-03")]
    assert all(r.sha256 and r.pdf.name for r in reports)
    env = {**os.environ, "DATABASE_URL": _database_url(), "MEDIA_ROOT": str(settings.MEDIA_ROOT)}
    subprocess.run([ROOT / "bin" / "backup", tmp_path / "backup"], env=env, check=True, capture_output=True)

    restored_media = tmp_path / "restored-media"
    env = {**os.environ, "DATABASE_URL": fresh_database, "MEDIA_ROOT": str(restored_media)}
    subprocess.run([ROOT / "bin" / "restore", tmp_path / "backup"], env=env, check=True, capture_output=True)

    with psycopg.connect(fresh_database) as restored:
        rows = restored.execute(f"SELECT pdf, sha256 FROM {MonthlyReport._meta.db_table} ORDER BY id").fetchall()
    assert [(pdf, sha) for pdf, sha in rows] == [(r.pdf.name, r.sha256) for r in reports]
    for pdf, sha in rows:
        data = Path(restored_media, pdf).read_bytes()
        assert data.startswith(b"%PDF") and hashlib.sha256(data).hexdigest() == sha


@pytest.mark.django_db(transaction=True)
def test_a_damaged_backup_is_refused_before_anything_is_restored(tmp_path, settings, fresh_database):
    settings.MEDIA_ROOT = tmp_path / "media"
    env = {**os.environ, "DATABASE_URL": _database_url(), "MEDIA_ROOT": str(settings.MEDIA_ROOT)}
    subprocess.run([ROOT / "bin" / "backup", tmp_path / "backup"], env=env, check=True, capture_output=True)
    with open(tmp_path / "backup" / "beacon.pgdump", "ab") as dump:
        dump.write(b"tampered")
    env = {**os.environ, "DATABASE_URL": fresh_database, "MEDIA_ROOT": str(tmp_path / "restored")}
    done = subprocess.run([ROOT / "bin" / "restore", tmp_path / "backup"], env=env, capture_output=True, text=True)
    assert done.returncode != 0 and "FAILED" in done.stdout + done.stderr
    with psycopg.connect(fresh_database) as restored:
        tables = restored.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
    assert tables == 0
