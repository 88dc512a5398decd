"""Row checks. Each cell is checked and parsed as its declaration in registry/schema.py says
(its kind of cell, its limit from the model, its codes and validators); the rules that tie
cells or rows together (dissolved before formed, own parent, end before start, one name per
person, tenures) are written out below. Every problem is collected with its line and column;
a row with any problem is left out of what follows."""

from __future__ import annotations

import datetime
import functools
import itertools
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db import models

from ..csvcodec import LONE_SURROGATE, Record, load_list
from ..dates import PartialDate, periods_conflict
from ..models import Holding, identifier_validator
from ..schema import NUMBER_MAX, NUMBER_MIN, ORGANIZATIONS, POSTS, Cell, Field, Key
from .report import ImportReport, Problem
from .stored import DATA_FIELDS, chunks

# The model's own rule for identifiers (compiled here once: the validator compiles lazily).
IDENTIFIER = re.compile(identifier_validator.regex.pattern)
# ASCII digits only: str.isdigit() also accepts `²` (int() fails) and Arabic-Indic digits
# (int() reads them as numbers).
NUMBER = re.compile(r"[0-9]+")

# An organization's cells that are not lists: its id, its place in the tree (`parent`,
# `order`) and its data fields.
_PLAIN = tuple(f for f in ORGANIZATIONS if f.cell is not Cell.ITEMS)
_ITEMS = tuple(f for f in ORGANIZATIONS if f.cell is Cell.ITEMS)


def shown(value: str, limit: int = 100) -> str:
    """A cell quoted in a message: in full when short, else its start (a message may not
    become as long as the file)."""
    return value if len(value) <= limit else f"{value[:limit]}… ({len(value)} characters)"


def stored_value(field: Field, value):
    """A checked cell's value as its model field stores it: dates as text, an empty code of
    a nullable link as NULL."""
    if field.cell is Cell.DATE:
        return str(value or "")
    if field.cell is Cell.CODE and field.model_field.null:
        return value or None
    return value


