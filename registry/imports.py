"""CSV import: the whole data flow in one place.

    read (decode, parse)  ->  check every row  ->  check the tree  ->  plan  ->  write  ->  report

All or nothing: if any row is bad, nothing is written and the report lists every problem with
its line, column and a plain reason. Rows may come in any order; parents are resolved by `id`
within the file and the registry. The tree's nested-set fields are computed here in Python and
written in bulk (django-mptt's per-row saves are far too slow for whole registries), in the same
transaction as the data, so the tree is valid after every import.

The columns and cell formats are documented in docs/csv.md.
"""

from __future__ import annotations

import datetime
import functools
import gc
import itertools
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter

from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.backends.base.operations import BaseDatabaseOperations

from .csvcodec import LONE_SURROGATE, CSVFormatError, Record, decode, load_list, read_records
from .database import insert_rows
from .dates import PartialDate, periods_conflict
from .models import (
    Citation,
    Holding,
    Kind,
    Organization,
    OtherName,
    Person,
    Post,
    Rank,
    Source,
    Succession,
)
from .trees import NestedSet, nested_set_layout

ORGANIZATION_COLUMNS = (
    "id",
    "parent",
    "order",
    "name",
    "kind",
    "rank",
    "other_names",
    "formed",
    "dissolved",
    "type",
    "location",
    "summary",
    "history",
    "functions",
    "sources",
    "predecessors",
)
ORGANIZATION_REQUIRED = ("id", "parent", "name", "kind", "rank")
POST_COLUMNS = (
    "organization",
    "post",
    "post_plural",
    "post_order",
    "person",
    "person_name",
    "person_name_zh",
    "holder_order",
    "start",
    "end",
)
POST_REQUIRED = ("organization", "post", "person")

IDENTIFIER = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# ASCII digits only: str.isdigit() also accepts `²` (int() fails) and Arabic-Indic digits
# (int() reads them as numbers).
NUMBER = re.compile(r"[0-9]+")


def _limit(model: type[models.Model], name: str) -> int | None:
    """A field's length limit, as the model declares it (None: unlimited)."""
    return model._meta.get_field(name).max_length


TEXT_FIELDS = ("name", "type", "location", "summary", "history", "functions")
TEXT_LIMITS = {name: _limit(Organization, name) for name in TEXT_FIELDS}
IDENTIFIER_LIMIT = _limit(Organization, "id")
PERSON_ID_LIMIT = _limit(Person, "id")
# The order columns are stored in PositiveSmallIntegerFields (post and holder positions); the
# range is the field type's own, not the database's (SQLite would store any integer).
NUMBER_MIN, NUMBER_MAX = BaseDatabaseOperations.integer_field_ranges[
    Post._meta.get_field("position").get_internal_type()
]
# Limits of the JSON cells' keys and of the posts file's columns, from the models.
OTHER_NAME_LIMITS = {"name": _limit(OtherName, "name"), "language": _limit(OtherName, "language")}
SOURCE_LIMITS = {
    "title": _limit(Source, "title"),
    "url": _limit(Source, "url"),
    "locator": _limit(Citation, "locator"),
}
PREDECESSOR_LIMITS = {"id": IDENTIFIER_LIMIT, "note": _limit(Succession, "note")}
POST_LIMITS = {
    "post": _limit(Post, "title"),
    "post_plural": _limit(Post, "plural_title"),
    "person_name": _limit(Person, "name"),
    "person_name_zh": _limit(Person, "name_zh"),
}
URL_VALIDATORS = Source._meta.get_field("url").validators
LANGUAGE_VALIDATORS = OtherName._meta.get_field("language").validators
NAME_TYPES = tuple(OtherName.Type.values)
CHUNK = 900  # ids per IN (...) query, under SQLite's bound-parameter limit
CHAIN_SHOWN = 10  # organizations of a cycle quoted in its messages
# Past this many ids, or this share of the registry, reading stored rows table by table beats
# IN (...) queries: on PostgreSQL each of those scans the whole related table anyway.
WHOLE_TABLES_FROM_IDS = 5000
WHOLE_TABLES_FROM_SHARE = 0.2
_by_id = itemgetter(0)  # predecessor links (id, date, note) sort by id

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Problem:
    where: str
    column: str
    message: str

    def __str__(self) -> str:
        column = f", column {self.column}" if self.column else ""
        return f"{self.where}{column}: {self.message}"


@dataclass
class RowOutcome:
    """What the import does (or would do) with one row: new, update or unchanged."""

    where: str
    key: str
    action: str
    changes: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    dataset: str
    problems: list[Problem] = field(default_factory=list)
    outcomes: list[RowOutcome] = field(default_factory=list)
    encoding: str = ""
    applied: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def count(self, action: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.action == action)

    @property
    def changed(self) -> int:
        return self.count("new") + self.count("update")

    def summary(self) -> str:
        if self.problems:
            rows = {problem.where for problem in self.problems}
            return (
                f"Rejected: {len(self.problems)} problem{'s' * (len(self.problems) != 1)} "
                f"in {len(rows)} row{'s' * (len(rows) != 1)}; nothing was written."
            )
        verb = "Imported" if self.applied else "Dry run, nothing written"
        return (
            f"{verb}: {len(self.outcomes)} {self.dataset} rows, {self.count('new')} new, "
            f"{self.count('update')} updated, {self.count('unchanged')} unchanged."
        )


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back."""


def _without_cycle_collection(function: Callable) -> Callable:
    """Run `function` with CPython's cycle collector paused (reference counting still frees
    everything as usual). An import keeps a few hundred thousand objects alive until it ends
    (records, checked rows, outcomes), and the collector walked all of them again each time
    they grew by a quarter: six full passes during a 100,000-row import, 1.3 s of its 6, and
    not one cycle found. The collector is process-wide; it resumes, if it was on, when the
    import ends."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        enabled = gc.isenabled()
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return wrapper


