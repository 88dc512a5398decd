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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db import models

from ..csvcodec import LONE_SURROGATE, Record, load_list
from ..dates import PartialDate, periods_conflict
from ..identifiers import identifier_problem, scheme_problem
from ..models import (
    IDENTIFIER_RULE,
    EventOrganization,
    Holding,
    Source,
    identifier_validator,
    outside_existence,
    placement_conflict,
)
from ..schema import (
    EVENTS,
    NUMBER_MAX,
    NUMBER_MIN,
    ORGANIZATIONS,
    PLACEMENTS,
    POSTS,
    Cell,
    Dataset,
    Field,
    Key,
)
from .report import ImportReport, Problem
from .stored import DATA_FIELDS, Existence, chunks, identifier_owners

# The model's own rule for identifiers (compiled here once: the validator compiles lazily).
IDENTIFIER = re.compile(identifier_validator.regex.pattern)
# ASCII digits only: str.isdigit() also accepts `²` (int() fails) and Arabic-Indic digits
# (int() reads them as numbers).
NUMBER = re.compile(r"[0-9]+")


def _invalid(validators: tuple, url: bool, value: str) -> str | None:
    """Why the model's validators refuse `value`, or None: a file cannot store what the admin
    refuses (a `javascript:` address would be shown as a link; a language tag with spaces).
    Cached per key (`_Rule.of`): a registry cites a few hundred addresses thousands of times,
    and URLValidator's expressions were a fifth of the row checks' time."""
    for validator in validators:
        try:
            validator(value)
        except ValidationError as error:
            if url:
                return "use a full http:// or https:// address"
            return " ".join(error.messages)
    return None


class _Rule(NamedTuple):
    """One key of a JSON array cell's objects, as declared, read once."""

    name: str
    cell: Cell
    required: bool
    limit: int | None  # text and identifiers only: codes and dates have their own checks
    choices: tuple[str, ...]
    invalid: Callable[[str], str | None] | None  # the model's format rule for text, if any

    @classmethod
    def of(cls, key: Key) -> _Rule:
        invalid = None
        if key.cell is Cell.TEXT and any(
            not isinstance(v, MaxLengthValidator) for v in key.validators
        ):
            url = isinstance(key.model_field, models.URLField)
            invalid = functools.lru_cache(maxsize=4096)(
                functools.partial(_invalid, tuple(key.validators), url)
            )
        limit = key.limit if key.cell in (Cell.TEXT, Cell.IDENTIFIER) else None
        return cls(key.name, key.cell, key.required, limit, key.choices, invalid)


def shown(value: str, limit: int = 100) -> str:
    """A cell quoted in a message: in full when short, else its start (a message may not
    become as long as the file)."""
    return value if len(value) <= limit else f"{value[:limit]}… ({len(value)} characters)"


