"""The registry as it stood on a date (valid time: when something was true in the world).

The current tree is django-mptt's and stays the fast path. A date in the past differs from it
only where units were placed elsewhere then (`Placement`), or did not exist yet or any more
(`formed`, `dissolved`), so a page "as on" a date reads today's rows and corrects them from
those few facts, instead of keeping a second tree per date. The date rules are in
`dates.On` and docs/time.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.db.models import Q

from .dates import On, PartialDate, lasts_until
from .models import (
    ChangeEvent,
    EventOrganization,
    Holding,
    Organization,
    OtherName,
    Placement,
    Rank,
)
from .trees import subtree_lookups, tree_order_key


def exists_on(node: Organization, on: On) -> bool:
    """Whether `node` existed at some time during `on` (unknown dates never rule it out)."""
    return on.overlaps(node.formed, node.dissolved)


def dates_unknown(node: Organization) -> bool:
    return node.formed is None and node.dissolved is None


def parents_on(on: On, among: Iterable[str] | None = None) -> dict[str, str | None]:
    """The parent on `on` of every unit that sat elsewhere then than it does today (None: it
    was a top-level body then); units absent here sat where they sit today.

    A unit's current placement began when its latest earlier placement ended. Of the
    placements that overlap `on`, the one that began latest applies: a page shows the
    structure as it stood at the end of the period asked for (docs/time.md)."""
    placements = Placement.objects.filter(lasts_until("end", on.first))
    if among is not None:
        placements = placements.filter(organization__in=list(among))
    by_unit: dict[str, list[tuple[str | None, str, str]]] = defaultdict(list)
    for unit, parent, start, end in placements.order_by().values_list(
        "organization", "parent", "start", "end"
    ):
        by_unit[unit].append((parent, start, end))
    if not by_unit:
        return {}
    current = dict(
        Organization.objects.filter(pk__in=list(by_unit)).order_by().values_list("pk", "parent_id")
    )
    then: dict[str, str | None] = {}
    for unit, earlier in by_unit.items():
        earlier.sort(key=lambda placement: PartialDate.parse(placement[2]).earliest)
        parent = _parent_then(on, earlier, current[unit])
        if parent != current[unit]:
            then[unit] = parent
    return then


def _parent_then(on: On, earlier: list[tuple[str | None, str, str]], today: str | None):
    """`earlier`: a unit's placements that last into `on`, by end date."""
    if PartialDate.parse(earlier[-1][2]).earliest <= on.last:
        return today  # the current placement had begun by the end of the period
    for parent, start, _ in reversed(earlier):
        if not start or PartialDate.parse(start).earliest <= on.last:
            return parent
    return earlier[0][0]  # before the first recorded placement began: its earliest known


@dataclass
class Structure:
    """A subtree as it stood on a date: the units below `root` then, each under its parent
    then, in tree order, with those that did not exist then left out."""

    root: Organization
    children: dict[str, list[Organization]]

    @property
    def nodes(self) -> list[Organization]:
        found, stack = [], list(reversed(self.children.get(self.root.pk, [])))
        while stack:
            node = stack.pop()
            found.append(node)
            stack.extend(reversed(self.children.get(node.pk, [])))
        return found


def structure_on(root: Organization, on: On, descendants) -> Structure:
    """`root`'s subtree on `on`. `descendants(queryset)` narrows an Organization queryset to
    the rows and fields the page shows (as for today's subtree)."""
    moved = parents_on(on)
    # Only what existed then is read: a unit that did not exist is not shown, nor (as nothing
    # was under it then) anything below it.
    existing = on.existing()
    rows = {
        node.pk: node for node in descendants(Organization.objects.subtree(root).filter(existing))
    }
    rows.pop(root.pk, None)
    known, fetched = {root.pk, *rows}, set()
    while arriving := [
        unit
        for unit, parent in moved.items()
        if parent in known and unit not in rows and unit not in fetched
    ]:
        fetched.update(arriving)
        heads = Organization.objects.filter(pk__in=arriving).only("tree_id", "lft", "rght")
        lookups = reduce(or_, (Q(**subtree_lookups(head)) for head in heads))
        for node in descendants(Organization.objects.filter(lookups).filter(existing)):
            rows.setdefault(node.pk, node)
            known.add(node.pk)
    grouped: dict[str | None, list[Organization]] = defaultdict(list)
    for node in sorted(rows.values(), key=tree_order_key):
        grouped[moved.get(node.pk, node.parent_id)].append(node)
    children: dict[str, list[Organization]] = {}
    stack = [root.pk]
    while stack:
        pk = stack.pop()
        present = [node for node in grouped.get(pk, ()) if exists_on(node, on)]
        if present:
            children[pk] = present
            stack.extend(node.pk for node in present)
    return Structure(root=root, children=children)