def _read_checked(
    source: bytes | str,
    encoding: str | None,
    report: ImportReport,
    columns: tuple[str, ...],
    required: tuple[str, ...],
) -> tuple[frozenset[str], list[Record]] | None:
    """The optional columns the file leaves out and the file's records, or None (with the
    problems in `report`) when the file as a whole cannot be used: unreadable, malformed, or
    with missing or unknown columns."""
    header, records = _read(source, encoding, report)
    if header is None:
        return None
    report.problems += _check_header(header, columns, required)
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
    return frozenset(columns) - set(header), well_formed


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


def _shown(value: str, limit: int = 100) -> str:
    """A cell quoted in a message: in full when short, else its start (a message may not
    become as long as the file)."""
    return value if len(value) <= limit else f"{value[:limit]}… ({len(value)} characters)"


class _RowChecker:
    """Collects a row's problems while converting its cells."""

    def __init__(self, record: Record, problems: list[Problem]):
        self.record = record
        self.problems = problems
        self.ok = True

    def fail(self, column: str, message: str) -> None:
        self.ok = False
        self.problems.append(Problem(self.record.where, column, message))

    def cell(self, column: str) -> str:
        return self.record.values.get(column, "")

    def unspaced(self, column: str, value: str, what: str = "") -> bool:
        """Codes, identifiers, numbers and dates are matched exactly: spaces around one are
        refused, not trimmed (a trimmed value would not be what the file says)."""
        if value != value.strip():
            self.fail(
                column,
                f"{what}“{_shown(value)}” has spaces (or other blank characters) before or "
                "after it; remove them.",
            )
            return False
        return True

    def identifier(
        self, column: str, *, required: bool, limit: int | None = IDENTIFIER_LIMIT
    ) -> str:
        value = self.cell(column)
        if not value:
            if required:
                self.fail(column, "empty; every row needs one.")
        elif not self.unspaced(column, value):
            pass
        elif limit is not None and len(value) > limit:
            self.fail(column, f"{len(value)} characters long; the limit is {limit}.")
        elif not IDENTIFIER.fullmatch(value):
            self.fail(
                column,
                f"“{_shown(value)}” is not an identifier: use lowercase letters, digits and "
                "single hyphens (e.g. npcsc-research-office).",
            )
        return value

    def text(self, column: str, limit: int | None, *, required: bool = False) -> str:
        """Free text, kept exactly as given (spaces included)."""
        value = self.cell(column)
        # Required text may not be blank (the admin refuses it too), but is otherwise kept
        # exactly, spaces included.
        if required and not value:
            self.fail(column, "empty; a name is required.")
        elif required and not value.strip():
            self.fail(column, "only spaces; a name is required.")
        if limit is not None and len(value) > limit:
            self.fail(column, f"{len(value)} characters long; the limit is {limit}.")
        return value

    def choice(self, column: str, allowed: Iterable[str], *, required: bool) -> str:
        value = self.cell(column)
        allowed = sorted(allowed)
        if (value or required) and value not in allowed and self.unspaced(column, value):
            shown = f"“{_shown(value)}”" if value else "empty"
            self.fail(column, f"{shown} is not allowed; use one of: {', '.join(allowed)}.")
        return value

    def date(self, column: str) -> PartialDate | None:
        value = self.cell(column)
        if not value or not self.unspaced(column, value):
            return None
        try:
            return PartialDate.parse(value)
        except ValueError as error:
            self.fail(column, str(error))
            return None

    def number(self, column: str) -> int | None:
        value = self.cell(column)
        if not value or not self.unspaced(column, value):
            return None
        # Bounded before int(): a cell of a million digits is refused at once.
        if (
            len(value) > len(str(NUMBER_MAX))
            or not NUMBER.fullmatch(value)
            or int(value) > NUMBER_MAX
        ):
            self.fail(
                column,
                f"“{value[:20]}” is not a whole number from {NUMBER_MIN} to {NUMBER_MAX} "
                "(digits 0-9 only).",
            )
            return None
        return int(value)

    def limited(self, column: str, label: str, value: str, limit: int | None) -> None:
        if limit is not None and len(value) > limit:
            self.fail(column, f"{label}: {len(value)} characters long; the limit is {limit}.")

    def items(self, column: str, keys: dict[str, bool]) -> list[dict[str, str]]:
        """A JSON array of objects with the given keys (key -> required)."""
        try:
            raw = load_list(self.cell(column))
        except ValueError as error:
            self.fail(column, str(error))
            return []
        if len(raw) > NUMBER_MAX + 1:  # their positions are stored as small integers
            self.fail(column, f"{len(raw)} items; the limit is {NUMBER_MAX + 1}.")
            return []
        items = []
        for index, item in enumerate(raw, start=1):
            if not isinstance(item, dict):
                self.fail(column, f"item {index} must be an object {{...}}.")
                continue
            unknown = sorted(set(item) - set(keys))
            if unknown:
                self.fail(
                    column,
                    f"item {index} has unknown key{'s' * (len(unknown) > 1)} "
                    f"{_shown(', '.join(unknown))}; the keys are {', '.join(keys)}.",
                )
            values = {}
            for key, required in keys.items():
                value = item.get(key, "")
                if not isinstance(value, str):
                    kind = "null" if value is None else type(value).__name__
                    self.fail(column, f"item {index}: “{key}” must be text, not {kind}.")
                    value = None
                elif "\x00" in value:
                    self.fail(column, f"item {index}: “{key}” holds a NUL character (\\u0000).")
                    value = None
                elif LONE_SURROGATE.search(value):
                    self.fail(
                        column, f"item {index}: “{key}” holds a lone surrogate, not a character."
                    )
                    value = None
                if value is None:  # refused above; "" keeps the later checks simple
                    value = ""
                elif required and not value.strip():
                    self.fail(column, f"item {index}: “{key}” is required (not only spaces).")
                values[key] = value
            items.append(values)
        return items