class RowChecker:
    """Collects a row's problems while converting its cells."""

    def __init__(
        self, record: Record, problems: list[Problem], codes: Mapping[str, Iterable[str]]
    ):
        self.record = record
        self.problems = problems
        self.codes = codes  # the allowed codes of each code column
        self.ok = True
        self.dates: dict[str, PartialDate | None] = {}  # the parsed dates, by column

    def fail(self, column: str, message: str) -> None:
        self.ok = False
        self.problems.append(Problem(self.record.where, column, message))

    def cell(self, column: str) -> str:
        return self.record.values.get(column, "")

    def value(self, spec: _Plain) -> str | int | None:
        """The cell of `spec`, checked and parsed as declared, as the model stores it."""
        return spec.check(self, *spec.args)

    def code(self, column: str, required: bool, null: bool) -> str | None:
        """A code of the column's list; empty is stored as NULL where the field allows it."""
        value = self.choice(column, self.codes[column], required=required)
        return value or None if null else value

    def stored_date(self, column: str, required: bool = False) -> str:
        """A partial date as stored (text); the parsed date is kept in `dates`."""
        date = self.dates[column] = self.date(column)
        if required and not self.cell(column):
            self.fail(column, "empty; every row needs a date here.")
        return str(date or "")

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

    def identifier(self, column: str, required: bool, limit: int | None) -> str:
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
                f"“{shown(value)}” is not an identifier: use {IDENTIFIER_RULE} "
                "(e.g. npcsc-research-office).",
            )
        return value

    def text(self, column: str, limit: int | None, required: bool = False) -> str:
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

    def items(self, column: str, rules: tuple[_Rule, ...]) -> list[tuple]:
        """A JSON array cell: each object's values in the order of the declared keys, each
        checked as its key declares (limit, codes, validators, identifier, date)."""
        if not self.cell(column):
            return []
        # Only the keys that have something to check are visited.
        measured = [rule for rule in rules if rule.choices or rule.limit is not None]
        formatted = [
            (place, rule)
            for place, rule in enumerate(rules)
            if rule.cell in (Cell.DATE, Cell.IDENTIFIER) or rule.invalid is not None
        ]
        checked = []
        for index, item in enumerate(self._objects(column, rules), start=1):
            for rule in measured:
                value = item[rule.name]
                if rule.choices and value and value not in rule.choices:
                    self.fail(
                        column,
                        f"item {index}: {rule.name} “{value}” is not allowed; use one of: "
                        f"{', '.join(rule.choices)}.",
                    )
                elif rule.limit is not None and len(value) > rule.limit:
                    self.fail(
                        column,
                        f"item {index}: “{rule.name}”: {len(value)} characters long; the "
                        f"limit is {rule.limit}.",
                    )
            values = list(item.values())  # in the order of the keys (`_objects`)
            for place, rule in formatted:
                if values[place]:
                    values[place] = self._item_value(column, index, rule, item)
            checked.append(tuple(values))
        return checked

    def _item_value(self, column: str, index: int, rule: _Rule, item: dict[str, str]) -> str:
        """One key's (non-empty) value in an item, its format checked (dates written as
        stored)."""
        value, cell = item[rule.name], rule.cell
        if not self.unspaced(column, value, f"item {index}: {rule.name} "):
            return "" if cell is Cell.DATE else value
        if cell is Cell.DATE:
            try:
                return str(PartialDate.parse(value))
            except ValueError as error:
                named = item[next(iter(item))]  # the item as its first key names it
                self.fail(column, f"item {index}: {rule.name} of {named}: {error}")
                return ""
        if cell is Cell.IDENTIFIER:
            if not IDENTIFIER.match(value):
                self.fail(column, f"item {index}: “{value}” is not an identifier.")
        elif reason := rule.invalid(value):
            self.fail(column, f"item {index}: {rule.name} “{shown(value)}” is not valid: {reason}")
        return value

    def _objects(self, column: str, keys: tuple[_Rule, ...]) -> list[dict[str, str]]:
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


class _Plain(NamedTuple):
    """A plain cell's declaration, read once into the check to call: the declaration's
    properties are not free, and a file has hundreds of thousands of cells."""

    column: str
    name: str  # where the checked value goes: the model's attname for organizations
    check: Callable[..., str | int | None]  # a RowChecker method, called with `args`
    args: tuple

    @classmethod
    def of(cls, field: Field, name: str = "") -> _Plain:
        column, required, limit = field.column, not field.may_be_empty, field.limit
        null = field.model_field is not None and field.model_field.null
        check, args = {
            Cell.TEXT: (RowChecker.text, (column, limit, required)),
            Cell.IDENTIFIER: (RowChecker.identifier, (column, required, limit)),
            Cell.CODE: (RowChecker.code, (column, required, null)),
            Cell.DATE: (RowChecker.stored_date, (column, required)),
            Cell.NUMBER: (RowChecker.number, (column,)),
        }[field.cell]
        return cls(column, name or column, check, args)


# --- Organizations ----------------------------------------------------------------------------


