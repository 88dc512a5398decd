"""CSV export: rows produced in tree order, chunk by chunk, so memory stays flat at any size.

Rows come out as lists of plain strings; `csvcodec.csv_lines` turns them into escaped CSV text.
What `export` writes, `imports` reads back unchanged (docs/csv.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from itertools import groupby
from operator import itemgetter
from typing import Any, NamedTuple

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet, Value
from django.db.models.functions import Coalesce

from . import validtime
from .csvcodec import dump_list
from .database import read_only_snapshot
from .dates import On, PartialDate
from .models import (
    ChangeEvent,
    Citation,
    EventOrganization,
    Holding,
    Identifier,
    Organization,
    OtherName,
    Person,
    Placement,
    Post,
    Source,
    Succession,
)
from .schema import EVENTS, ORGANIZATIONS, PLACEMENTS, POSTS, Cell, Dataset, Field
from .trees import subtree_lookups, tree_order, tree_order_key

# Organizations per page. PostgreSQL joins a page's other names and citations by reading those
# tables whole (a hash join), once per page: 2,000 a page made that most of an export's time at
# 100,000 organizations. Memory grows with the page (about 16 MB at this size).
CHUNK = 5000
_OWN = ORGANIZATIONS.own(Organization)  # the columns of the organizations table itself
_ITEMS = tuple(f for f in ORGANIZATIONS if f.cell is Cell.ITEMS)  # JSON cells of related rows


def _cell_value(field: Field) -> str | Coalesce:
    """What to select for an own column: text as it is stored, an empty link as ""."""
    if field.model_field.null:
        return Coalesce(field.attname, Value(""))
    return field.attname


def _arranged(dataset: Dataset, own: tuple[Field, ...], extra: tuple[str, ...]):
    """A function that puts (own values..., extra values...) in the dataset's column order."""
    order = [f.column for f in own] + list(extra)
    if sorted(order) != sorted(dataset.columns):
        raise ImproperlyConfigured(
            f"The {dataset.name} export has no way to write {set(dataset.columns) ^ set(order)}."
        )
    return itemgetter(*(order.index(column) for column in dataset.columns))


# A row: the level (for the sibling counters), then the own columns, then `order` and the JSON
# cells, rearranged into the file's column order.
_SELECTED = ("level", *(_cell_value(f) for f in _OWN))
_ID = [f.column for f in _OWN].index("id")
_arrange_organization = _arranged(ORGANIZATIONS, _OWN, ("order", *(f.column for f in _ITEMS)))


@dataclass
class _Related:
    """The JSON cells (other names, identifiers, sources, predecessors) of some
    organizations, by id; an organization without any has no entry. In the order of
    `_ITEMS`."""

    cells: tuple[dict[str, str], ...]

    def of(self, pk: str) -> list[str]:
        return [cells.get(pk, "") for cells in self.cells]


def _related(
    where: Callable[[str], dict[str, Any]], sources: dict[int, tuple[str, str]]
) -> _Related:
    """The related rows of the organizations `where(path)` selects, given the path to them
    (`organization__`, `successor__`). `sources`: (title, url) by source id, filled as pages
    first cite them; a few hundred sources serve a whole registry, and reading them with
    every citation made the citations the slowest query of an export."""
    names = (
        OtherName.objects.filter(**where("organization__"))
        .order_by("organization", "position", "pk")
        .values_list("organization", "name_type", "name", "language", "start", "end")
    )
    citations = list(
        Citation.objects.filter(**where("organization__"))
        .order_by("organization", "position", "pk")
        .values_list("organization", "source", "locator")
    )
    unknown = {source for _, source, _ in citations} - sources.keys()
    if unknown:
        found = Source.objects.filter(pk__in=unknown).values_list("pk", "title", "url")
        sources.update((pk, (title, url)) for pk, title, url in found)
    # Sorted here rather than by the database, whose collation may differ from the importer's
    # order (`checks.check_identifiers`).
    identifiers = sorted(
        Identifier.objects.filter(**where("organization__")).values_list(
            "organization", "scheme", "identifier"
        )
    )
    links = (
        Succession.objects.filter(**where("successor__"))
        .order_by("successor", "predecessor")
        .values_list("successor", "predecessor", "date", "note")
    )
    by_column = {
        "other_names": names,
        "identifiers": identifiers,
        "sources": ((pk, *sources[source], locator) for pk, source, locator in citations),
        "predecessors": links,
    }
    return _Related(tuple(_cells(by_column[f.column], f) for f in _ITEMS))