@dataclass
class _Org:
    """One checked organization row."""

    where: str
    index: int
    id: str
    parent: str
    order: int | None
    fields: dict
    # Tuples: once checked, rows are only compared (with `_current_rows`) and written.
    other_names: tuple[tuple, ...]
    sources: tuple[tuple, ...]
    predecessors: tuple[tuple, ...]


def _check_organization(
    record: Record, index: int, problems: list[Problem], kinds: set, ranks: set
) -> _Org | None:
    row = _RowChecker(record, problems)
    fields = {f: row.text(f, TEXT_LIMITS[f], required=f == "name") for f in TEXT_FIELDS}
    organization = _Org(
        where=record.where,
        index=index,
        id=row.identifier("id", required=True),
        parent=row.identifier("parent", required=False),
        order=row.number("order"),
        fields=fields,
        other_names=(),
        sources=(),
        predecessors=(),
    )
    fields["kind_id"] = row.choice("kind", kinds, required=True)
    fields["rank_id"] = row.choice("rank", ranks, required=False) or None
    formed, dissolved = row.date("formed"), row.date("dissolved")
    if formed and dissolved and dissolved.is_before(formed):
        row.fail(
            "dissolved",
            f"the dissolution date ({dissolved.display()}) is before the formation date "
            f"({formed.display()}).",
        )
    fields["formed"], fields["dissolved"] = str(formed or ""), str(dissolved or "")
    if organization.id and organization.parent == organization.id:
        row.fail("parent", "an organization cannot be its own parent.")

    seen, other_names = set(), []
    column = "other_names"
    for index, item in enumerate(
        row.items(column, {"type": True, "name": True, "language": False}), start=1
    ):
        if item["type"] and item["type"] not in NAME_TYPES:
            row.fail(
                column,
                f"item {index}: type “{item['type']}” is not allowed; use one of: "
                f"{', '.join(NAME_TYPES)}.",
            )
        for key, limit in OTHER_NAME_LIMITS.items():
            row.limited(column, f"item {index}: “{key}”", item[key], limit)
        if item["language"] and row.unspaced(column, item["language"], f"item {index}: language "):
            _check_validators(row, column, index, "language", item["language"])
        if (item["type"], item["name"]) in seen:
            row.fail(column, f"“{item['name']}” is listed twice as {item['type']}.")
        seen.add((item["type"], item["name"]))
        other_names.append((item["type"], item["name"], item["language"]))
    organization.other_names = tuple(other_names)

    sources = []
    column = "sources"
    for index, item in enumerate(
        row.items(column, {"title": True, "url": False, "locator": False}), start=1
    ):
        for key, limit in SOURCE_LIMITS.items():
            row.limited(column, f"item {index}: “{key}”", item[key], limit)
        if item["url"] and row.unspaced(column, item["url"], f"item {index}: url "):
            _check_validators(row, column, index, "url", item["url"])
        sources.append((item["title"], item["url"], item["locator"]))
    organization.sources = tuple(sources)
    if len(set(sources)) != len(sources):
        row.fail(column, "the same source and locator are listed twice.")

    predecessors = []
    column = "predecessors"
    for index, item in enumerate(
        row.items(column, {"id": True, "date": False, "note": False}), start=1
    ):
        predecessor = item["id"]
        for key, limit in PREDECESSOR_LIMITS.items():
            row.limited(column, f"item {index}: “{key}”", item[key], limit)
        if (
            predecessor
            and row.unspaced(column, predecessor, f"item {index}: id ")
            and not IDENTIFIER.fullmatch(predecessor)
        ):
            row.fail(column, f"item {index}: “{predecessor}” is not an identifier.")
        date = None
        if item["date"] and row.unspaced(column, item["date"], f"item {index}: date "):
            try:
                date = PartialDate.parse(item["date"])
            except ValueError as error:
                row.fail(column, f"item {index}: date of {predecessor}: {error}")
        if predecessor == organization.id:
            row.fail(column, "an organization cannot be its own predecessor.")
        predecessors.append((predecessor, str(date or ""), item["note"]))
    if len({p[0] for p in predecessors}) != len(predecessors):
        row.fail("predecessors", "a predecessor is listed twice.")
    # Links have no order of their own (export writes them by id), so a file may list them in
    # any order; sorted, they compare equal to the stored ones (see `_current_rows`).
    organization.predecessors = tuple(sorted(predecessors, key=_by_id))
    return organization if row.ok else None


_VALIDATORS = {"url": URL_VALIDATORS, "language": LANGUAGE_VALIDATORS}


@functools.lru_cache(maxsize=4096)
def _invalid(key: str, value: str) -> str | None:
    """Why the model's validators for `key` refuse `value`, or None. Cached: a registry cites
    a few hundred addresses thousands of times, and URLValidator's expressions were a fifth
    of the row checks' time."""
    for validator in _VALIDATORS[key]:
        try:
            validator(value)
        except ValidationError as error:
            if key == "url":
                return "use a full http:// or https:// address"
            return " ".join(error.messages)
    return None


def _check_validators(row: _RowChecker, column: str, index: int, key: str, value: str) -> None:
    """The model field's own validators, so that a file cannot store what the admin refuses
    (a `javascript:` address would be shown as a link; a language tag with spaces)."""
    if rule := _invalid(key, value):
        row.fail(column, f"item {index}: {key} “{_shown(value)}” is not valid: {rule}")


