"""What changed in the world between two dates (valid time), for the whole registry or one
organization's subtree: the compare page, its CSV and the Atom feeds read this.

The registry is compared as it stood on the first date with how it stood on the second, by the
date rules of docs/time.md: a change belongs to the range when it took effect after the first
period and by the end of the second. The state-based kinds (established, abolished, renamed,
moved) come from the dated facts themselves, so a reform recorded without an event still shows;
the event-based kinds (merged, split, functions transferred, rank changed) from change events;
appointments and departures from the holdings' dates. Every kind is read with a few queries over
the whole registry, never a query per unit.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from django.db.models import Q, QuerySet

from .dates import On, PartialDate
from .models import ChangeEvent, EventOrganization, Holding, Organization, OtherName, Placement
from .trees import subtree_lookups
from .validtime import former_name_covers, parents_on, structure_on


@dataclass(frozen=True)
class Kind:
    code: str
    label: str  # a section heading: "Established"


KINDS = (
    Kind("established", "Established"),
    Kind("abolished", "Abolished"),
    Kind("renamed", "Renamed"),
    Kind("moved", "Moved"),
    Kind("merged", "Merged"),
    Kind("split", "Split"),
    Kind("functions_transferred", "Functions transferred"),
    Kind("rank_changed", "Rank changed"),
    Kind("appointed", "Took office"),
    Kind("left", "Left office"),
)
KIND_CODES = tuple(kind.code for kind in KINDS)


@dataclass(frozen=True)
class Unit:
    """An organization as a change names it: its id and the name it is listed under."""

    id: str
    name: str


@dataclass
class Change:
    kind: str
    date: PartialDate | None
    unit: Unit
    detail: str = ""
    related: tuple[Unit, ...] = ()  # the other organizations in it (before or after)
    event_id: str | None = None
    source: str = ""  # the event's source, cited
    person: Unit | None = None  # who took or left office

    @property
    def sort_key(self) -> tuple:
        return (self.date is None, self.date.earliest if self.date else None, self.unit.name)


@dataclass
class Changes:
    """The changes between `start` and `end` (within `root`'s subtree, if given), by kind."""

    start: On
    end: On
    root: Organization | None
    by_kind: dict[str, list[Change]] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Change]:
        for kind in KIND_CODES:
            yield from self.by_kind.get(kind, ())

    def __len__(self) -> int:
        return sum(len(changes) for changes in self.by_kind.values())


def began_between(field_name: str, after: datetime.date, by: datetime.date) -> Q:
    """A dated fact (a partial date in `field_name`) that took effect after `after` and by `by`:
    its first day lies in that range. ISO text at any precision compares with a full day's text
    exactly as its first day would, so this is a plain range on the stored text."""
    return (
        ~Q(**{field_name: ""})
        & Q(**{f"{field_name}__gt": after.isoformat()})
        & Q(**{f"{field_name}__lte": by.isoformat()})
    )