def _cells(rows: Iterable[tuple], items: Field) -> dict[str, str]:
    """One JSON cell per organization from related rows grouped by organization (its id
    first in each row, then the values of the cell's keys). Encoded at once, so that strings
    are all that outlive a page: lists kept per organization until its row was written made
    the cycle collector walk a page's worth of them again and again."""
    return {
        pk: dump_list([items.item(row[1:]) for row in group])
        for pk, group in groupby(rows, key=itemgetter(0))
    }


def _among(ids: list[str], path: str) -> dict[str, list[str]]:
    """Filter arguments selecting the organizations `ids` through `path` from another model."""
    return {f"{path}in": ids}


def _organization_chunks(root: Organization | None) -> Iterator[tuple[list[tuple], _Related]]:
    """Each page's organizations, in tree order, with their related rows."""
    sources: dict[int, tuple[str, str]] = {}
    for page in Organization.objects.pages(size=CHUNK, root=root):
        # One consistent view of the data for one page's queries. Between separate statements
        # a tree write could move an organization out of the page's range, and its names,
        # sources and predecessors would be read as none (a re-import of that file would
        # delete them). A page's transaction is short: rows are streamed out after it ends.
        with read_only_snapshot():
            organizations = Organization.objects.filter(**page.lookups()).in_tree_order()
            chunk = list(organizations.values_list(*_SELECTED))
            related = _related(page.lookups, sources)
        if chunk:
            yield chunk, related


def organization_rows(
    root: Organization | None = None, on: On | None = None
) -> Iterator[list[str]]:
    """Every organization (or `root` and its subtree), in tree order, as CSV cells. With `on`,
    the registry as it stood then (see `_dated_organization_rows`)."""
    if on is not None:
        yield from _dated_organization_rows(root, on)
        return
    yield list(ORGANIZATIONS.columns)
    base_level = root.level if root is not None else 0
    # counters[d]: siblings seen so far at relative depth d under the current path.
    counters = [Organization.objects.sibling_position(root) - 1 if root is not None else 0]
    for chunk, related in _organization_chunks(root):
        for level, *values in chunk:
            depth = level - base_level
            del counters[depth + 1 :]
            if len(counters) == depth:
                counters.append(0)
            counters[depth] += 1
            pk = values[_ID]
            yield list(_arrange_organization((*values, str(counters[depth]), *related.of(pk))))


def selected_organization_rows(organizations: Iterable[Organization]) -> Iterator[list[str]]:
    """Chosen organizations only (not their subtrees), in tree order, with their true sibling
    positions (found with one query over their parents' children)."""
    chosen = sorted(organizations, key=tree_order_key)
    parents = {o.parent_id for o in chosen if o.parent_id}
    positions: dict[str, int] = {}
    siblings = Organization.objects.filter(parent_id__in=parents).in_tree_order()
    counts: dict[str, int] = defaultdict(int)
    for pk, parent in siblings.values_list("pk", "parent_id"):
        counts[parent] += 1
        positions[pk] = counts[parent]
    for index, pk in enumerate(Organization.objects.roots().values_list("pk", flat=True), 1):
        positions[pk] = index
    yield list(ORGANIZATIONS.columns)
    yield from _rows_for([o.pk for o in chosen], positions)


def _rows_for(chosen: list[str], positions: dict[str, int]) -> Iterator[list[str]]:
    sources: dict[int, tuple[str, str]] = {}
    for start in range(0, len(chosen), CHUNK):
        part = chosen[start : start + CHUNK]
        related = _related(partial(_among, part), sources)
        values = {
            row[_ID]: row
            for row in Organization.objects.filter(pk__in=part).values_list(*_SELECTED[1:])
        }
        for pk in part:
            yield list(_arrange_organization((*values[pk], str(positions[pk]), *related.of(pk))))


# A posts row: the post's own columns, then its holder's (the person's and the holding's),
# then the person's identifiers.
_POST_OWN = POSTS.own(Post)
_HOLDER = tuple(f for f in POSTS if f.model is not Post and f.cell is not Cell.ITEMS)
_PERSON_IDENTIFIERS = POSTS["person_identifiers"]
_arrange_post = _arranged(
    POSTS, _POST_OWN, (*(f.column for f in _HOLDER), _PERSON_IDENTIFIERS.column)
)


def _holding_value(field: Field) -> str:
    """The `Holding.objects.values()` name of a holder column."""
    if field.model is Person:
        return "person_id" if field.field == "id" else f"person__{field.field}"
    return field.attname


_HOLDING_VALUES = tuple(_holding_value(f) for f in _HOLDER)
_HOLDER_PERSON = _HOLDING_VALUES.index("person_id")
_NO_HOLDER = [""] * (len(_HOLDER) + 1)