class RowChecker:
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

    def value(self, field: Field, codes: Mapping[str, Iterable[str]]):
        """The cell of `field`, checked and parsed as its declaration says (a PartialDate
        for dates, an int for numbers, else the text); `codes` are the allowed codes of each
        code column."""
        column, required = field.column, not field.may_be_empty
        if field.cell is Cell.TEXT:
            return self.text(column, field.limit, required=required)
        if field.cell is Cell.IDENTIFIER:
            return self.identifier(column, required=required, limit=field.limit)
        if field.cell is Cell.CODE:
            return self.choice(column, codes[column], required=required)
        if field.cell is Cell.DATE:
            return self.date(column)
        if field.cell is Cell.NUMBER:
            return self.number(column)
        raise ValueError(f"{column}: a {field.cell.value} cell is not a single value.")

    def unspaced(self, column: str, value: str, what: str = "") -> bool:
        """Codes, identifiers, numbers and dates are matched exactly: spaces around one are
        refused, not trimmed (a trimmed value would not be what the file says)."""
        if value != value.strip():
            self.fail(
                column,
                f"{what}“{shown(value)}” has spaces (or other blank characters) before or "
                "after it; remove them.",
            )
            return False
        return True

    def identifier(self, column: str, *, required: bool, limit: int | None) -> str:
        value = self.cell(column)
        if not value:
            if required:
                self.fail(column, "empty; every row needs one.")
        elif not self.unspaced(column, value):
            pass
        elif limit is not None and len(value) > limit:
            self.fail(column, f"{len(value)} characters long; the limit is {limit}.")
        elif not IDENTIFIER.match(value):
            self.fail(
                column,
                f"“{shown(value)}” is not an identifier: use lowercase letters, digits and "
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
        if (value or required) and value not in allowed and self.unspaced(column, value):
            shown_value = f"“{shown(value)}”" if value else "empty"
            self.fail(
                column, f"{shown_value} is not allowed; use one of: {', '.join(sorted(allowed))}."
            )
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

    def items(self, field: Field) -> list[tuple]:
        """A JSON array cell: each object's values in the order of the declared keys, each
        checked as its key declares (limit, codes, validators, identifier, date)."""
        column, keys = field.column, field.keys
        checked = []
        for index, item in enumerate(self._objects(column, keys), start=1):
            for key in keys:
                value = item[key.name]
                # Codes are checked against their list, dates by their format: only text and
                # identifiers have a length of their own to check.
                limit = key.limit if key.cell in (Cell.TEXT, Cell.IDENTIFIER) else None
                if key.cell is Cell.CODE and value and value not in key.choices:
                    self.fail(
                        column,
                        f"item {index}: {key.name} “{value}” is not allowed; use one of: "
                        f"{', '.join(key.choices)}.",
                    )
                elif limit is not None and len(value) > limit:
                    self.fail(
                        column,
                        f"item {index}: “{key.name}”: {len(value)} characters long; the "
                        f"limit is {limit}.",
                    )
            checked.append(tuple(self._item_value(column, index, key, item) for key in keys))
        return checked

    def _item_value(self, column: str, index: int, key: Key, item: dict[str, str]) -> str:
        """One key's value in an item, its format checked (dates written as stored)."""
        value = item[key.name]
        if not value or key.cell is Cell.CODE or (key.cell is Cell.TEXT and not _formats(key)):
            return value
        if not self.unspaced(column, value, f"item {index}: {key.name} "):
            return "" if key.cell is Cell.DATE else value
        if key.cell is Cell.DATE:
            try:
                return str(PartialDate.parse(value))
            except ValueError as error:
                named = item[next(iter(item))]  # the item as its first key names it
                self.fail(column, f"item {index}: {key.name} of {named}: {error}")
                return ""
        if key.cell is Cell.IDENTIFIER:
            if not IDENTIFIER.match(value):
                self.fail(column, f"item {index}: “{value}” is not an identifier.")
        elif rule := _invalid(key, value):
            self.fail(column, f"item {index}: {key.name} “{shown(value)}” is not valid: {rule}")
        return value

    def _objects(self, column: str, keys: tuple[Key, ...]) -> list[dict[str, str]]:
        """A JSON array of objects with the given keys, each value text ("" when absent or
        refused), required ones not blank."""
        names = [key.name for key in keys]
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
            unknown = sorted(set(item) - set(names))
            if unknown:
                self.fail(
                    column,
                    f"item {index} has unknown key{'s' * (len(unknown) > 1)} "
                    f"{shown(', '.join(unknown))}; the keys are {', '.join(names)}.",
                )
            values = {}
            for key in keys:
                value = item.get(key.name, "")
                if not isinstance(value, str):
                    kind = "null" if value is None else type(value).__name__
                    self.fail(column, f"item {index}: “{key.name}” must be text, not {kind}.")
                    value = None
                elif "\x00" in value:
                    self.fail(
                        column, f"item {index}: “{key.name}” holds a NUL character (\\u0000)."
                    )
                    value = None
                elif LONE_SURROGATE.search(value):
                    self.fail(
                        column,
                        f"item {index}: “{key.name}” holds a lone surrogate, not a character.",
                    )
                    value = None
                if value is None:  # refused above; "" keeps the later checks simple
                    value = ""
                elif key.required and not value.strip():
                    self.fail(column, f"item {index}: “{key.name}” is required (not only spaces).")
                values[key.name] = value
            items.append(values)
        return items


@functools.cache
def _formats(key: Key) -> bool:
    """Whether the model gives the key's text a format (validators beyond its length)."""
    return any(not isinstance(v, MaxLengthValidator) for v in key.validators)


@functools.lru_cache(maxsize=4096)
def _invalid(key: Key, value: str) -> str | None:
    """Why the model's validators for `key` refuse `value`, or None: a file cannot store what
    the admin refuses (a `javascript:` address would be shown as a link; a language tag with
    spaces). Cached: a registry cites a few hundred addresses thousands of times, and
    URLValidator's expressions were a fifth of the row checks' time."""
    for validator in key.validators:
        try:
            validator(value)
        except ValidationError as error:
            if isinstance(key.model_field, models.URLField):
                return "use a full http:// or https:// address"
            return " ".join(error.messages)
    return None


# --- Organizations ----------------------------------------------------------------------------


@dataclass
class CheckedOrganization:
    """One checked organization row."""

    where: str
    index: int
    id: str
    parent: str
    order: int | None
    fields: dict  # attname -> stored value, for each of DATA_FIELDS
    # Each list column's items as tuples: once checked, rows are only compared (with the
    # stored ones) and written.
    items: dict[str, tuple[tuple, ...]]


def organization_codes() -> dict[str, set[str]]:
    """The codes each code column allows: the rows of the table its field links to."""
    return {
        f.column: set(f.model_field.related_model.objects.values_list("pk", flat=True))
        for f in _PLAIN
        if f.cell is Cell.CODE
    }


def check_organization(
    record: Record, index: int, problems: list[Problem], codes: Mapping[str, set[str]]
) -> CheckedOrganization | None:
    row = RowChecker(record, problems)
    values = {f.column: row.value(f, codes) for f in _PLAIN}
    formed, dissolved = values["formed"], values["dissolved"]
    if formed and dissolved and dissolved.is_before(formed):
        row.fail(
            "dissolved",
            f"the dissolution date ({dissolved.display()}) is before the formation date "
            f"({formed.display()}).",
        )
    if values["id"] and values["parent"] == values["id"]:
        row.fail("parent", "an organization cannot be its own parent.")
    items = {f.column: row.items(f) for f in _ITEMS}

    seen = set()
    for name_type, name, _ in items["other_names"]:
        if (name_type, name) in seen:
            row.fail("other_names", f"“{name}” is listed twice as {name_type}.")
        seen.add((name_type, name))
    if len(set(items["sources"])) != len(items["sources"]):
        row.fail("sources", "the same source and locator are listed twice.")
    predecessors = items["predecessors"]
    if any(predecessor == values["id"] for predecessor, _, _ in predecessors):
        row.fail("predecessors", "an organization cannot be its own predecessor.")
    if len({p[0] for p in predecessors}) != len(predecessors):
        row.fail("predecessors", "a predecessor is listed twice.")
    # Links have no order of their own (export writes them by id), so a file may list them in
    # any order; sorted, they compare equal to the stored ones (see `stored.current_rows`).
    items["predecessors"] = sorted(predecessors, key=by_id)
    if not row.ok:
        return None
    return CheckedOrganization(
        where=record.where,
        index=index,
        id=values["id"],
        parent=values["parent"],
        order=values["order"],
        fields={f.attname: stored_value(f, values[f.column]) for f in DATA_FIELDS},
        items={column: tuple(listed) for column, listed in items.items()},
    )


def by_id(link: tuple) -> str:
    """Predecessor links (id, date, note) sort by id."""
    return link[0]


# --- Posts ------------------------------------------------------------------------------------


@dataclass
class Holder:
    """One checked posts row (a post, and its holder when `person` is given)."""

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


def check_holder(record: Record, problems: list[Problem], organizations: set) -> Holder | None:
    row = RowChecker(record, problems)
    values = {f.column: row.value(f, {}) for f in POSTS}
    organization = values["organization"]
    if organization and IDENTIFIER.match(organization) and organization not in organizations:
        row.fail(
            "organization",
            f"unknown organization “{organization}”: import it first (organizations file).",
        )
    start, end = values["start"], values["end"]
    if start and end and end.is_before(start):
        row.fail("end", f"the end ({end.display()}) is before the start ({start.display()}).")
    if values["person_name"] and not values["person_name"].strip():
        row.fail("person_name", "holds only spaces; give the name, or leave it empty.")
    if not values["person"] and (
        values["person_name"] or values["person_name_zh"] or start or end
    ):
        row.fail("person", "empty, but the row gives a name or dates for a holder.")
    if not row.ok:
        return None
    return Holder(
        where=record.where, **{f.column: stored_value(f, values[f.column]) for f in POSTS}
    )


def same_names(
    holder: Holder, names: dict[tuple[str, str], tuple[str, str]], report: ImportReport
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


def check_tenures(holders: list[Holder], report: ImportReport, *, keep_end: bool) -> None:
    """The same person twice in one post: refused unless each holding is dated and ends
    before the next one starts. Holdings already stored count too (the file does not
    delete them), with their stored end when the file has no `end` column (`keep_end`)."""
    rows: dict[tuple, dict[str, tuple]] = defaultdict(dict)  # start -> (start, end, where)
    for h in holders:
        if h.person:
            rows[(h.organization, h.post, h.person)][h.start] = (h.start, h.end, h.where)
    repeated = {key for key, starts in rows.items() if len(starts) > 1}
    organizations = sorted({key[0] for key in rows})
    for chunk in chunks(organizations):
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
