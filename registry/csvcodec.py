"""The CSV contract's low-level rules, shared by import and export (docs/csv.md describes them).

- Reading bytes: UTF-8 (with or without the BOM Excel writes), UTF-16 with a BOM, and
  GB18030/GBK (what Chinese-locale Excel writes), detected or named by the caller.
- Spreadsheet formula injection: a cell that a spreadsheet would run as a formula gets a leading
  apostrophe on export, which the importer removes again, so the round trip is lossless.
- Multi-valued cells (other names, sources, predecessors) hold one JSON array.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# Excel, LibreOffice and Google Sheets treat a cell starting with these as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"

DETECTED_ENCODINGS = ("utf-8", "gb18030")


class CSVFormatError(ValueError):
    """The file as a whole cannot be read (encoding, structure): nothing in it was used."""


# What a cell that needs an escape starts with: a trigger, or the escape character itself.
_ESCAPE_FIRST = frozenset((*FORMULA_TRIGGERS, ESCAPE))


def escape_formula(value: str) -> str:
    """Neutralise a cell a spreadsheet would evaluate, reversibly (see `unescape_formula`).

    A value that already starts with the escape character followed by a trigger or another
    escape character is escaped too, so that unescaping never eats a real apostrophe.
    """
    first = value[:1]
    if first not in _ESCAPE_FIRST:  # nearly every cell: one set lookup (export speed)
        return value
    if first != ESCAPE or value[1:2] in _ESCAPE_FIRST:
        return ESCAPE + value
    return value


def unescape_formula(value: str) -> str:
    if value[:1] == ESCAPE and value[1:2] in _ESCAPE_FIRST:
        return value[1:]
    return value


def decode(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """Return (text, encoding used). Without `encoding`, detect: a BOM first, then strict
    UTF-8, then GB18030 (a superset of GBK and GB2312)."""
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError as error:
            raise CSVFormatError(f"Unknown encoding “{encoding}”.") from error
        candidates: tuple[str, ...] = (encoding,)
    elif data.startswith(codecs.BOM_UTF8):
        candidates = ("utf-8-sig",)
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ("utf-16",)
    else:
        candidates = DETECTED_ENCODINGS
    failure: UnicodeDecodeError | None = None
    for candidate in candidates:
        try:
            text = data.decode(candidate)
        except UnicodeDecodeError as error:
            failure = failure or error
            continue
        if text.startswith("\ufeff"):
            text = text[1:]
        return text, candidate
    assert failure is not None
    line = data[: failure.start].count(b"\n") + 1
    tried = " or ".join(candidates)
    raise CSVFormatError(
        f"The file is not valid {tried}: undecodable bytes on line {line} "
        f"(byte {failure.start + 1}). Save it as UTF-8 (“CSV UTF-8” in Excel), "
        "or name its encoding (for example --encoding gb18030)."
    )


@dataclass(frozen=True)
class Record:
    """One data row: `line` is where it starts in the file (the header is line 1); `row` is
    the spreadsheet row number (header row 1), which differs once a cell spans several lines."""

    line: int
    row: int
    values: dict[str, str]

    @property
    def where(self) -> str:
        if self.line == self.row:
            return f"line {self.line}"
        return f"line {self.line} (spreadsheet row {self.row})"


def read_records(text: str) -> tuple[list[str], list[Record]]:
    """Parse CSV text into its header and records, with formula escapes removed."""
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise CSVFormatError(f"Line {line} contains a NUL character, which no cell may hold.")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise CSVFormatError("The file is empty: it needs a header row.")
        header = [name.strip() for name in header]
        records = []
        line = reader.line_num + 1
        for row_number, cells in enumerate(reader, start=2):
            if any(cell.strip() for cell in cells):
                if len(cells) > len(header):
                    raise CSVFormatError(
                        f"Line {line} has {len(cells)} cells but the header has {len(header)}."
                    )
                padded = cells + [""] * (len(header) - len(cells))
                values = {
                    name: unescape_formula(cell) for name, cell in zip(header, padded, strict=True)
                }
                records.append(Record(line=line, row=row_number, values=values))
            line = reader.line_num + 1
    except csv.Error as error:
        raise CSVFormatError(f"Line {reader.line_num}: the CSV is malformed ({error}).") from error
    return header, records


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(header: Iterable[str], rows: Iterable[Iterable[str]]) -> Iterator[str]:
    """Yield the CSV text line by line (for streaming), formula-escaped, with CRLF endings."""
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    yield writer.writerow(list(header))
    for row in rows:
        # The first-character test inline: almost no cell needs escaping, and at 1.6 million
        # cells per 100,000 organizations a call per cell shows in the export's time.
        yield writer.writerow(
            [escape_formula(cell) if cell[:1] in _ESCAPE_FIRST else cell for cell in row]
        )


# Made once: `json.dumps` with options builds a new encoder on every call.
_LIST_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "), check_circular=False)


def dump_list(items: list) -> str:
    """A multi-valued cell: empty for no values, else a compact JSON array (UTF-8, unescaped)."""
    if not items:
        return ""
    return _LIST_ENCODER.encode(items)


def load_list(cell: str) -> list:
    """Read a multi-valued cell; raise ValueError with a plain reason when it is not an array."""
    if not cell.strip():
        return []
    try:
        value = json.loads(cell)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"is not a JSON array ({error.msg} at character {error.pos + 1}); "
            'write e.g. [{"type": "abbreviation", "name": "CPPCC"}]'
        ) from error
    if not isinstance(value, list):
        raise ValueError("must be a JSON array: [ ... ]")
    return value