def _cells_of(fields: tuple[Field, ...], values: tuple) -> list[str]:
    return [
        str(value) if f.cell is Cell.NUMBER else value
        for f, value in zip(fields, values, strict=True)
    ]


def post_rows(root: Organization | None = None, on: On | None = None) -> Iterator[list[str]]:
    """One row per holder (and one per post without holders), in tree and seniority order.
    With `on`: the posts of the organizations that existed then, in tree order as it stood
    then, with the holdings that ran then (a post none of whose holdings ran then is a row
    without holder)."""
    if on is not None:
        yield from _dated_post_rows(root, on)
        return
    yield list(POSTS.columns)
    posts = Post.objects.order_by(*tree_order("organization__"), "position", "pk")
    if root is not None:
        posts = posts.filter(**subtree_lookups(root, path="organization__"))
    batch: list[tuple] = []
    for post in posts.values_list("pk", *(f.attname for f in _POST_OWN)).iterator(
        chunk_size=CHUNK
    ):
        batch.append(post)
        if len(batch) == CHUNK:
            yield from _post_batch(batch)
            batch = []
    yield from _post_batch(batch)


def person_identifier_cells(people: Iterable[str] | QuerySet) -> dict[str, str]:
    """The `person_identifiers` cell of each of `people` (ids, or a query of them) that has
    identifiers, from one query. Sorted here, not by the database, whose collation may differ
    from the importer's order (`checks.check_identifiers`)."""
    rows = Identifier.objects.filter(person__in=people).values_list(
        "person", "scheme", "identifier"
    )
    return _cells(sorted(rows), _PERSON_IDENTIFIERS)


def _post_batch(posts: list[tuple], on: On | None = None) -> Iterator[list[str]]:
    holdings = Holding.objects.filter(post__in=[p[0] for p in posts])
    identifiers = person_identifier_cells(holdings.values("person"))
    holders = defaultdict(list)
    for post, *holding in holdings.order_by("post", "position", "pk").values_list(
        "post_id", *_HOLDING_VALUES
    ):
        if on is None or validtime.holdings_on([_Held(holding)], on):
            person = holding[_HOLDER_PERSON]
            holders[post].append([*_cells_of(_HOLDER, holding), identifiers.get(person, "")])
    for pk, *post in posts:
        prefix = _cells_of(_POST_OWN, post)
        for holder in holders.get(pk) or [_NO_HOLDER]:
            yield list(_arrange_post((*prefix, *holder)))


# --- The registry as it stood on a date (`?on=`): the same columns, so a dated file imports as
# it is (a snapshot). Each organization that existed then, under its parent then, with its name
# and rank then, in tree order as it stood then (docs/time.md).

_COLUMN = {column: index for index, column in enumerate(ORGANIZATIONS.columns)}


class _Then(NamedTuple):
    """The organizations of a dated file in tree order then, each one's parent then and its
    place among its siblings then (1 first)."""

    chosen: list[str]
    parents: dict[str, str | None]
    positions: dict[str, int]


def _tree_then(root: Organization | None, on: On) -> _Then:
    """From one light query of the organizations that existed then: each under its parent
    then, siblings in today's order (as the dated pages show them). Units that were under a
    unit that did not exist then are not reached, as on the pages."""
    moved = validtime.parents_on(on)
    children: dict[str | None, list[str]] = defaultdict(list)
    parents: dict[str, str | None] = {}
    existing = Organization.objects.filter(on.existing()).in_tree_order()
    for pk, parent in existing.values_list("pk", "parent_id").iterator(chunk_size=CHUNK):
        parents[pk] = moved.get(pk, parent)
        children[parents[pk]].append(pk)
    positions = {
        pk: place for siblings in children.values() for place, pk in enumerate(siblings, 1)
    }
    starts = children[None] if root is None else [root.pk] if root.pk in parents else []
    chosen, seen = [], set()
    stack = list(reversed(starts))
    while stack:
        pk = stack.pop()
        if pk in seen:  # placements that would make a unit its own ancestor then
            continue
        seen.add(pk)
        chosen.append(pk)
        stack.extend(reversed(children.get(pk, ())))
    return _Then(chosen, parents, positions)


class _Named(NamedTuple):
    """What `validtime.name_on` reads of an organization."""

    name: str
    name_zh: str
    other_names_in_order: list[OtherName]