def changes_between(start: On, end: On, root: Organization | None = None) -> Changes:
    """Everything that changed after `start` and by the end of `end`."""
    changes = Changes(start, end, root)
    scope = _Scope(root, (start, end))
    after, by = start.last, end.last
    events = _events(after, by, scope)
    found: dict[str, list[Change]] = defaultdict(list)

    def unit(organization_id: str, names: dict[str, str]) -> Unit:
        return Unit(organization_id, names.get(organization_id, organization_id))

    existing = Organization.objects.filter(scope.q()).order_by()
    for kind, dated_by, before, then in (
        ("established", "formed", ~start.existing(), end.existing()),
        ("abolished", "dissolved", start.existing(), ~end.existing()),
    ):
        for pk, name, date in existing.filter(before & then).values_list("pk", "name", dated_by):
            if not events.reshaped(kind, pk):
                found[kind].append(
                    Change(kind, _date(date), Unit(pk, name), **events.claim(kind, pk))
                )

    # Units present on both dates that sat under other parents, or bore other names, then.
    parents_start, parents_end = parents_on(start), parents_on(end)
    names_start, names_end = _former_names_on(start), _former_names_on(end)
    candidates = set(parents_start) | set(parents_end) | set(names_start) | set(names_end)
    rows = {
        row[0]: row
        for row in Organization.objects.filter(scope.q(), pk__in=list(candidates))
        .order_by()
        .values_list("pk", "name", "parent_id", "formed", "dissolved")
    }
    present = {
        pk
        for pk, (_, _, _, formed, dissolved) in rows.items()
        if all(on.overlaps(_date(formed), _date(dissolved)) for on in (start, end))
    }
    moved = {
        pk: (parents_start.get(pk, rows[pk][2]), parents_end.get(pk, rows[pk][2]))
        for pk in present
        if parents_start.get(pk, rows[pk][2]) != parents_end.get(pk, rows[pk][2])
    }
    names = _names({parent for pair in moved.values() for parent in pair if parent})
    move_dates = _move_dates(list(moved), after, by)
    for pk, (was, now) in moved.items():
        date, event_id = move_dates.get(pk, (None, None))
        event = events.claim("moved", pk, event_id)
        found["moved"].append(
            Change(
                "moved",
                date,
                Unit(pk, rows[pk][1]),
                f"From {_place(was, names)} to {_place(now, names)}.",
                tuple(unit(parent, names) for parent in (was, now) if parent),
                **event,
            )
        )
    for pk in present:
        old = names_start.get(pk, (rows[pk][1], None))
        new = names_end.get(pk, (rows[pk][1], None))
        if old[0] != new[0]:
            # Dated by when the earlier name ended (the names' own dates are the fact).
            found["renamed"].append(
                Change(
                    "renamed",
                    old[1],
                    Unit(pk, new[0]),
                    f"Formerly {old[0]}.",
                    **events.claim("renamed", pk),
                )
            )
    for change in events.unclaimed():
        found[change.kind].append(change)
    found["appointed"], found["left"] = _holdings(after, by, scope)
    changes.by_kind = {
        kind: sorted(found[kind], key=lambda change: change.sort_key)
        for kind in KIND_CODES
        if found.get(kind)
    }
    return changes


def recent_changes(
    root: Organization | None = None, *, by: datetime.date, limit: int
) -> list[Change]:
    """The latest `limit` structural changes by `by`, newest first: each dated fact as it took
    effect (a formation, a dissolution, the end of a placement or of a former name, a change
    event), not a comparison of two dates, so a unit formed and later moved shows both. Each
    kind is read newest first with its own limit: ISO text sorts as its first day does."""
    scope = _Scope(root, None)
    upto = by.isoformat()
    newest = _events_in(scope).exclude(date="").filter(date__lte=upto).order_by("-date", "-id")
    events = _Events(_read_events(ChangeEvent.objects.filter(pk__in=newest[:limit].values("pk"))))
    found: list[Change] = []
    units = Organization.objects.filter(scope.q()).order_by()
    for kind, dated_by in (("established", "formed"), ("abolished", "dissolved")):
        newest = (
            units.exclude(**{dated_by: ""})
            .filter(**{f"{dated_by}__lte": upto})
            .order_by(f"-{dated_by}", "pk")
            .values_list("pk", "name", dated_by)[:limit]
        )
        for pk, name, date in newest:
            if not events.reshaped(kind, pk):
                found.append(Change(kind, _date(date), Unit(pk, name), **events.claim(kind, pk)))
    placements = list(
        Placement.objects.filter(scope.q("organization__"), end__lte=upto)
        .order_by("-end", "organization")
        .values_list("organization", "organization__name", "parent", "end", "event")[:limit]
    )
    after = _parents_after(placements)
    names = _names({p[2] for p in placements if p[2]} | {a for a in after.values() if a})
    for unit, name, parent, end, event_id in placements:
        now = after[(unit, end)]
        found.append(
            Change(
                "moved",
                _date(end),
                Unit(unit, name),
                f"From {_place(parent, names)} to {_place(now, names)}.",
                tuple(Unit(p, names.get(p, p)) for p in (parent, now) if p),
                **events.claim("moved", unit, event_id),
            )
        )
    former = (
        OtherName.objects.filter(
            scope.q("organization__"), name_type=OtherName.Type.FORMER_NAME, end__lte=upto
        )
        .exclude(end="")
        .order_by("-end", "organization")
        .values_list("organization", "organization__name", "name", "end")[:limit]
    )
    for unit, name, old, end in former:
        found.append(
            Change(
                "renamed",
                _date(end),
                Unit(unit, name),
                f"Formerly {old}.",
                **events.claim("renamed", unit),
            )
        )
    found.extend(events.unclaimed())
    found.sort(key=lambda change: change.sort_key, reverse=True)
    return found[:limit]


def _place(parent: str | None, names: dict[str, str]) -> str:
    return f"under {names.get(parent, parent)}" if parent else "the top level"


