"""CSV import: the whole data flow in one place.

    run_import(dataset, source)
      reading   decode, parse, check the header and each row's width
      checks    check and parse every row, each cell as registry/schema.py declares it
      -- one transaction, tree writes locked --
      checks    posts: the registry's organizations and people, tenures; placements:
                their units, parents and events, overlaps (file and registry together) and
                the parents' existence; events: their organizations and lineage links
      plan      organizations: unknown parents, cycles, final sibling order, nested-set layout
      writing   write in bulk (a dry run rolls its writes back)
      report    every problem (then nothing is written), or each row's outcome

All or nothing: if any row is bad, nothing is written and the report lists every problem with
its line, column and a plain reason. Rows may come in any order; parents are resolved by `id`
within the file and the registry. The tree's nested-set fields are computed here in Python and
written in bulk (django-mptt's per-row saves are far too slow for whole registries), in the same
transaction as the data, so the tree is valid after every import.

The columns and cell formats are documented in docs/csv.md (generated from registry/schema.py).
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Hashable
from typing import Any, NamedTuple

from django.db import transaction

from .. import schema
from ..csvcodec import Record
from ..models import Organization, Person
from . import checks, plan, reading, stored, writing
from .report import ImportReport, Problem, Progress, RowOutcome

__all__ = [
    "ImportReport",
    "Problem",
    "Progress",
    "RowOutcome",
    "import_events",
    "import_organizations",
    "import_placements",
    "import_posts",
    "run_import",
]


class _Importer(NamedTuple):
    """One dataset's steps between reading the file and writing it."""

    # The rows' own checks, before the transaction: (records, report, progress) -> rows.
    check_rows: Callable[[list[Record], ImportReport, Progress | None], list]
    # Under the lock: the checks that need the registry, then the writes to make, or None
    # when there are problems: (rows, absent columns, report, progress) -> write.
    plan: Callable[[list, frozenset[str], ImportReport, Progress | None], Callable | None]


def _checked_once(
    records: list[Record],
    report: ImportReport,
    progress: Progress | None,
    check: Callable[[Record, int], Any],
    key: Callable[[Any], Hashable],
    duplicate: Callable[[Any, str], Problem],
) -> list:
    """Each record checked by `check` (None: refused, the problems already reported); a row
    whose `key` an earlier row has is refused too, with `duplicate(row, that row's line)`."""
    rows = []
    first_line: dict[Hashable, str] = {}
    for index, record in enumerate(records):
        row = check(record, index)
        if progress and index % 5000 == 0:
            progress("checking", index, len(records))
        if row is None:
            continue
        if key(row) in first_line:
            report.problems.append(duplicate(row, first_line[key(row)]))
            continue
        first_line[key(row)] = row.where
        rows.append(row)
    return rows


def _same_id(row, line: str) -> Problem:
    return Problem(row.where, "id", f"“{row.id}” is also on {line}.")


def _check_organization_rows(
    records: list[Record], report: ImportReport, progress: Progress | None
) -> list[checks.CheckedOrganization]:
    codes = checks.organization_codes()

    def check(record: Record, index: int):
        return checks.check_organization(record, index, report.problems, codes)

    return _checked_once(records, report, progress, check, lambda row: row.id, _same_id)


def _plan_organizations(
    rows: list[checks.CheckedOrganization],
    absent: frozenset[str],
    report: ImportReport,
    progress: Progress | None,
) -> Callable[[], None] | None:
    state = Organization.objects.nested_sets()
    parent_of = {pk: node.parent for pk, node in state.items()}
    parent_of.update({row.id: row.parent or None for row in rows})
    plan.check_tree(rows, state, parent_of, report)
    if report.problems:
        return None
    current = stored.current_rows([row.id for row in rows if row.id in state], len(state))
    plan.keep_absent_columns(rows, absent, current, report)
    # After the columns the file leaves out are filled in: then every row's identifiers are
    # those it will have.
    checks.check_identifier_owners(
        (
            (row.where, ("organization", row.id), key)
            for row in rows
            for key in row.items["identifiers"]
        ),
        {("organization", row.id) for row in rows},
        "identifiers",
        report,
    )
    if report.problems:
        return None
    return functools.partial(
        writing.write_organizations,
        rows,
        state,
        parent_of,
        current,
        report,
        progress,
        keep_place="order" in absent,
    )


def _no_row_checks(
    records: list[Record], report: ImportReport, progress: Progress | None
) -> list[Record]:
    """A posts row is checked against the registry (its organization, its person), so all of
    its checks wait for the lock."""
    return records