def _chunks(items: list, size: int = CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _find_cycles(parent_of: dict[str, str | None], starts: Iterable[str]) -> set[str]:
    """Nodes that are their own ancestor under `parent_of` (reached from `starts`)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: known to reach a root
    in_cycle: set[str] = set()
    for start in starts:
        path = []
        node = start
        while node is not None and state.get(node) is None:
            state[node] = 1
            path.append(node)
            node = parent_of.get(node)
        if node is not None and state.get(node) == 1:
            in_cycle.update(path[path.index(node) :])
        for visited in path:
            state[visited] = 2
    return in_cycle


@_without_cycle_collection
def import_organizations(
    source: bytes | str,
    *,
    encoding: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    report = ImportReport(dataset="organizations")
    read = _read_checked(source, encoding, report, ORGANIZATION_COLUMNS, ORGANIZATION_REQUIRED)
    if read is None:
        return report
    absent, records = read

    kinds = set(Kind.objects.values_list("code", flat=True))
    ranks = set(Rank.objects.values_list("code", flat=True))
    rows: list[_Org] = []
    first_line: dict[str, str] = {}
    for index, record in enumerate(records):
        row = _check_organization(record, index, report.problems, kinds, ranks)
        if row is None:
            continue
        if row.id in first_line:
            report.problems.append(
                Problem(row.where, "id", f"“{row.id}” is also on {first_line[row.id]}.")
            )
            continue
        first_line[row.id] = row.where
        rows.append(row)
        if progress and index % 5000 == 0:
            progress("checking", index, len(records))
    # The checked rows hold all that is needed from here on: let the parsed records (a dict
    # of cells per row) go now rather than keep them through the writes.
    del records

    with transaction.atomic():
        Organization.objects.lock_tree_writes()
        state = Organization.objects.nested_sets()
        by_id = {row.id: row for row in rows}
        known = by_id.keys() | state.keys()
        for row in rows:
            if row.parent and row.parent not in known:
                report.problems.append(
                    Problem(
                        row.where,
                        "parent",
                        f"unknown parent “{row.parent}”: no row in this file and no "
                        "organization in the registry has that id.",
                    )
                )
            for predecessor, _, _ in row.predecessors:
                if predecessor and predecessor not in known:
                    report.problems.append(
                        Problem(row.where, "predecessors", f"unknown id “{predecessor}”.")
                    )
        parent_of = {pk: node.parent for pk, node in state.items()}
        parent_of.update({row.id: row.parent or None for row in rows})
        cycles = [pk for pk in _find_cycles(parent_of, by_id) if pk in by_id]
        # Each cycle walked once: walking it again from each of its rows, and quoting it
        # whole in each row's message, was quadratic in time and in memory (a file of 20,000
        # rows in one cycle asked for gigabytes).
        cycle_of: dict[str, tuple[int, bool]] = {}  # node -> (cycle's length, registry's?)
        for node in cycles:
            if node not in cycle_of:
                members = [node]
                while (ancestor := parent_of[members[-1]]) != node:
                    members.append(ancestor)
                cycle = (len(members), any(pk in state for pk in members))
                cycle_of.update(dict.fromkeys(members, cycle))
        for node in sorted(cycles, key=lambda pk: by_id[pk].index):
            row = by_id[node]
            length, stored = cycle_of[node]
            chain = [node]
            while len(chain) < min(length, CHAIN_SHOWN):
                chain.append(parent_of[chain[-1]])
            if length > CHAIN_SHOWN:
                chain.append(f"… ({length - CHAIN_SHOWN} more)")
            reason = (
                "this move would make it its own ancestor"
                if stored
                else "the parents form a cycle"
            )
            report.problems.append(
                Problem(row.where, "parent", f"{reason}: {' → '.join([*chain, node])}.")
            )
        if report.problems:
            return report
        current = _current_rows([row.id for row in rows if row.id in state], len(state))
        _keep_absent_columns(rows, absent, current, report)
        if report.problems:
            return report
        try:
            with transaction.atomic():
                _write_organizations(
                    rows, state, parent_of, current, report, progress, keep_place="order" in absent
                )
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass
    report.applied = not dry_run
    return report


_DATA_FIELDS = (*TEXT_FIELDS, "kind_id", "rank_id", "formed", "dissolved")
_data_values = itemgetter(*_DATA_FIELDS)
_RELATED = ("other_names", "sources", "predecessors")
# Every column of a new organization: the data fields, `id`, `parent_id` and the tree fields.
_ORGANIZATION_ATTNAMES = tuple(f.attname for f in Organization._meta.concrete_fields)
_organization_values = itemgetter(*_ORGANIZATION_ATTNAMES)


def _limited(queryset: models.QuerySet, relation: str, batch: list[str] | None) -> Iterable:
    """`queryset` limited to the organizations in `batch` (reached through `relation`), or all
    of it, streamed, for None."""
    if batch is None:
        return queryset.iterator(chunk_size=10_000)
    return queryset.filter(**{f"{relation}__in": batch})


@dataclass
class _Stored:
    """What the registry holds for the file's existing rows, shaped like checked rows, by id;
    an organization without other names, sources or predecessors has no entry for them."""

    fields: dict[str, tuple] = field(default_factory=dict)  # values of _DATA_FIELDS
    other_names: dict[str, tuple[tuple, ...]] = field(default_factory=dict)
    sources: dict[str, tuple[tuple, ...]] = field(default_factory=dict)
    predecessors: dict[str, tuple[tuple, ...]] = field(default_factory=dict)


def _current_rows(ids: list[str], registry_size: int) -> _Stored:
    """The stored data of `ids`, for comparison with the file's rows."""
    stored = _Stored()
    if len(ids) > WHOLE_TABLES_FROM_IDS or len(ids) > WHOLE_TABLES_FROM_SHARE * registry_size:
        batches: Iterable[list[str] | None] = [None]  # None: every row, filtered here
    else:
        batches = _chunks(ids)
    wanted = set(ids)
    for batch in batches:
        organizations = Organization.objects.order_by().values_list("pk", *_DATA_FIELDS)
        for values in _limited(organizations, "pk", batch):
            if values[0] in wanted:
                stored.fields[values[0]] = values[1:]
        related = (
            (
                stored.other_names,
                OtherName.objects.order_by("organization", "position", "pk").values_list(
                    "organization", "name_type", "name", "language"
                ),
                "organization",
            ),
            (
                stored.sources,
                Citation.objects.order_by("organization", "position", "pk").values_list(
                    "organization", "source__title", "source__url", "locator"
                ),
                "organization",
            ),
            (
                stored.predecessors,
                Succession.objects.order_by("successor", "predecessor").values_list(
                    "successor", "predecessor", "date", "note"
                ),
                "successor",
            ),
        )
        for into, queryset, relation in related:
            for pk, group in groupby(_limited(queryset, relation, batch), key=itemgetter(0)):
                if pk in wanted:
                    into[pk] = tuple(values[1:] for values in group)
    # Sorted as checked rows are, whatever the database's collation.
    for pk, links in stored.predecessors.items():
        stored.predecessors[pk] = tuple(sorted(links, key=_by_id))
    return stored


def _current_children(state: dict[str, NestedSet]) -> dict[str | None, list[str]]:
    """Every parent's children in their stored order (None: the top-level bodies)."""
    current: dict[str | None, list[str]] = defaultdict(list)
    for pk, node in sorted(state.items(), key=lambda item: (item[1].tree_id, item[1].lft)):
        current[node.parent].append(pk)
    return current


def _final_children(
    current: dict[str | None, list[str]],
    state: dict[str, NestedSet],
    parent_of: dict[str, str | None],
    by_id: dict[str, _Org],
    *,
    keep_place: bool = False,
) -> dict[str | None, list[str]]:
    """Every parent's children in their final order. Rows keep their place from the file's
    `order` column (1 = first); rows without one go last, in file order; organizations not in
    the file keep their current position number, and so do, when the file has no `order`
    column at all (`keep_place`), the rows that stay under the same parent."""
    keys: dict[str | None, list[tuple]] = defaultdict(list)
    places: dict[str, int] = {}
    for parent, children in current.items():
        for position, pk in enumerate(children, start=1):
            if pk not in by_id:
                keys[parent].append(((position, 1, 0), pk))
            elif keep_place or parent is None:
                places[pk] = position
    for pk, row in by_id.items():
        parent = parent_of[pk]
        if parent is None and pk in state and state[pk].parent is None:
            # Existing top-level bodies keep their order (it is their tree id).
            keys[None].append(((places[pk], 0, row.index), pk))
        elif parent is None:
            keys[None].append(((float("inf"), 0, row.order or 0, row.index), pk))
        elif pk in places and parent == state[pk].parent:
            keys[parent].append(((places[pk], 1, 0), pk))
        else:
            order = row.order if row.order is not None else float("inf")
            keys[parent].append(((order, 0, row.index), pk))
    return {parent: [pk for _, pk in sorted(items)] for parent, items in keys.items()}


def _keep_absent_columns(
    rows: list[_Org], absent: frozenset[str], current: _Stored, report: ImportReport
) -> None:
    """A column the file leaves out keeps what the registry holds in the organizations the
    file updates: a file of ids and new names renames them, it does not empty their dates,
    texts, other names, sources and predecessors (new rows start with them empty)."""
    fields = [(name, index) for index, name in enumerate(_DATA_FIELDS) if name in absent]
    related = [name for name in _RELATED if name in absent]
    one_date_kept = ("formed" in absent) != ("dissolved" in absent)
    if not fields and not related:
        return
    for row in rows:
        stored = current.fields.get(row.id)
        if stored is None:
            continue
        for name, index in fields:
            row.fields[name] = stored[index]
        for name in related:
            setattr(row, name, getattr(current, name).get(row.id, ()))
        formed, dissolved = row.fields["formed"], row.fields["dissolved"]
        if not (one_date_kept and formed and dissolved):
            continue
        formed, dissolved = PartialDate.parse(formed), PartialDate.parse(dissolved)
        if dissolved.is_before(formed):
            given, kept = ("dissolved", "formed")
            if "dissolved" in absent:
                given, kept = kept, given
            report.problems.append(
                Problem(
                    row.where,
                    given,
                    f"the dissolution date ({dissolved.display()}) is before the formation "
                    f"date ({formed.display()}); the {kept} date is the registry's, as the "
                    f"file has no {kept} column.",
                )
            )


def _write_organizations(
    rows: list[_Org],
    state: dict[str, NestedSet],
    parent_of: dict[str, str | None],
    current: _Stored,
    report: ImportReport,
    progress: Progress | None,
    *,
    keep_place: bool,
) -> None:
    by_id = {row.id: row for row in rows}
    old_children = _current_children(state)
    children = _final_children(old_children, state, parent_of, by_id, keep_place=keep_place)

    # Which trees change shape: a parent whose ordered children differ.
    touched_parents = {
        parent
        for parent in children.keys() | old_children.keys()
        if parent is not None and children.get(parent, []) != old_children.get(parent, [])
    }
    # Sibling positions under the parents that change, looked up by id (a `list.index` per row
    # was quadratic for a unit with tens of thousands of children).
    new_places, old_places = (
        {pk: place for parent in touched_parents for place, pk in enumerate(lists.get(parent, []))}
        for lists in (children, old_children)
    )
    tree_values: dict[str, NestedSet] = {}
    if touched_parents or any(row.id not in state for row in rows):
        tree_values = _layout(children, parent_of, state, touched_parents, by_id)

    new_rows, updates, data_updates = [], [], []
    rewrite: dict[str, list[_Org]] = {name: [] for name in _RELATED}  # lists to (re)write
    for row in rows:
        if progress and row.index % 5000 == 0:
            progress("writing", row.index, len(rows))
        if row.id not in state:
            node = tree_values[row.id]
            values = {
                **row.fields,
                "id": row.id,
                "parent_id": node.parent,
                "tree_id": node.tree_id,
                "lft": node.lft,
                "rght": node.rght,
                "level": node.level,
            }
            new_rows.append(_organization_values(values))
            for name in _RELATED:
                if getattr(row, name):
                    rewrite[name].append(row)
            report.outcomes.append(RowOutcome(row.where, row.id, "new"))
            continue
        old, new = current.fields[row.id], _data_values(row.fields)
        changes = []
        if old != new:
            data_updates.append(row)
            changes = [
                f.removesuffix("_id")
                for f, old_value, new_value in zip(_DATA_FIELDS, old, new, strict=True)
                if old_value != new_value
            ]
        for name in _RELATED:
            if getattr(current, name).get(row.id, ()) != getattr(row, name):
                changes.append(name.replace("_", " "))
                rewrite[name].append(row)
        if parent_of[row.id] != state[row.id].parent:
            changes.append(
                f"moved from {state[row.id].parent or 'top level'} to {row.parent or 'top level'}"
            )
        elif row.parent in touched_parents and new_places[row.id] != old_places[row.id]:
            changes.append("reordered")
        report.outcomes.append(
            RowOutcome(row.where, row.id, "update" if changes else "unchanged", changes)
        )
    for pk, values in tree_values.items():
        if pk in state and values != state[pk]:
            updates.append((*values, pk))

    insert_rows(Organization, _ORGANIZATION_ATTNAMES, new_rows)
    table = Organization._meta.db_table
    with connection.cursor() as cursor:
        if updates:
            cursor.executemany(
                f"UPDATE {table} SET parent_id = %s, tree_id = %s, lft = %s, rght = %s, "
                "level = %s WHERE id = %s",
                updates,
            )
        if data_updates:
            assignments = ", ".join(f"{f} = %s" for f in _DATA_FIELDS)
            cursor.executemany(
                f"UPDATE {table} SET {assignments} WHERE id = %s",
                [(*_data_values(row.fields), row.id) for row in data_updates],
            )
    _write_related(rewrite, current)


def _layout(
    children: dict[str | None, list[str]],
    parent_of: dict[str, str | None],
    state: dict[str, NestedSet],
    touched_parents: set[str],
    by_id: dict[str, _Org],
) -> dict[str, NestedSet]:
    """The nested-set fields of every node of every tree that changes."""

    found: dict[str, str] = {}  # node -> its root: a deep chain is walked once, not per node

    def root_of(pk: str) -> str:
        path = []
        while pk not in found and parent_of[pk] is not None:
            path.append(pk)
            pk = parent_of[pk]
        root = found.get(pk, pk)
        found.update(dict.fromkeys(path, root))
        return root

    roots = {root_of(pk) for pk in touched_parents}
    roots |= {root_of(pk) for pk in by_id if pk not in state or parent_of[pk] != state[pk].parent}
    # Trees a node moved out of change shape too.
    old_roots = {}
    for pk in by_id:
        if pk in state and parent_of[pk] != state[pk].parent and state[pk].parent is not None:
            old_roots[state[pk].tree_id] = None
    if old_roots:
        for pk, (parent, tree_id, *_rest) in state.items():
            if parent is None and tree_id in old_roots:
                roots.add(root_of(pk))

    next_tree_id = max((node.tree_id for node in state.values()), default=0) + 1
    trees = []
    for root in children.get(None, []):
        if root not in roots:
            continue
        if root in state and state[root].parent is None:
            trees.append((root, state[root].tree_id))
        else:
            trees.append((root, next_tree_id))
            next_tree_id += 1
    return nested_set_layout(children, trees)


def _write_related(rewrite: dict[str, list[_Org]], current: _Stored) -> None:
    """Replace other names, citations and predecessor links of the rows in `rewrite`."""
    stale = {
        name: [row.id for row in items if row.id in current.fields]
        for name, items in rewrite.items()
    }
    for chunk in _chunks(stale["other_names"]):
        OtherName.objects.filter(organization__in=chunk).delete()
    for chunk in _chunks(stale["sources"]):
        Citation.objects.filter(organization__in=chunk).delete()
    for chunk in _chunks(stale["predecessors"]):
        Succession.objects.filter(successor__in=chunk).delete()

    insert_rows(
        OtherName,
        ("organization", "name_type", "name", "language", "position"),
        [
            (row.id, kind, name, language, position)
            for row in rewrite["other_names"]
            for position, (kind, name, language) in enumerate(row.other_names)
        ],
    )
    wanted = {(title, url) for row in rewrite["sources"] for title, url, _ in row.sources}
    sources = {
        (title, url): pk
        for pk, title, url in Source.objects.values_list("pk", "title", "url")
        if (title, url) in wanted
    }
    missing = [Source(title=t, url=u) for t, u in sorted(wanted - sources.keys())]
    Source.objects.bulk_create(missing)
    if missing:
        sources = {
            (title, url): pk for pk, title, url in Source.objects.values_list("pk", "title", "url")
        }
    insert_rows(
        Citation,
        ("organization", "source", "locator", "position"),
        [
            (row.id, sources[(title, url)], locator, position)
            for row in rewrite["sources"]
            for position, (title, url, locator) in enumerate(row.sources)
        ],
    )
    insert_rows(
        Succession,
        ("predecessor", "successor", "date", "note"),
        [
            (pk, row.id, date, note)
            for row in rewrite["predecessors"]
            for pk, date, note in row.predecessors
        ],
    )


# --- Posts ----------------------------------------------------------------------------------


@dataclass
class _Holder:
    where: str
    organization: str
    post: str
    post_plural: str
    post_order: int | None
    person: str
    person_name: str
    person_name_zh: str
    holder_order: int | None
    start: str
    end: str


def _check_holder(record: Record, problems: list[Problem], organizations: set) -> _Holder | None:
    row = _RowChecker(record, problems)
    organization = row.identifier("organization", required=True)
    if organization and IDENTIFIER.fullmatch(organization) and organization not in organizations:
        row.fail(
            "organization",
            f"unknown organization “{organization}”: import it first (organizations file).",
        )
    holder = _Holder(
        where=record.where,
        organization=organization,
        post=row.text("post", POST_LIMITS["post"], required=True),
        post_plural=row.text("post_plural", POST_LIMITS["post_plural"]),
        post_order=row.number("post_order"),
        person=row.identifier("person", required=False, limit=PERSON_ID_LIMIT),
        person_name=row.text("person_name", POST_LIMITS["person_name"]),
        person_name_zh=row.text("person_name_zh", POST_LIMITS["person_name_zh"]),
        holder_order=row.number("holder_order"),
        start="",
        end="",
    )
    start, end = row.date("start"), row.date("end")
    if start and end and end.is_before(start):
        row.fail("end", f"the end ({end.display()}) is before the start ({start.display()}).")
    holder.start, holder.end = str(start or ""), str(end or "")
    if holder.person_name and not holder.person_name.strip():
        row.fail("person_name", "holds only spaces; give the name, or leave it empty.")
    if not holder.person and (holder.person_name or holder.person_name_zh or start or end):
        row.fail("person", "empty, but the row gives a name or dates for a holder.")
    return holder if row.ok else None


@_without_cycle_collection
def import_posts(
    source: bytes | str,
    *,
    encoding: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    report = ImportReport(dataset="posts")
    read = _read_checked(source, encoding, report, POST_COLUMNS, POST_REQUIRED)
    if read is None:
        return report
    absent, records = read

    with transaction.atomic():
        Organization.objects.lock_tree_writes()
        organizations = set(Organization.objects.values_list("pk", flat=True))
        people = {
            pk: (name, name_zh)
            for pk, name, name_zh in Person.objects.values_list("pk", "name", "name_zh")
        }
        holders: list[_Holder] = []
        seen: dict[tuple, str] = {}
        post_settings: dict[tuple, tuple] = {}
        names: dict[tuple[str, str], tuple[str, str]] = {}  # (person, column) -> (name, where)
        for index, record in enumerate(records):
            holder = _check_holder(record, report.problems, organizations)
            if progress and index % 5000 == 0:
                progress("checking", index, len(records))
            if holder is None:
                continue
            post_key = (holder.organization, holder.post)
            key = (*post_key, holder.person, holder.start)
            if key in seen:
                report.problems.append(
                    Problem(holder.where, "person", f"the same holding is also on {seen[key]}.")
                )
                continue
            seen[key] = holder.where
            settings = (holder.post_plural, holder.post_order)
            if post_settings.setdefault(post_key, (settings, holder.where))[0] != settings:
                first = post_settings[post_key][1]
                report.problems.append(
                    Problem(
                        holder.where,
                        "post_plural, post_order",
                        f"differ from {first} for the same post; give them once, alike.",
                    )
                )
                continue
            if holder.person and holder.person not in people and not holder.person_name.strip():
                report.problems.append(
                    Problem(
                        holder.where,
                        "person_name",
                        f"“{holder.person}” is a new person: give their name in person_name.",
                    )
                )
                continue
            if not _same_names(holder, names, report):
                continue
            holders.append(holder)
        if not report.problems:
            _check_tenures(holders, report, keep_end="end" in absent)
        if report.problems:
            return report
        try:
            with transaction.atomic():
                _write_posts(holders, people, report, absent)
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass
    report.applied = not dry_run
    return report


def _same_names(
    holder: _Holder, names: dict[tuple[str, str], tuple[str, str]], report: ImportReport
) -> bool:
    """One person, one name: rows giving a person's name (or Chinese name) must agree, or the
    last row would silently win."""
    ok = True
    for column in ("person_name", "person_name_zh"):
        value = getattr(holder, column)
        if not holder.person or not value:
            continue
        first = names.setdefault((holder.person, column), (value, holder.where))
        if first[0] != value:
            ok = False
            report.problems.append(
                Problem(
                    holder.where,
                    column,
                    f"“{holder.person}” is named “{first[0]}” on {first[1]} and “{value}” "
                    "here; a person has one name: give the same one in every row (or leave "
                    "it empty).",
                )
            )
    return ok


def _check_tenures(holders: list[_Holder], report: ImportReport, *, keep_end: bool) -> None:
    """The same person twice in one post: refused unless each holding is dated and ends
    before the next one starts. Holdings already stored count too (the file does not
    delete them), with their stored end when the file has no `end` column (`keep_end`)."""
    rows: dict[tuple, dict[str, tuple]] = defaultdict(dict)  # start -> (start, end, where)
    for h in holders:
        if h.person:
            rows[(h.organization, h.post, h.person)][h.start] = (h.start, h.end, h.where)
    repeated = {key for key, starts in rows.items() if len(starts) > 1}
    organizations = sorted({key[0] for key in rows})
    for chunk in _chunks(organizations):
        stored = Holding.objects.filter(post__organization__in=chunk).values_list(
            "post__organization_id", "post__title", "person_id", "start", "end"
        )
        for organization, title, person, start, end in stored:
            key = (organization, title, person)
            if key in rows and start not in rows[key]:
                rows[key][start] = (start, end, "")
                repeated.add(key)
            elif key in rows and keep_end:
                rows[key][start] = (start, end, rows[key][start][2])
    for key in sorted(repeated):
        tenures = sorted(
            rows[key].values(),
            key=lambda t: PartialDate.parse(t[0]).earliest if t[0] else datetime.date.min,
        )
        for earlier, later in itertools.pairwise(tenures):
            reason = periods_conflict(earlier[:2], later[:2])
            if reason is None:
                continue
            where = later[2] or earlier[2]
            other = earlier[2] if later[2] else "the registry"
            other = other or "the registry"
            report.problems.append(
                Problem(
                    where,
                    "person",
                    f"“{key[2]}” holds “{key[1]}” also on {other}: {reason}.",
                )
            )


def _write_posts(
    holders: list[_Holder],
    people: dict[str, tuple[str, str]],
    report: ImportReport,
    absent: frozenset[str],
) -> None:
    """Write the checked rows. A column the file leaves out keeps what the registry holds in
    the posts and holdings the file updates (new ones start with it empty)."""
    organizations = sorted({h.organization for h in holders})
    posts: dict[tuple, Post] = {}
    for chunk in _chunks(organizations):
        for post in Post.objects.filter(organization__in=chunk):
            posts[(post.organization_id, post.title)] = post
    holdings: dict[tuple, Holding] = {}
    for chunk in _chunks([p.pk for p in posts.values()]):
        for holding in Holding.objects.filter(post__in=chunk).select_related("post"):
            key = (holding.post.organization_id, holding.post.title, holding.person_id)
            holdings[(*key, str(holding.start or ""))] = holding

    new_people: dict[str, Person] = {}
    renamed: dict[str, Person] = {}
    for h in holders:
        if not h.person:
            continue
        # Names are stored as given (no trimming), so that round trips are lossless; an
        # empty cell leaves a known person's name as it is (rows agree: `_same_names`).
        if h.person not in people:
            person = new_people.setdefault(h.person, Person(id=h.person, name=h.person_name))
            person.name_zh = person.name_zh or h.person_name_zh
            continue
        name, name_zh = people[h.person]
        person = renamed.get(h.person) or Person(id=h.person, name=name, name_zh=name_zh)
        person.name = h.person_name or person.name
        person.name_zh = h.person_name_zh or person.name_zh
        if (person.name, person.name_zh) != (name, name_zh):
            renamed[h.person] = person
    Person.objects.bulk_create(new_people.values(), batch_size=2000)
    Person.objects.bulk_update(renamed.values(), ["name", "name_zh"], batch_size=2000)

    changed_posts = {}
    for h in holders:
        key = (h.organization, h.post)
        wanted = {"plural_title": h.post_plural, "position": h.post_order or 0}
        post = posts.get(key)
        if post is not None:
            for name, column in (("plural_title", "post_plural"), ("position", "post_order")):
                if column in absent:
                    wanted[name] = getattr(post, name)
        if post is None:
            post = posts[key] = Post(organization_id=h.organization, title=h.post, **wanted)
            post.import_action = "new"
            changed_posts[key] = post
        elif key not in changed_posts and any(getattr(post, f) != v for f, v in wanted.items()):
            for name, value in wanted.items():
                setattr(post, name, value)
            post.import_action = "update"
            changed_posts[key] = post
    # Split before creating: bulk_create gives the new posts their pks, and updating them as
    # well was one UPDATE with a CASE branch per post, quadratic on PostgreSQL (minutes at
    # 40,000 posts).
    new_posts = [p for p in changed_posts.values() if p.pk is None]
    updated_posts = [p for p in changed_posts.values() if p.pk is not None]
    Post.objects.bulk_create(new_posts, batch_size=2000)
    Post.objects.bulk_update(updated_posts, ["plural_title", "position"], batch_size=2000)
    if any(p.pk is None for p in posts.values()):  # databases that return no new pks
        for chunk in _chunks(organizations):
            for post in Post.objects.filter(organization__in=chunk):
                posts[(post.organization_id, post.title)].pk = post.pk

    new_holdings, changed_holdings = [], []
    for h in holders:
        key = (h.organization, h.post)
        changes = []
        if key in changed_posts:
            changes.append(f"post {changed_posts[key].import_action}")
        if h.person in new_people:
            changes.append("new person")
        elif h.person in renamed:
            changes.append("person renamed")
        action = "update" if changes else "unchanged"
        if h.person:
            holding = holdings.get((*key, h.person, h.start))
            wanted = {"position": h.holder_order or 0, "end": h.end}
            if holding is not None and "holder_order" in absent:
                wanted["position"] = holding.position
            if holding is not None and "end" in absent:
                wanted["end"] = str(holding.end or "")
            if holding is None:
                new_holdings.append(
                    Holding(post_id=posts[key].pk, person_id=h.person, start=h.start, **wanted)
                )
                action = "new"
            elif holding.position != wanted["position"] or str(holding.end or "") != wanted["end"]:
                holding.position, holding.end = wanted["position"], wanted["end"]
                changed_holdings.append(holding)
                changes.append("holder order or end date")
                action = "update"
        elif key in changed_posts and changed_posts[key].import_action == "new":
            action = "new"
        report.outcomes.append(
            RowOutcome(h.where, f"{h.organization} / {h.post} / {h.person}", action, changes)
        )
    Holding.objects.bulk_create(new_holdings, batch_size=2000)
    Holding.objects.bulk_update(changed_holdings, ["position", "end"], batch_size=2000)
