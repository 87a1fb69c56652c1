"""Reading a CSV as practice-management systems and spreadsheets export it, for the
imports (patients, appointments): the text decoded, the delimiter sniffed, the header row
and its columns guessed, dates read, and each data row as a Row (values, or the reason it
is skipped). Nothing here knows what the rows are."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from ..models import utcnow


class ImportRefused(ValueError):
    """A file or a choice the import cannot go on with; the message says why."""


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


def decode(data: bytes) -> str:
    """UTF-8 (with or without a byte-order mark), else Windows-1252 as Excel writes it."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _delimiter(text: str) -> str:
    sample = text[:16384]
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        return max((",", ";", "\t"), key=first.count)


def read_table(text: str) -> Table:
    """Headers and rows of a CSV text (comma, semicolon or tab, sniffed); blank lines
    dropped, short rows padded."""
    if not text.strip():
        raise ImportRefused("The file is empty. Choose a CSV file with a header row.")
    if "\x00" in text[:4096]:
        raise ImportRefused("That is not a CSV file. Save it from your spreadsheet as CSV.")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        rows = [r for r in reader if any(cell.strip() for cell in r)]
    except csv.Error as exc:
        raise ImportRefused(f"The file could not be read as CSV ({exc}).") from None
    if not rows:
        raise ImportRefused("The file is empty. Choose a CSV file with a header row.")
    headers = [h.strip() for h in rows[0]]
    width = len(headers)
    body = [(r + [""] * (width - len(r)))[:width] if len(r) != width else r for r in rows[1:]]
    if not body:
        raise ImportRefused("The file has a header row but no rows under it.")
    return Table(headers, body)


def header_key(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.lower())


def guess_columns(headers: Sequence[str], guesses: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """field -> column index, for the headers that say what they are (`guesses`: each
    field's header keys, the more specific first). A column serves one field."""
    keys = [header_key(h) for h in headers]
    mapping: dict[str, int] = {}
    for name, words in guesses.items():
        for word in words:
            if word in keys and keys.index(word) not in mapping.values():
                mapping[name] = keys.index(word)
                break
    return mapping


def clean_mapping(raw: Mapping[str, str], fields: Sequence[str], width: int) -> dict[str, int]:
    """The mapping form's choices (field -> "column index" or ""), checked."""
    mapping: dict[str, int] = {}
    for name in fields:
        value = (raw.get(name) or "").strip()
        if value.isdigit() and int(value) < width:
            mapping[name] = int(value)
    return mapping


_US_DATE = re.compile(r"(\d{1,2})[/\-.](\d{1,2})[/\-.](\d{4}|\d{2})")


def parse_date(text: str) -> date | None:
    """ISO (1988-04-12, with or without a time after it) or US month/day/year
    (04/12/1988, 4/12/88). Raises ValueError for anything else."""
    text = text.strip()
    if not text:
        return None
    iso = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?", text)
    if iso:
        return date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    us = _US_DATE.fullmatch(text.split(" ")[0])
    if us:
        year = int(us.group(3))
        if year < 100:  # two digits: the most recent such year not in the future
            year += 2000 if 2000 + year <= utcnow().year else 1900
        return date(year, int(us.group(1)), int(us.group(2)))
    raise ValueError(text)


def split_name(full: str) -> tuple[str, str]:
    """ "Last, First" or "First Middle Last" -> (first, last)."""
    full = " ".join(full.split())
    if "," in full:
        last, _, first = full.partition(",")
        return first.strip(), last.strip()
    first, _, last = full.rpartition(" ")
    return (first, last) if first else (last, "")


@dataclass
class Row:
    """One data row of the file, checked: values to save, or the reason it is skipped."""

    line: int  # the row's line in the file (the header is line 1)
    cells: list[str]
    values: dict = field(default_factory=dict)
    problem: str = ""
    action: str = ""  # add | update | skip (after matching)
    target_id: int | None = None  # the record an update changes
    soon: bool = False  # an appointment whose reminder would go out at once


def cell(cells: list[str], mapping: Mapping[str, int], name: str) -> str:
    index = mapping.get(name)
    return cells[index].strip() if index is not None else ""


def chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class Plan:
    """What an import will do, row by row, before anything is written."""

    rows: list[Row]
    to_add: int = 0
    to_update: int = 0
    to_skip: int = 0
    soon: int = 0  # appointments starting within the reminder's lead time

    def __post_init__(self) -> None:
        for row in self.rows:
            if row.action == "add":
                self.to_add += 1
            elif row.action == "update":
                self.to_update += 1
            else:
                self.to_skip += 1
            self.soon += row.soon

    @property
    def noted(self) -> list[Row]:
        """Rows the preview names: those skipped, and those that update a record."""
        return [r for r in self.rows if r.action != "add"]


def skipped_csv(headers: list[str], rows: Sequence[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Row", "Reason", *headers])
    for row in rows:
        writer.writerow([row.line, row.problem, *row.cells])
    return out.getvalue()


def csv_text(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue()