# An organization's identity and place in the tree, its data fields (by attname, as stored),
# and its list cells; a posts row's cells.
_ID, _PARENT, _ORDER = (_Plain.of(ORGANIZATIONS[column]) for column in ("id", "parent", "order"))
_DATA = tuple(_Plain.of(f, f.attname) for f in DATA_FIELDS)
_ITEMS = tuple(
    (f.column, tuple(_Rule.of(key) for key in f.keys))
    for f in ORGANIZATIONS
    if f.cell is Cell.ITEMS
)
_POSTS = tuple(_Plain.of(f) for f in POSTS if f.cell is not Cell.ITEMS)
_PERSON_IDENTIFIERS = tuple(_Rule.of(key) for key in POSTS["person_identifiers"].keys)


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


def codes(fields: Dataset) -> dict[str, set[str]]:
    """The codes each code column allows: the rows of the table its field links to, or the
    field's choices."""
    return {
        f.column: set(f.model_field.related_model.objects.values_list("pk", flat=True))
        if f.model_field.is_relation
        else {value for value, _ in f.model_field.choices}
        for f in fields
        if f.cell is Cell.CODE
    }


def organization_codes() -> dict[str, set[str]]:
    return codes(ORGANIZATIONS)


def check_organization(
    record: Record, index: int, problems: list[Problem], codes: Mapping[str, set[str]]
) -> CheckedOrganization | None:
    row = RowChecker(record, problems, codes)
    organization_id, parent, order = row.value(_ID), row.value(_PARENT), row.value(_ORDER)
    fields = {spec.name: spec.check(row, *spec.args) for spec in _DATA}
    formed, dissolved = row.dates["formed"], row.dates["dissolved"]
    if formed and dissolved and dissolved.is_before(formed):
        row.fail(
            "dissolved",
            f"the dissolution date ({dissolved.display()}) is before the formation date "
            f"({formed.display()}).",
        )
    if organization_id and parent == organization_id:
        row.fail("parent", "an organization cannot be its own parent.")
    items = {column: row.items(column, rules) for column, rules in _ITEMS}

    seen = set()
    for name_type, name, _, start, end in items["other_names"]:
        if (name_type, name) in seen:
            row.fail("other_names", f"“{name}” is listed twice as {name_type}.")
        seen.add((name_type, name))
        if start and end and PartialDate.parse(end).is_before(PartialDate.parse(start)):
            row.fail("other_names", f"“{name}”: its end ({end}) is before its start ({start}).")
    items["identifiers"] = check_identifiers(row, "identifiers", items["identifiers"])
    if len(set(items["sources"])) != len(items["sources"]):
        row.fail("sources", "the same source and locator are listed twice.")
    predecessors = items["predecessors"]
    if any(predecessor == organization_id for predecessor, _, _ in predecessors):
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
        id=organization_id,
        parent=parent,
        order=order,
        fields=fields,
        items={column: tuple(listed) for column, listed in items.items()},
    )


def check_identifiers(row: RowChecker, column: str, identifiers: list[tuple]) -> list[tuple]:
    """An `identifiers` cell's (scheme, identifier) pairs: each identifier in its scheme's
    format (registry/identifiers.py, as the admin checks it), none twice. Sorted: their order
    does not matter, and sorted they compare equal to the stored ones."""
    for index, (scheme, identifier) in enumerate(identifiers, start=1):
        if not identifier or scheme_problem(scheme):
            continue  # refused already (required key, or the scheme field's own validator)
        if problem := identifier_problem(scheme, identifier):
            row.fail(column, f"item {index}: {problem}")
    if len(set(identifiers)) != len(identifiers):
        row.fail(column, "the same scheme and identifier are listed twice.")
    return sorted(identifiers)