def _parents_after(placements: list[tuple]) -> dict[tuple[str, str], str | None]:
    """For each placement (unit, ..., end, ...), where the unit sat next: under the parent of
    its following placement, or where it sits today."""
    units = list({placement[0] for placement in placements})
    following: dict[str, list[tuple[PartialDate, str | None]]] = defaultdict(list)
    for unit, parent, end in Placement.objects.filter(organization__in=units).values_list(
        "organization", "parent", "end"
    ):
        following[unit].append((PartialDate.parse(end), parent))
    today = dict(
        Organization.objects.filter(pk__in=units).order_by().values_list("pk", "parent_id")
    )
    found = {}
    for unit, _, _, end, _ in placements:
        ending = PartialDate.parse(end).earliest
        later = sorted(
            (date.earliest, parent) for date, parent in following[unit] if date.earliest > ending
        )
        found[(unit, end)] = later[0][1] if later else today.get(unit)
    return found


@lru_cache(maxsize=8192)
def _date(text: str) -> PartialDate | None:
    # Cached: the same few thousand dates recur across a national registry's changes.
    return PartialDate.parse(text) if text else None


class _Scope:
    """The organizations a comparison covers: all, or those in `root`'s subtree on either date
    (today's subtree, and the few units placed under it then but elsewhere today)."""

    def __init__(self, root: Organization | None, dates: Iterable[On] | None):
        """`dates`: the dates compared; None for units ever placed under `root`'s subtree.
        Only the units outside today's subtree are listed (`extra`): a subtree of any size is
        one range of the tree index, never a list of ids in a query."""
        self.root = root
        self.extra: list[str] = []
        if root is None:
            return
        if dates is None:
            extra: set[str] = set()
            while (
                arriving := set(
                    Placement.objects.filter(
                        Q(**subtree_lookups(root, path="parent__")) | Q(parent__in=sorted(extra))
                    )
                    .exclude(**subtree_lookups(root, path="organization__"))
                    .values_list("organization", flat=True)
                )
                - extra
            ):
                extra |= arriving
            self.extra = sorted(extra)
            return
        fields = ("id", "parent", "formed", "dissolved", "tree_id", "lft")
        self.extra = sorted(
            {
                node.pk
                for on in dates
                for node in structure_on(root, on, lambda q: q.only(*fields)).nodes
                if not (node.tree_id == root.tree_id and root.lft <= node.lft <= root.rght)
            }
        )

    def q(self, path: str = "") -> Q:
        if self.root is None:
            return Q()
        return Q(**subtree_lookups(self.root, path=path)) | Q(**{f"{path}pk__in": self.extra})


def _former_names_on(on: On) -> dict[str, tuple[str, PartialDate]]:
    """The units whose name on `on` was a former name (its whole known period covering the date
    asked, as `validtime.name_on` reads it), with that name and when it ended."""
    rows = (
        OtherName.objects.filter(name_type=OtherName.Type.FORMER_NAME)
        .filter(Q(language="") | Q(language__istartswith="en"))
        .exclude(start="")
        .exclude(end="")
        .filter(start__lte=on.first.isoformat())
        .order_by("organization", "position", "pk")
        .values_list("organization", "name", "start", "end")
    )
    found: dict[str, tuple[str, PartialDate]] = {}
    for organization, name, start, end in rows:
        end_date = PartialDate.parse(end)
        if former_name_covers(PartialDate.parse(start), end_date, on):
            found.setdefault(organization, (name, end_date))
    return found


def _names(ids: Iterable[str]) -> dict[str, str]:
    return dict(Organization.objects.filter(pk__in=list(ids)).values_list("pk", "name"))


def _move_dates(
    units: list[str], after: datetime.date, by: datetime.date
) -> dict[str, tuple[PartialDate, str | None]]:
    """When each of `units` left a placement within the range (its latest such move)."""
    found: dict[str, tuple[PartialDate, str | None]] = {}
    placements = (
        Placement.objects.filter(began_between("end", after, by), organization__in=units)
        .order_by("organization", "end")
        .values_list("organization", "end", "event")
    )
    for unit, end, event in placements:
        found[unit] = (PartialDate.parse(end), event)
    return found


@dataclass
class _Event:
    """A change event as the comparison reads it: plain values, its organizations with them."""

    pk: str
    type: str
    date: PartialDate | None
    detail: str
    source: str  # cited
    parts: list[tuple[str, str, str]] = field(default_factory=list)  # (id, name, role)


