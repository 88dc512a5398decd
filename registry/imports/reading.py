"""Reading a file: decode it, parse it into records, and refuse it whole when its header or
the width of a row make it unreadable as the file means it."""

from __future__ import annotations

from collections import Counter

from ..csvcodec import CSVFormatError, Record, decode, read_records
from ..schema import Dataset
from .report import ImportReport, Problem


def read_checked(
    source: bytes | str, encoding: str | None, report: ImportReport, fields: Dataset
) -> tuple[frozenset[str], list[Record]] | None:
    """The optional columns the file leaves out and the file's records, or None (with the
    problems in `report`) when the file as a whole cannot be used: unreadable, malformed, or
    with missing or unknown columns."""
    header, records = _read(source, encoding, report)
    if header is None:
        return None
    report.problems += _check_header(header, fields.columns, fields.required)
    if report.problems:
        return None
    # A short row would empty the missing columns of a stored record, a long one holds cells
    # that belong to no column: neither can be read as the file means it. Refused here, and
    # left out of the row checks (their cells are in the wrong columns).
    width = len(header)
    well_formed = []
    for record in records:
        if record.cells == width:
            well_formed.append(record)
            continue
        if record.cells < width:
            missing = header[record.cells :]
            column, what = ", ".join(missing), f"missing cell{'s' * (len(missing) > 1)}"
        else:
            extra = (
                f" {width + 1}" if record.cells == width + 1 else f"s {width + 1}-{record.cells}"
            )
            column, what = f"(cell{extra})", "cells beyond the header"
        report.problems.append(
            Problem(
                record.where,
                column,
                f"{what}: the row has {record.cells} cells but the header has {width}; "
                "every row needs exactly one cell per column (empty cells included).",
            )
        )
    return frozenset(fields.columns) - set(header), well_formed


def _read(source: bytes | str, encoding: str | None, report: ImportReport):
    try:
        if isinstance(source, bytes):
            text, report.encoding = decode(source, encoding)
        else:
            text, report.encoding = source, "text"
        return read_records(text)
    except CSVFormatError as error:
        report.problems.append(Problem("file", "", str(error)))
        return None, None


def _check_header(header: list[str], allowed: tuple, required: tuple) -> list[Problem]:
    problems = []
    missing = [name for name in required if name not in header]
    if missing:
        problems.append(
            Problem(
                "header (line 1)",
                ", ".join(missing),
                f"required column{'s' * (len(missing) > 1)} missing; the required columns "
                f"are {', '.join(required)}.",
            )
        )
    for name in header:
        if name not in allowed:
            problems.append(
                Problem(
                    "header (line 1)",
                    name or "(empty)",
                    f"unknown column; the columns are {', '.join(allowed)}.",
                )
            )
    # Counted once: `header.count` per column took minutes for a header of 300,000 cells.
    duplicates = sorted(name for name, count in Counter(header).items() if count > 1)
    if duplicates:
        problems.append(Problem("header (line 1)", ", ".join(duplicates), "column given twice."))
    return problems
