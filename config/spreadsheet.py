"""CSV exports that a spreadsheet cannot turn into formulas (CSV / formula injection).

Excel, LibreOffice and Google Sheets evaluate a cell whose text starts with ``=``, ``+``,
``-`` or ``@`` (and, after a leading tab or carriage return, also treat what follows as a
formula). A title such as ``=HYPERLINK("http://evil", "click")`` typed into an incident
would run on the reader's machine. Every text cell that starts with one of those
characters gets a leading apostrophe, which spreadsheets show as plain text; numbers are
written as numbers (a negative number is data, not a formula).
"""

from __future__ import annotations

import csv
import re
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


def safe_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    text = str(value)
    if text.startswith(FORMULA_START) and not PLAIN_NUMBER.match(text):
        return "'" + text
    return text


class SafeWriter:
    """``csv.writer`` with every cell passed through :func:`safe_cell`."""

    def __init__(self, stream, **kwargs):
        self._writer = csv.writer(stream, **kwargs)

    def writerow(self, row) -> Any:
        return self._writer.writerow([safe_cell(v) for v in row])

    def writerows(self, rows) -> None:
        for row in rows:
            self.writerow(row)


def writer(stream, **kwargs) -> SafeWriter:
    return SafeWriter(stream, **kwargs)
