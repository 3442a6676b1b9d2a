"""``python manage.py import_batch_runs FILE.csv``: load batch runs from a CSV file.

Headers (first line; order free, names case-insensitive):
  required: client, run_id, started_at, status (succeeded / failed / running)
  finished_at (ISO 8601 with offset) or duration_seconds — required unless running
  optional: run_date (YYYY-MM-DD), records_processed, client_name, instance_size,
            average_daily_volume

Good rows are saved (idempotent on client + run_id, so a file can be imported again);
each bad row is reported with its line number and skipped. Exit status 1 when any row was bad.
"""

import codecs
import csv
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, transaction

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
# What one row can still raise past validation; anything else is a bug and stops the import.
ROW_FAILURES = (DatabaseError, ValueError, ArithmeticError, TypeError)


class Command(BaseCommand):
    help = "Import batch runs from a CSV file (see the module docstring for the headers)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file with a header line")

    def handle(self, *args, file, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file")
        self.created = self.updated = self.unchanged = self.bad = 0
        self.client_ids: set[int] = set()
        # Physical line number -> why the line cannot be read (encoding, NUL).
        unreadable: dict[int, str] = {}
        with path.open("rb") as handle:
            reader = csv.DictReader(_decoded_lines(handle, unreadable))
            headers = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
            if 1 in unreadable:
                raise CommandError(f"{file}: line 1 (the header line): {unreadable[1]}")
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
            previous_end = reader.line_num
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    self._report(reader.line_num, f"not a CSV row ({exc})")
                    previous_end = reader.line_num
                    continue
                # reader.line_num is the physical line just read (quoted newlines included).
                first, last = previous_end + 1, reader.line_num
                previous_end = last
                problems = [unreadable[n] for n in range(first, last + 1) if n in unreadable]
                if problems:
                    self._report(last, "; ".join(problems))
                    continue
                chunk.append((last, {k: v for k, v in row.items() if k}))
                if len(chunk) >= CHUNK:
                    self._flush(chunk)
            if chunk:
                self._flush(chunk)
        services.client_stats_refresh(client_ids=self.client_ids)
        audit_record(
            action="import",
            object_type="batch runs CSV",
            object_repr=str(file),
            summary=f"{self.created} new, {self.updated} updated, {self.unchanged} unchanged, {self.bad} bad row(s)",
        )
        self.stdout.write(
            f"Imported {self.created + self.updated + self.unchanged} run(s): {self.created} new, "
            f"{self.updated} updated, {self.unchanged} unchanged; {self.bad} bad row(s) skipped."
        )
        if self.bad:
            raise CommandError(f"{self.bad} row(s) were not imported (see the lines above); the other rows were saved.")

    def _report(self, line: int, text: str) -> None:
        self.stderr.write(f"Line {line}: {text}")
        self.bad += 1

    def _add(self, result) -> None:
        self.created += result.created
        self.updated += result.updated
        self.unchanged += result.unchanged
        self.client_ids.update(result.client_ids)

    def _flush(self, chunk: list[tuple[int, dict]]) -> None:
        """Save a chunk; if the database refuses it, save its rows one by one instead, so one
        row the validation let through cannot take the rest of the file down with it."""
        try:
            with transaction.atomic():
                result = services.batch_runs_ingest(rows=[row for _, row in chunk], atomic=False, refresh=False)
        except ROW_FAILURES:
            for line, row in chunk:
                try:
                    with transaction.atomic():
                        single = services.batch_runs_ingest(rows=[row], atomic=False, refresh=False)
                except ROW_FAILURES as exc:
                    self._report(line, f"not saved ({exc.__class__.__name__}: {str(exc).strip()[:200]})")
                    continue
                self._add(single)
                for error in single.errors:
                    self._report(line, _messages(error.errors))
        else:
            self._add(result)
            for error in result.errors:
                self._report(chunk[error.index][0], _messages(error.errors))
        chunk.clear()


def _messages(errors: dict) -> str:
    return "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items())


def _decoded_lines(handle, unreadable: dict[int, str]):
    """The file's lines as text for ``csv``; a line that is not UTF-8 or holds NUL is noted
    in ``unreadable`` (its row is reported and skipped) instead of stopping the import."""
    for number, raw in enumerate(handle, start=1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            unreadable[number] = (
                f"not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); save the file as UTF-8"
            )
            text = raw.decode("utf-8", "replace")
        if "\x00" in text:
            unreadable[number] = "contains a NUL character"
            text = text.replace("\x00", "")
        yield text