def check_identifier_owners(
    claims: Iterable[tuple[str, tuple[str, str], tuple[str, str]]],
    replaced: set[tuple[str, str]],
    column: str,
    report: ImportReport,
) -> None:
    """One scheme and identifier belongs to one record (the database's constraint): refuse one
    that two records of the file claim, or that a record of the registry holds, unless the
    file replaces that record's identifiers (`replaced`) without it. `claims`: (where, owner,
    (scheme, identifier)), an owner ("organization", id) or ("person", id)."""
    claims = list(claims)
    first: dict[tuple[str, str], tuple[str, tuple[str, str]]] = {}
    for where, owner, key in claims:
        seen = first.setdefault(key, (where, owner))
        if seen[1] != owner:
            report.problems.append(
                Problem(
                    where,
                    column,
                    f"{key[0]} {key[1]} is also given to {seen[1][0]} “{seen[1][1]}” on "
                    f"{seen[0]}; an identifier names one record.",
                )
            )
    holders = identifier_owners(first)
    for where, owner, key in claims:
        holder = holders.get(key)
        if holder is not None and holder != owner and holder not in replaced:
            report.problems.append(
                Problem(
                    where,
                    column,
                    f"{key[0]} {key[1]} belongs to {holder[0]} “{holder[1]}” in the registry; "
                    "an identifier names one record: take it from there first.",
                )
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
    # (scheme, identifier) pairs, sorted; None when the cell is empty (it says nothing).
    person_identifiers: tuple[tuple[str, str], ...] | None = None


def check_holder(record: Record, problems: list[Problem], organizations: set) -> Holder | None:
    row = RowChecker(record, problems, {})
    values = {spec.column: spec.check(row, *spec.args) for spec in _POSTS}
    organization = values["organization"]
    if organization and IDENTIFIER.match(organization) and organization not in organizations:
        row.fail(
            "organization",
            f"unknown organization “{organization}”: import it first (organizations file).",
        )
    start, end = row.dates["start"], row.dates["end"]
    if start and end and end.is_before(start):
        row.fail("end", f"the end ({end.display()}) is before the start ({start.display()}).")
    if values["person_name"] and not values["person_name"].strip():
        row.fail("person_name", "holds only spaces; give the name, or leave it empty.")
    identifiers = None
    if row.cell("person_identifiers"):
        listed = row.items("person_identifiers", _PERSON_IDENTIFIERS)
        identifiers = tuple(check_identifiers(row, "person_identifiers", listed))
    if not values["person"] and (
        values["person_name"]
        or values["person_name_zh"]
        or identifiers is not None
        or start
        or end
    ):
        row.fail("person", "empty, but the row gives a name, identifiers or dates for a holder.")
    if not row.ok:
        return None
    return Holder(record.where, **values, person_identifiers=identifiers)


def same_names(holder: Holder, names: dict[tuple[str, str], tuple], report: ImportReport) -> bool:
    """One person, one name: rows giving a person's name (or Chinese name, or identifiers)
    must agree, or the last row would silently win. `names`: (person, column) -> (the first
    value given, its line)."""
    ok = True
    if holder.person and holder.person_identifiers is not None:
        given = holder.person_identifiers
        first = names.setdefault((holder.person, "person_identifiers"), (given, holder.where))
        if first[0] != given:
            ok = False
            report.problems.append(
                Problem(
                    holder.where,
                    "person_identifiers",
                    f"“{holder.person}” has {_pairs(first[0])} on {first[1]} and "
                    f"{_pairs(given)} here; give a person's identifiers alike in every row "
                    "(or leave the cell empty).",
                )
            )
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


def _pairs(identifiers: tuple[tuple[str, str], ...]) -> str:
    """Identifiers as a message quotes them."""
    if not identifiers:
        return "no identifiers ([])"
    return shown(", ".join(f"{scheme} {value}" for scheme, value in identifiers))


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


# --- Placements and change events (valid time) ------------------------------------------------
#
# A row's own cells are checked first, as for the other files; what ties it to the registry (its
# organizations, events and successions must exist; a unit's placements may not overlap, the
# file's and the stored ones together; a placement lies within its parent's existence) waits for
# the lock, against the whole file at once and one read of each table.

_PLACEMENT_CELLS = tuple(_Plain.of(f) for f in PLACEMENTS)


class CheckedPlacement(NamedTuple):
    """One checked placements row; empty `parent` and `event` are stored as NULL."""

    where: str
    organization: str
    parent: str
    start: str
    end: str
    event: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.organization, self.end)