def ancestors_on(node: Organization, on: On) -> list[Organization]:
    """The units above `node` on `on`, from its top-level body then down to its parent then."""
    chain: list[Organization] = []
    seen = {node.pk}
    parent = parent_on(node, on)
    while parent is not None and parent.pk not in seen:
        chain.append(parent)
        seen.add(parent.pk)
        parent = parent_on(parent, on)
    return list(reversed(chain))


def parent_on(node: Organization, on: On) -> Organization | None:
    moved = parents_on(on, among=[node.pk])
    pk = moved.get(node.pk, node.parent_id)
    return Organization.objects.filter(pk=pk).first() if pk else None


def name_on(node: Organization, on: On, *, chinese: bool = False) -> str:
    """The (English, or `chinese`) name on `on`: a former name in that language known to have
    been in use through the whole period asked (begun by its first day, not yet given up by its
    last: in the period of the change itself the later name applies, rule 4 of docs/time.md),
    else today's name. A former name with no known end is not assumed to have lasted."""
    for other in node.other_names_in_order:
        if (
            other.name_type == OtherName.Type.FORMER_NAME
            and (other.is_chinese if chinese else other.is_english)
            and former_name_covers(other.start, other.end, on)
        ):
            return other.name
    return node.name_zh if chinese else node.name


def former_name_covers(start: PartialDate | None, end: PartialDate | None, on: On) -> bool:
    """Whether a former name from `start` to `end` names its unit on `on` (see `name_on`)."""
    return (
        start is not None
        and end is not None
        and start.earliest <= on.first
        and end.earliest > on.last
    )


def names_on(node: Organization, on: On) -> list[OtherName]:
    """The other names that may have been in use on `on` (undated ones included)."""
    return [other for other in node.other_names_in_order if on.overlaps(other.start, other.end)]


def ranks_on(on: On, among: Iterable[str] | None = None) -> dict[str, str | None]:
    """The rank code on `on` (None: unrecorded) of every unit (of `among`, if given) with
    recorded rank changes, from one query: the rank after the latest change by then, or the one
    before the first change after it. Units absent here have today's rank then."""
    rows = EventOrganization.objects.filter(event__type=ChangeEvent.Type.RANK_CHANGED).exclude(
        event__date=""
    )
    if among is not None:
        rows = rows.filter(organization__in=list(among))
    changes: dict[str, list[tuple[PartialDate, str | None, str | None]]] = defaultdict(list)
    for pk, date, before, after in rows.order_by("event__date").values_list(
        "organization", "event__date", "event__rank_before", "event__rank_after"
    ):
        changes[pk].append((PartialDate.parse(date), before, after))
    ranks = {}
    for pk, listed in changes.items():
        by_then = [change for change in listed if change[0].earliest <= on.last]
        ranks[pk] = by_then[-1][2] if by_then else listed[0][1]
    return ranks


def rank_on(node: Organization, on: On) -> Rank | None:
    """`node`'s rank on `on` (the rule of `ranks_on`)."""
    ranks = ranks_on(on, among=[node.pk])
    if node.pk not in ranks:
        return node.rank
    return Rank.objects.filter(pk=ranks[node.pk]).first() if ranks[node.pk] else None


