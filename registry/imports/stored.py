"""What the registry holds for the rows a file updates, shaped like checked rows, read in as
few queries as the file's size allows."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter

from django.db import models

from ..models import Citation, Organization, OtherName, Succession
from ..schema import ORGANIZATIONS, Cell

# An organization's data fields: the columns of its own table that an import compares and
# writes, every plain field declared for organizations but its id and its place in the tree
# (`parent`, `order`), which the tree plan handles.
DATA_FIELDS = tuple(f for f in ORGANIZATIONS.own(Organization) if f.column not in ("id", "parent"))
DATA_ATTNAMES = tuple(f.attname for f in DATA_FIELDS)
# The list columns (other names, sources, predecessors), stored in tables of their own.
ITEM_COLUMNS = tuple(f.column for f in ORGANIZATIONS if f.cell is Cell.ITEMS)

CHUNK = 900  # ids per IN (...) query, under SQLite's bound-parameter limit
# Past this many ids, or this share of the registry, reading stored rows table by table beats
# IN (...) queries: on PostgreSQL each of those scans the whole related table anyway.
WHOLE_TABLES_FROM_IDS = 5000
WHOLE_TABLES_FROM_SHARE = 0.2


def chunks(items: list, size: int | None = None) -> Iterator[list]:
    size = size or CHUNK
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class Stored:
    """The stored data of organizations, by id: the values of DATA_ATTNAMES, and each list
    column's items; an organization without other names, sources or
    predecessors has no entry for them."""

    fields: dict[str, tuple] = field(default_factory=dict)
    items: dict[str, dict[str, tuple[tuple, ...]]] = field(default_factory=dict)


def _limited(queryset: models.QuerySet, relation: str, batch: list[str] | None) -> Iterable:
    """`queryset` limited to the organizations in `batch` (reached through `relation`), or all
    of it, streamed, for None."""
    if batch is None:
        return queryset.iterator(chunk_size=10_000)
    return queryset.filter(**{f"{relation}__in": batch})


def current_rows(ids: list[str], registry_size: int) -> Stored:
    """The stored data of `ids`, for comparison with the file's rows."""
    stored = Stored(items={column: {} for column in ITEM_COLUMNS})
    if len(ids) > WHOLE_TABLES_FROM_IDS or len(ids) > WHOLE_TABLES_FROM_SHARE * registry_size:
        batches: Iterable[list[str] | None] = [None]  # None: every row, filtered here
    else:
        batches = chunks(ids)
    wanted = set(ids)
    related = (
        (
            "other_names",
            OtherName.objects.order_by("organization", "position", "pk").values_list(
                "organization", "name_type", "name", "language", "start", "end"
            ),
            "organization",
        ),
        (
            "sources",
            Citation.objects.order_by("organization", "position", "pk").values_list(
                "organization", "source__title", "source__url", "locator"
            ),
            "organization",
        ),
        (
            "predecessors",
            Succession.objects.order_by("successor", "predecessor").values_list(
                "successor", "predecessor", "date", "note"
            ),
            "successor",
        ),
    )
    for batch in batches:
        organizations = Organization.objects.order_by().values_list("pk", *DATA_ATTNAMES)
        for values in _limited(organizations, "pk", batch):
            if values[0] in wanted:
                stored.fields[values[0]] = values[1:]
        for column, queryset, relation in related:
            into = stored.items[column]
            for pk, group in groupby(_limited(queryset, relation, batch), key=itemgetter(0)):
                if pk in wanted:
                    into[pk] = tuple(values[1:] for values in group)
    # Sorted as checked rows are (by id), whatever the database's collation.
    predecessors = stored.items["predecessors"]
    for pk, links in predecessors.items():
        predecessors[pk] = tuple(sorted(links, key=itemgetter(0)))
    return stored