def check_placement(record: Record, problems: list[Problem]) -> CheckedPlacement | None:
    row = RowChecker(record, problems, {})
    values = {spec.column: spec.check(row, *spec.args) for spec in _PLACEMENT_CELLS}
    start, end = row.dates["start"], row.dates["end"]
    if start and end and end.is_before(start):
        row.fail("end", f"the end ({end.display()}) is before the start ({start.display()}).")
    if values["organization"] and values["parent"] == values["organization"]:
        row.fail("parent", "an organization cannot be its own parent.")
    return CheckedPlacement(record.where, **values) if row.ok else None


class _Period(NamedTuple):
    """A placement as `models.placement_conflict` reads it; `where` is "" for a stored one."""

    start: PartialDate | None
    end: PartialDate
    where: str


def _date(text: str) -> PartialDate | None:
    return PartialDate.parse(text) if text else None


def check_placements_in_registry(
    rows: list[CheckedPlacement],
    existence: dict[str, Existence],
    events: set[str],
    stored: dict[tuple[str, str], tuple],
    report: ImportReport,
) -> None:
    """Organizations, parents and events must be in the registry; each placement lies within
    its parent's existence; the placements of one unit (the file's, and the stored ones the file
    does not replace) do not overlap."""
    periods: dict[str, list[_Period]] = defaultdict(list)
    for row in rows:
        problems = len(report.problems)
        for column in ("organization", "parent"):
            pk = getattr(row, column)
            if pk and pk not in existence:
                report.problems.append(
                    Problem(
                        row.where,
                        column,
                        f"unknown organization “{pk}”: import it first (organizations file).",
                    )
                )
        if row.event and row.event not in events:
            report.problems.append(
                Problem(
                    row.where,
                    "event",
                    f"unknown change event “{row.event}”: import it first (events file).",
                )
            )
        start, end = _date(row.start), PartialDate.parse(row.end)
        if row.parent in existence and (
            reason := outside_existence(existence[row.parent], start, end)
        ):
            report.problems.append(Problem(row.where, "parent", reason))
        if len(report.problems) == problems:
            periods[row.organization].append(_Period(start, end, row.where))
    in_file = {row.key for row in rows}
    for (unit, end), (_, _, start, _) in stored.items():
        if unit in periods and (unit, end) not in in_file:
            periods[unit].append(_Period(_date(start), PartialDate.parse(end), ""))
    for unit_periods in periods.values():
        unit_periods.sort(key=lambda period: (period.end.earliest, period.end.latest))
        for earlier, later in itertools.pairwise(unit_periods):
            reason = placement_conflict(later, [earlier])
            if reason is None:
                continue
            blamed, other, column = (later, earlier, "start")
            if not later.where:
                blamed, other, column = (earlier, later, "end")
            report.problems.append(
                Problem(
                    blamed.where,
                    column,
                    f"{reason} (that one is {other.where or 'in the registry'}.)",
                )
            )


_EVENT_CELLS = tuple(_Plain.of(f) for f in EVENTS if f.cell is not Cell.ITEMS)
_EVENT_ITEMS = {
    f.column: tuple(_Rule.of(key) for key in f.keys) for f in EVENTS if f.cell is Cell.ITEMS
}
# The source's address is checked as the organizations file checks its sources' addresses.
_SOURCE_URL = _Rule.of(Key("url", Source, "url"))
# Participants are listed by role (originals first), each role's in the file's order.
_ROLES = {role: place for place, role in enumerate(EventOrganization.Role.values)}
# The event's own values as stored and compared, in this order (source: title and url).
EVENT_VALUES = (
    "type",
    "date",
    "source",
    "source_url",
    "locator",
    "note",
    "rank_before",
    "rank_after",
)


