"""``python manage.py import_batch_runs FILE.csv``: load batch runs from a CSV file.

Headers (first line; order free, names case-insensitive):
  required: client, run_id, started_at, status (succeeded / failed / running)
  finished_at (ISO 8601 with offset) or duration_seconds — required unless running
  optional: run_date (YYYY-MM-DD), records_processed, client_name, instance_size,
            average_daily_volume

Good rows are saved (idempotent on client + run_id, so a file can be imported again);
each bad row is reported with its line number and skipped. Exit status 1 when any row was bad.
"""

import csv
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit.services import audit_record
from batches import services

KNOWN = {
    "client",
    "run_id",
    "run_date",
    "started_at",
    "finished_at",
    "duration_seconds",
    "status",
    "records_processed",
    "client_name",
    "instance_size",
    "average_daily_volume",
}
CHUNK = 2000


class Command(BaseCommand):
    help = "Import batch runs from a CSV file (see the module docstring for the headers)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file with a header line")

    def handle(self, *args, file, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file")
        created = updated = unchanged = bad = 0
        client_ids: set[int] = set()
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            headers = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
            missing = [h for h in services.REQUIRED if h not in headers]
            if missing:
                raise CommandError(
                    f"{file}: missing column(s) {', '.join(missing)}; the header line must name "
                    f"client, run_id, started_at, status and finished_at or duration_seconds."
                )
            unknown = [h for h in headers if h and h not in KNOWN]
            if unknown:
                self.stderr.write(f"Ignoring unknown column(s): {', '.join(unknown)}")
            reader.fieldnames = headers
            chunk: list[tuple[int, dict]] = []

            def flush():
                nonlocal created, updated, unchanged, bad
                result = services.batch_runs_ingest(rows=[row for _, row in chunk], atomic=False, refresh=False)
                created += result.created
                updated += result.updated
                unchanged += result.unchanged
                client_ids.update(result.client_ids)
                for error in result.errors:
                    line = chunk[error.index][0]
                    text = "; ".join(f"{k}: {' '.join(v)}" for k, v in error.errors.items())
                    self.stderr.write(f"Line {line}: {text}")
                    bad += 1
                chunk.clear()

            for row in reader:
                # reader.line_num is the physical line just read (quoted newlines included).
                chunk.append((reader.line_num, {k: v for k, v in row.items() if k}))
                if len(chunk) >= CHUNK:
                    flush()
            if chunk:
                flush()
        services.client_stats_refresh(client_ids=client_ids)
        audit_record(
            action="import",
            object_type="batch runs CSV",
            object_repr=str(file),
            summary=f"{created} new, {updated} updated, {unchanged} unchanged, {bad} bad row(s)",
        )
        self.stdout.write(
            f"Imported {created + updated + unchanged} run(s): {created} new, {updated} updated, "
            f"{unchanged} unchanged; {bad} bad row(s) skipped."
        )
        if bad:
            raise CommandError(f"{bad} row(s) were not imported (see the lines above); the other rows were saved.")