def holdings_on(holdings: Iterable[Holding], on: On) -> list[Holding]:
    """The holdings of a post that may have run on `on` (undated ones included)."""
    return [holding for holding in holdings if on.overlaps(holding.start, holding.end)]


@dataclass
class Moment:
    """One line of an organization's timeline."""

    date: PartialDate | None
    what: str
    detail: str = ""
    links: tuple[Organization, ...] = ()
    event: ChangeEvent | None = None

    @property
    def sort_key(self) -> tuple:
        return (self.date is None, self.date.earliest if self.date else None)


def timeline(organization: Organization) -> list[Moment]:
    """What happened to `organization`, dated where the registry knows when, oldest first; the
    undated last. Built from the dated facts themselves (formation, names, placements, lineage,
    appointments) and the change events it took part in, each said once."""
    moments: list[Moment] = []
    events = list(
        ChangeEvent.objects.filter(participants__organization=organization)
        .distinct()
        .select_related("source", "rank_before", "rank_after")
        .prefetch_related("participants__organization")
    )
    said_by_events = set()
    placements = list(organization.placements.select_related("parent").order_by("end"))
    # A move recorded as an event is told once, by its placement (which says from where to
    # where), with the event attached.
    told_by_placements = {placement.event_id for placement in placements if placement.event_id}
    for event in events:
        if event.pk in told_by_placements:
            continue
        others = tuple(
            part.organization
            for part in event.participants.all()
            if part.organization_id != organization.pk
        )
        roles = {
            part.role
            for part in event.participants.all()
            if part.organization_id == organization.pk
        }
        if event.type == ChangeEvent.Type.ESTABLISHED and "result" in roles:
            said_by_events.add("formed")
        if event.type == ChangeEvent.Type.ABOLISHED and "original" in roles:
            said_by_events.add("dissolved")
        detail = event.note
        if event.type == ChangeEvent.Type.RANK_CHANGED and event.rank_after:
            detail = (
                f"From {event.rank_before or 'unrecorded'} to {event.rank_after}. {detail}".strip()
            )
        moments.append(Moment(event.date, event.get_type_display(), detail, others, event))
    if organization.formed and "formed" not in said_by_events:
        moments.append(Moment(organization.formed, "Established"))
    if organization.dissolved and "dissolved" not in said_by_events:
        moments.append(Moment(organization.dissolved, "Dissolved"))
    for other in organization.other_names_in_order:
        label = other.get_name_type_display().split(" (")[0].lower()
        if other.start:
            moments.append(Moment(other.start, f"Name in use: {other.name}", f"As its {label}."))
        if other.end:
            moments.append(
                Moment(other.end, f"Name no longer used: {other.name}", f"Its {label}.")
            )
    for index, placement in enumerate(placements):
        after = (
            placements[index + 1].parent if index + 1 < len(placements) else organization.parent
        )
        was = placement.parent.name if placement.parent else "the top level"
        now = after.name if after else "the top level"
        moments.append(
            Moment(
                placement.end,
                f"Moved from {was} to {now}",
                links=tuple(unit for unit in (placement.parent, after) if unit),
                event=placement.event,
            )
        )
    told = {event.pk for event in events}
    for link in organization.predecessor_links.select_related("predecessor"):
        if link.event_id in told:
            continue
        moments.append(
            Moment(link.date, f"Succeeded {link.predecessor.name}", link.note, (link.predecessor,))
        )
    for link in organization.successor_links.select_related("successor"):
        if link.event_id in told:
            continue
        moments.append(
            Moment(link.date, f"Succeeded by {link.successor.name}", link.note, (link.successor,))
        )
    for holding in Holding.objects.filter(post__organization=organization).select_related(
        "person", "post"
    ):
        if holding.start:
            moments.append(
                Moment(holding.start, f"{holding.person.name} took office as {holding.post.title}")
            )
        if holding.end:
            moments.append(
                Moment(holding.end, f"{holding.person.name} left office as {holding.post.title}")
            )
    return sorted(moments, key=lambda moment: moment.sort_key)