@dataclass
class CheckedEvent:
    """One checked events row."""

    where: str
    id: str
    values: tuple  # EVENT_VALUES, as stored (None for an empty rank)
    organizations: tuple[tuple[str, str], ...]  # (organization, role), by role
    successions: tuple[tuple[str, str], ...]  # (predecessor, successor), sorted

    def value(self, column: str):
        return self.values[EVENT_VALUES.index(column)]


def event_codes() -> dict[str, set[str]]:
    return codes(EVENTS)


def check_event(
    record: Record, problems: list[Problem], allowed: Mapping[str, set[str]]
) -> CheckedEvent | None:
    row = RowChecker(record, problems, allowed)
    values = {spec.column: spec.check(row, *spec.args) for spec in _EVENT_CELLS}
    title, url = values["source"], values["source_url"]
    if url and not title:
        row.fail("source", "empty, but source_url is given: a source needs its title.")
    elif title and not title.strip():
        row.fail("source", "only spaces; give the source's title, or leave it empty.")
    if url and (reason := _SOURCE_URL.invalid(url)):
        row.fail("source_url", f"“{shown(url)}” is not valid: {reason}")
    participants = row.items("organizations", _EVENT_ITEMS["organizations"])
    if len(set(participants)) != len(participants):
        row.fail("organizations", "an organization is listed twice in the same role.")
    successions = row.items("successions", _EVENT_ITEMS["successions"])
    if len(set(successions)) != len(successions):
        row.fail("successions", "a link is listed twice.")
    if any(predecessor == successor for predecessor, successor in successions):
        row.fail("successions", "an organization cannot be its own predecessor.")
    if not row.ok:
        return None
    return CheckedEvent(
        where=record.where,
        id=values["id"],
        values=tuple(values[column] for column in EVENT_VALUES),
        organizations=tuple(sorted(participants, key=lambda part: _ROLES[part[1]])),
        successions=tuple(sorted(successions)),
    )


def check_events_in_registry(
    rows: list[CheckedEvent],
    organizations: set[str],
    successions: dict[tuple[str, str], str | None],
    report: ImportReport,
) -> None:
    """The organizations taking part must be in the registry, and so must the lineage links,
    each claimed by one event of the file at most, and never taken from a stored event the file
    does not list (rows a file leaves out stay as they are)."""
    claimed: dict[tuple[str, str], str] = {}
    in_file = {row.id for row in rows}
    for row in rows:
        for organization, _ in row.organizations:
            if organization not in organizations:
                report.problems.append(
                    Problem(
                        row.where,
                        "organizations",
                        f"unknown organization “{organization}”: import it first "
                        "(organizations file).",
                    )
                )
        for link in row.successions:
            if link not in successions:
                report.problems.append(
                    Problem(
                        row.where,
                        "successions",
                        f"no lineage link {link[0]} → {link[1]} in the registry: give it as a "
                        f"predecessor of “{link[1]}” in the organizations file first.",
                    )
                )
            elif link in claimed:
                report.problems.append(
                    Problem(
                        row.where,
                        "successions",
                        f"the link {link[0]} → {link[1]} is also claimed on {claimed[link]}; a "
                        "link belongs to one event.",
                    )
                )
            elif successions[link] not in (None, row.id) and successions[link] not in in_file:
                # Taking it would change that event, which the file leaves as it is.
                report.problems.append(
                    Problem(
                        row.where,
                        "successions",
                        f"the link {link[0]} → {link[1]} belongs to the event "
                        f"“{successions[link]}”, which this file does not list: give that "
                        "event's row too, without the link.",
                    )
                )
            else:
                claimed[link] = row.where
