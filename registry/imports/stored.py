"""What the registry holds for the rows a file updates, shaped like checked rows, read in as
few queries as the file's size allows."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from typing import NamedTuple

from django.db import models
from django.db.models import Value
from django.db.models.functions import Coalesce

from ..dates import PartialDate
from ..models import (
    ChangeEvent,
    Citation,
    EventOrganization,
    Identifier,
    Organization,
    OtherName,
    Placement,
    Succession,
)
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
            "identifiers",
            Identifier.objects.filter(organization__isnull=False)
            .order_by("organization", "scheme", "identifier")
            .values_list("organization", "scheme", "identifier"),
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
    # Sorted as checked rows are (by id; identifiers whole), whatever the database's collation.
    predecessors = stored.items["predecessors"]
    for pk, links in predecessors.items():
        predecessors[pk] = tuple(sorted(links, key=itemgetter(0)))
    identifiers = stored.items["identifiers"]
    for pk, pairs in identifiers.items():
        identifiers[pk] = tuple(sorted(pairs))
    return stored


def identifier_owners(keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
    """Who holds each (scheme, identifier) of `keys` in the registry: ("organization", id) or
    ("person", id); keys nobody holds are left out."""
    wanted = set(keys)
    owners = {}
    for chunk in chunks(sorted({identifier for _, identifier in wanted})):
        rows = Identifier.objects.filter(identifier__in=chunk).values_list(
            "scheme", "identifier", "organization", "person"
        )
        for scheme, identifier, organization, person in rows:
            if (scheme, identifier) in wanted:
                owners[(scheme, identifier)] = (
                    ("organization", organization) if organization else ("person", person)
                )
    return owners


def person_identifiers(people: Iterable[str]) -> dict[str, tuple[tuple[str, str], ...]]:
    """The stored identifiers of `people` by person, each person's sorted as checked rows are
    (`checks.check_identifiers`); people without any have no entry. One pass over the people's
    identifiers (a short table beside the posts), whatever the file's size."""
    wanted = set(people)
    found: dict[str, list[tuple[str, str]]] = {}
    if not wanted:
        return {}
    rows = Identifier.objects.filter(person__isnull=False).values_list(
        "person", "scheme", "identifier"
    )
    for person, scheme, identifier in rows.iterator(chunk_size=10_000):
        if person in wanted:
            found.setdefault(person, []).append((scheme, identifier))
    return {person: tuple(sorted(pairs)) for person, pairs in found.items()}


# --- Placements and change events: each table read once, whole (they are small beside the
# organizations, and a file of them usually touches much of them).


class Existence(NamedTuple):
    """What `models.outside_existence` reads of a parent."""

    name: str
    formed: PartialDate | None
    dissolved: PartialDate | None


def existence() -> dict[str, Existence]:
    """Every organization's name, formation and dissolution, by id."""
    found = {}
    rows = Organization.objects.order_by().values_list("pk", "name", "formed", "dissolved")
    for pk, name, formed, dissolved in rows.iterator(chunk_size=10_000):
        found[pk] = Existence(
            name,
            PartialDate.parse(formed) if formed else None,
            PartialDate.parse(dissolved) if dissolved else None,
        )
    return found


def placements() -> dict[tuple[str, str], tuple[int, str, str, str]]:
    """Every stored placement by (organization, end): its pk, parent, start and event ("" for
    none)."""
    rows = Placement.objects.order_by().values_list(
        "organization", "end", "pk", "parent", "start", "event"
    )
    return {
        (unit, end): (pk, parent or "", start, event or "")
        for unit, end, pk, parent, start, event in rows.iterator(chunk_size=10_000)
    }


def event_ids() -> set[str]:
    return set(ChangeEvent.objects.values_list("pk", flat=True))


def successions() -> dict[tuple[str, str], str | None]:
    """Every lineage link (predecessor, successor) with its event's id (None: none)."""
    rows = Succession.objects.order_by().values_list("predecessor", "successor", "event")
    return {(pk, successor): event for pk, successor, event in rows}


@dataclass
class StoredEvent:
    values: tuple  # checks.EVENT_VALUES
    organizations: tuple[tuple[str, str], ...] = ()
    successions: tuple[tuple[str, str], ...] = ()


def events() -> dict[str, StoredEvent]:
    """Every stored change event, shaped like a checked row."""
    empty = Value("")
    rows = ChangeEvent.objects.order_by().values_list(
        "pk",
        "type",
        "date",
        Coalesce("source__title", empty),
        Coalesce("source__url", empty),
        "locator",
        "note",
        "rank_before",
        "rank_after",
    )
    found = {pk: StoredEvent(tuple(values)) for pk, *values in rows}
    parts = EventOrganization.objects.order_by("event", "role", "position", "pk").values_list(
        "event", "organization", "role"
    )
    for pk, group in groupby(parts, key=itemgetter(0)):
        found[pk].organizations = tuple(values[1:] for values in group)
    links = (
        Succession.objects.exclude(event=None)
        .order_by("event")
        .values_list("event", "predecessor", "successor")
    )
    for pk, group in groupby(links, key=itemgetter(0)):
        found[pk].successions = tuple(sorted(values[1:] for values in group))
    return found