def _plan_posts(
    records: list[Record],
    absent: frozenset[str],
    report: ImportReport,
    progress: Progress | None,
) -> Callable[[], None] | None:
    organizations = set(Organization.objects.values_list("pk", flat=True))
    people = {
        pk: (name, name_zh, pinyin)
        for pk, name, name_zh, pinyin in Person.objects.values_list(
            "pk", "name", "name_zh", "pinyin"
        )
    }
    holders: list[checks.Holder] = []
    seen: dict[tuple, str] = {}
    post_settings: dict[tuple, tuple] = {}
    names: dict[tuple[str, str], tuple] = {}  # (person, column) -> (value, where)
    for index, record in enumerate(records):
        holder = checks.check_holder(record, report.problems, organizations)
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
        if not checks.same_names(holder, names, report):
            continue
        holders.append(holder)
    # Each person's identifiers once (their rows agree), on the first row that gives them.
    identifiers = {
        person: given
        for (person, column), given in names.items()
        if column == "person_identifiers"
    }
    if not report.problems:
        checks.check_tenures(holders, report, keep_end="end" in absent)
        checks.check_identifier_owners(
            (
                (where, ("person", person), key)
                for person, (pairs, where) in identifiers.items()
                for key in pairs
            ),
            {("person", person) for person in identifiers},
            "person_identifiers",
            report,
        )
    if report.problems:
        return None
    stored_identifiers = stored.person_identifiers(identifiers.keys())
    return functools.partial(
        writing.write_posts,
        holders,
        people,
        report,
        absent,
        {person: pairs for person, (pairs, _) in identifiers.items()},
        stored_identifiers,
    )


def _check_placement_rows(
    records: list[Record], report: ImportReport, progress: Progress | None
) -> list[checks.CheckedPlacement]:
    def duplicate(row, line: str) -> Problem:
        return Problem(
            row.where,
            "organization, end",
            f"“{row.organization}” has a placement until {row.end} also on {line}.",
        )

    def check(record: Record, index: int):
        return checks.check_placement(record, report.problems)

    return _checked_once(records, report, progress, check, lambda row: row.key, duplicate)


def _plan_placements(
    rows: list[checks.CheckedPlacement],
    absent: frozenset[str],
    report: ImportReport,
    progress: Progress | None,
) -> Callable[[], None] | None:
    placements = stored.placements()
    checks.check_placements_in_registry(
        rows, stored.existence(), stored.event_ids(), placements, report
    )
    if report.problems:
        return None
    return functools.partial(writing.write_placements, rows, placements, report)


def _check_event_rows(
    records: list[Record], report: ImportReport, progress: Progress | None
) -> list[checks.CheckedEvent]:
    codes = checks.event_codes()

    def check(record: Record, index: int):
        return checks.check_event(record, report.problems, codes)

    return _checked_once(records, report, progress, check, lambda row: row.id, _same_id)


def _plan_events(
    rows: list[checks.CheckedEvent],
    absent: frozenset[str],
    report: ImportReport,
    progress: Progress | None,
) -> Callable[[], None] | None:
    links = stored.successions()
    organizations = set(Organization.objects.values_list("pk", flat=True))
    checks.check_events_in_registry(rows, organizations, links, report)
    if report.problems:
        return None
    return functools.partial(writing.write_events, rows, stored.events(), links, report)


# Each dataset of registry/schema.py and how it is imported; `schema.dataset()` refuses any
# other name, listing these. Placements and events name organizations (and events) already in
# the registry: import organizations, then events, then placements. Like organizations and
# posts, they add and update; rows the file leaves out stay as they are.
IMPORTERS: dict[str, _Importer] = {
    schema.ORGANIZATIONS.name: _Importer(_check_organization_rows, _plan_organizations),
    schema.POSTS.name: _Importer(_no_row_checks, _plan_posts),
    schema.PLACEMENTS.name: _Importer(_check_placement_rows, _plan_placements),
    schema.EVENTS.name: _Importer(_check_event_rows, _plan_events),
}


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


@_without_cycle_collection
def run_import(
    dataset: str,
    source: bytes | str,
    *,
    encoding: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a CSV file of `dataset` (bytes are decoded, `encoding` or detected). Raises
    ValueError for an unknown dataset, naming the known ones."""
    fields = schema.dataset(dataset)
    importer = IMPORTERS[fields.name]
    report = ImportReport(dataset=fields.name)
    read = reading.read_checked(source, encoding, report, fields)
    if read is None:
        return report
    absent, records = read
    rows = importer.check_rows(records, report, progress)
    # The checked rows hold all that is needed from here on: let the parsed records (a dict
    # of cells per row) go now rather than keep them through the writes.
    del read, records

    with transaction.atomic():
        Organization.objects.lock_tree_writes()
        write = importer.plan(rows, absent, report, progress)
        if write is None:
            return report
        with transaction.atomic():
            write()
            if dry_run:  # all the writes done, then rolled back to this savepoint
                transaction.set_rollback(True)
    report.applied = not dry_run
    return report


# The callers that know their dataset (the benchmarks, the tests).
import_organizations = functools.partial(run_import, "organizations")
import_posts = functools.partial(run_import, "posts")
import_placements = functools.partial(run_import, "placements")
import_events = functools.partial(run_import, "events")