def _read_events(events: QuerySet) -> list[_Event]:
    """`events` (a queryset of change events, in its order) as plain values with their
    organizations: two queries and no model instances, for thousands of events at national
    scale (a join, not a prefetch: Django prefetches a foreign key's rows with one OR term
    each, and SQLite refuses more than 1,000)."""
    found = {}
    for pk, type_, date, note, title, locator, before, after in events.values_list(
        "pk",
        "type",
        "date",
        "note",
        "source__title",
        "locator",
        "rank_before__name",
        "rank_after__name",
    ):
        detail = note
        if type_ == ChangeEvent.Type.RANK_CHANGED:
            ranks = f"From {before or 'unrecorded'} to {after or 'unrecorded'}."
            detail = f"{ranks} {note}".strip()
        source = "" if title is None else f"{title}, {locator}" if locator else title
        found[pk] = _Event(pk, type_, _date(date), detail, source)
    parts = (
        EventOrganization.objects.filter(event__in=events.values("pk"))
        .order_by("event", "role", "position", "pk")
        .values_list("event", "organization", "organization__name", "role")
    )
    for event, organization, name, role in parts:
        found[event].parts.append((organization, name, role))
    return list(found.values())


class _Events:
    """The change events in the range, each listed once: with the state-based change it
    explains (a formation, a move...) or else under its own kind."""

    def __init__(self, events: list[_Event]):
        self.events = events
        self.claimed: set[str] = set()
        self.by_id = {event.pk: event for event in events}
        self.by_part: dict[tuple[str, str], _Event] = {}
        self.roles: set[tuple[str, str, str]] = set()
        for event in events:
            for organization, _, role in event.parts:
                self.by_part.setdefault((event.type, organization), event)
                self.roles.add((event.type, organization, role))

    def reshaped(self, kind: str, organization: str) -> bool:
        """Whether a merger or split explains this formation (of a result) or dissolution (of
        an original): the change is then told once, as that merger or split."""
        role = {"established": "result", "abolished": "original"}[kind]
        return any(
            (event_type, organization, role) in self.roles
            # The values: a choices member hashes by its name, not as the text it equals.
            for event_type in (ChangeEvent.Type.MERGED.value, ChangeEvent.Type.SPLIT.value)
        )

    def claim(self, kind: str, organization: str, event_id: str | None = None) -> dict:
        event = self.by_id.get(event_id) or self.by_part.get((kind, organization))
        if event is None:
            return {}
        self.claimed.add(event.pk)
        return {"event_id": event.pk, "source": event.source}

    def unclaimed(self) -> Iterator[Change]:
        for event in self.events:
            if event.pk in self.claimed:
                continue
            originals = [Unit(pk, name) for pk, name, role in event.parts if role == "original"]
            results = [Unit(pk, name) for pk, name, role in event.parts if role == "result"]
            # A merger is told from what it made, anything else from what it changed.
            first, others = (
                (results, originals)
                if event.type == ChangeEvent.Type.MERGED
                else (originals, results)
            )
            if not first:
                first, others = others, []
            if not first:
                continue  # an event with no organization in the scope
            yield Change(
                event.type,
                event.date,
                first[0],
                event.detail,
                (*first[1:], *others),
                event.pk,
                event.source,
            )


def _events_in(scope: _Scope) -> QuerySet:
    return ChangeEvent.objects.filter(
        pk__in=ChangeEvent.objects.filter(scope.q("participants__organization__")).values("pk")
    )


def _events(after: datetime.date, by: datetime.date, scope: _Scope) -> _Events:
    return _Events(
        _read_events(
            _events_in(scope).filter(began_between("date", after, by)).order_by("date", "id")
        )
    )


def _holdings(after: datetime.date, by: datetime.date, scope: _Scope):
    """Who took office and who left, in the range: two lists of changes."""
    found: dict[str, list[Change]] = {"appointed": [], "left": []}
    holdings = (
        Holding.objects.filter(scope.q("post__organization__"))
        .filter(began_between("start", after, by) | began_between("end", after, by))
        .order_by()
        .values_list(
            "start",
            "end",
            "person",
            "person__name",
            "post__title",
            "post__organization",
            "post__organization__name",
        )
    )
    for start, end, person, person_name, title, organization, name in holdings:
        for kind, text, verb in (("appointed", start, "took office as"), ("left", end, "left")):
            date = _date(text)
            if date and after < date.earliest <= by:
                found[kind].append(
                    Change(
                        kind,
                        date,
                        Unit(organization, name),
                        f"{person_name} {verb} {title}.",
                        person=Unit(person, person_name),
                    )
                )
    return found["appointed"], found["left"]