def _dated_organization_rows(root: Organization | None, on: On) -> Iterator[list[str]]:
    then = _tree_then(root, on)
    former = defaultdict(list)  # only names with a whole known period can be a name then
    for other in (
        OtherName.objects.filter(name_type=OtherName.Type.FORMER_NAME)
        .exclude(start="")
        .exclude(end="")
        .order_by("organization", "position", "pk")
    ):
        former[other.organization_id].append(other)
    ranks = {pk: code or "" for pk, code in validtime.ranks_on(on).items()}
    yield list(ORGANIZATIONS.columns)
    for row in _rows_for(then.chosen, then.positions):
        pk = row[_COLUMN["id"]]
        row[_COLUMN["parent"]] = then.parents[pk] or ""
        if pk in former:
            named = _Named(row[_COLUMN["name"]], row[_COLUMN["name_zh"]], former[pk])
            row[_COLUMN["name"]] = validtime.name_on(named, on)
            row[_COLUMN["name_zh"]] = validtime.name_on(named, on, chinese=True)
        row[_COLUMN["rank"]] = ranks.get(pk, row[_COLUMN["rank"]])
        yield row


_START, _END = ([f.column for f in _HOLDER].index(column) for column in ("start", "end"))


class _Held:
    """A holding's cells as `validtime.holdings_on` reads them."""

    def __init__(self, cells: tuple):
        self.start = PartialDate.parse(cells[_START]) if cells[_START] else None
        self.end = PartialDate.parse(cells[_END]) if cells[_END] else None


def _dated_post_rows(root: Organization | None, on: On) -> Iterator[list[str]]:
    chosen = _tree_then(root, on).chosen
    yield list(POSTS.columns)
    for start in range(0, len(chosen), CHUNK):
        part = chosen[start : start + CHUNK]
        by_organization = defaultdict(list)
        posts = (
            Post.objects.filter(organization__in=part)
            .order_by("organization", "position", "pk")
            .values_list("pk", *(f.attname for f in _POST_OWN))
        )
        for post in posts:
            by_organization[post[_POST_ORGANIZATION]].append(post)
        yield from _post_batch([post for pk in part for post in by_organization[pk]], on)


_POST_ORGANIZATION = 1 + [f.column for f in _POST_OWN].index("organization")


# --- Placements and change events: every row, whatever the date (they are the dated facts).

_PLACEMENT_OWN = PLACEMENTS.own(Placement)
_arrange_placement = _arranged(PLACEMENTS, _PLACEMENT_OWN, ())


def placement_rows(root: Organization | None = None) -> Iterator[list[str]]:
    """Every earlier placement (or those of `root`'s subtree's units), by unit in tree order,
    then by end."""
    yield list(PLACEMENTS.columns)
    placements = Placement.objects.order_by(*tree_order("organization__"), "end")
    if root is not None:
        placements = placements.filter(**subtree_lookups(root, path="organization__"))
    rows = placements.values_list(*(_cell_value(f) for f in _PLACEMENT_OWN))
    for values in rows.iterator(chunk_size=CHUNK):
        yield list(_arrange_placement(values))


_EVENT_OWN = EVENTS.own(ChangeEvent)
_EVENT_ITEMS = tuple(f for f in EVENTS if f.cell is Cell.ITEMS)
_arrange_event = _arranged(
    EVENTS, _EVENT_OWN, ("source", "source_url", *(f.column for f in _EVENT_ITEMS))
)


def event_rows(root: Organization | None = None) -> Iterator[list[str]]:
    """Every change event (or those in which a unit of `root`'s subtree took part), by date
    then id, with its organizations and lineage links."""
    yield list(EVENTS.columns)
    events = ChangeEvent.objects.order_by("date", "id")
    if root is not None:
        events = events.filter(
            pk__in=EventOrganization.objects.filter(
                **subtree_lookups(root, path="organization__")
            ).values("event")
        )
    ids = list(events.values_list("pk", flat=True))
    empty = Value("")
    for start in range(0, len(ids), CHUNK):
        part = ids[start : start + CHUNK]
        parts = (
            EventOrganization.objects.filter(event__in=part)
            .order_by("event", "role", "position", "pk")
            .values_list("event", "organization", "role")
        )
        links = (
            Succession.objects.filter(event__in=part)
            .order_by("event", "predecessor", "successor")
            .values_list("event", "predecessor", "successor")
        )
        items = [
            _cells(sorted(rows) if field.column == "successions" else rows, field)
            for field, rows in zip(_EVENT_ITEMS, (parts, links), strict=True)
        ]
        values = {
            row[0]: row
            for row in ChangeEvent.objects.filter(pk__in=part).values_list(
                *(_cell_value(f) for f in _EVENT_OWN),
                Coalesce("source__title", empty),
                Coalesce("source__url", empty),
            )
        }
        for pk in part:
            yield list(_arrange_event((*values[pk], *(cells.get(pk, "") for cells in items))))
