"""Reforms as they happen in the world: one change event and every dated record it implies.

A curator records "X moved under Y in March 2000" once; the service writes the change event
and its participants, the earlier placement it closed, the former name, the dissolutions and
lineage links, and moves the current tree, all in one transaction under the tree lock, or
refuses with a message keyed by the form field at fault and writes nothing (docs/time.md,
"Recording a change").

Each event is modelled as W3C ORG's `org:ChangeEvent`: the units before it are its
`originalOrganization`s, those after it its `resultingOrganization`s. A unit that keeps its
identity through the change (moved, renamed, re-ranked, or a split's parent that continues) is
both (our reading: ORG does not say, and the unit is the same before and after); the parents
before and after a move are told by the placement tied to the event, not by participation.

What an event wrote, for `event_date_correct`: the placements and lineage links tied to it by
their `event` key, and, matched by the event's date, the former names its renamed unit gave up,
the dissolutions of its original units and the formation of the units it created.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import reversion
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify
from mptt.exceptions import InvalidMove

from .dates import PartialDate
from .history import history_fingerprint, history_record
from .models import (
    ChangeEvent,
    EventOrganization,
    Kind,
    Organization,
    OtherName,
    Placement,
    Rank,
    Source,
    Succession,
    outside_existence,
)

Type = ChangeEvent.Type
ORIGINAL = EventOrganization.Role.ORIGINAL
RESULT = EventOrganization.Role.RESULT

# What becomes of the current sub-units of a unit that ends: moved under the unit that takes
# over, left where they are, or ended on the same date.
SUB_UNITS_MOVE = "move"
SUB_UNITS_STAY = "stay"
SUB_UNITS_END = "end"


@dataclass(frozen=True)
class NewUnit:
    """An organization a merge or split creates: formed on the event's date."""

    id: str
    name: str
    parent: Organization | None
    kind: Kind
    rank: Rank | None = None


@dataclass(frozen=True)
class EventFacts:
    """What every change event carries besides its type and organizations."""

    date: PartialDate
    source: Source | None = None
    locator: str = ""
    note: str = ""
    event_id: str | None = None


def event_id_suggest(*, type: str, organization_id: str, date: PartialDate | str) -> str:
    """`{organization}-{type}-{date}`, e.g. cppcc-go-research-office-moved-2000-03, within the
    identifier's 100 characters (the organization's part is shortened)."""
    tail = f"-{slugify(type.replace('_', '-'))}-{date}"
    head = organization_id[: 100 - len(tail)].rstrip("-")
    return f"{head}{tail}"


def organization_states(organizations: Iterable[Organization]) -> dict[str, str]:
    """Each organization's state as a form shows it (`history_fingerprint`), by id: sent back
    with the form as `shown`, so that a reform over someone else's later change is refused."""
    return {o.pk: history_fingerprint(model=Organization, pk=o.pk) for o in organizations if o.pk}


# --- The reforms ----------------------------------------------------------------------------


def reform_move(
    *,
    organization: Organization,
    parent: Organization,
    date: PartialDate | str,
    source: Source | None = None,
    locator: str = "",
    note: str = "",
    event_id: str | None = None,
    shown: Mapping[str, str] | None = None,
    user=None,
) -> ChangeEvent:
    """Move `organization` (with its subtree) under `parent` on `date`: its placement under
    its old parent is closed on `date`, it becomes `parent`'s last child in the tree, and a
    "moved" event records it, with the placement tied to it."""
    facts = _facts(date, source, locator, note, event_id)
    with transaction.atomic():
        Organization.objects.lock_tree_writes()
        _fresh(organization, "organization", shown)
        _fresh(parent, "parent", shown)
        _existed_on(organization, facts.date, "organization")
        _existed_on(parent, facts.date, "parent")
        if parent.pk == organization.pk or parent.is_descendant_of(organization):
            raise ValidationError(
                {
                    "parent": f"“{organization}” cannot be moved under “{parent}”: a unit "
                    "cannot be placed under itself or under one of its own sub-units."
                }
            )
        if parent.pk == organization.parent_id:
            raise ValidationError(
                {"parent": f"“{organization}” is already under “{parent}”: nothing to move."}
            )
        event = _event(Type.MOVED, facts, organization, [organization], [organization])
        _close_placement(organization, facts.date, event, field="date")
        _move_under(organization, parent)
        _history(
            [organization],
            event,
            f"Moved under “{parent}” on {facts.date} (change event {event.pk}).",
            user,
        )
        return event


def reform_rename(
    *,
    organization: Organization,
    name: str,
    date: PartialDate | str,
    source: Source | None = None,
    locator: str = "",
    note: str = "",
    event_id: str | None = None,
    shown: Mapping[str, str] | None = None,
    user=None,
) -> ChangeEvent:
    """Rename `organization` to `name` on `date`: today's name becomes a former name ending on
    `date` (starting when the name before it ended, else at the formation, else unknown)."""
    facts = _facts(date, source, locator, note, event_id)
    with transaction.atomic():
        Organization.objects.lock_tree_writes()
        _fresh(organization, "organization", shown)
        _existed_on(organization, facts.date, "organization")
        if name == organization.name:
            raise ValidationError({"name": f"“{organization}” already has this name."})
        formers = organization.other_names.filter(name_type=OtherName.Type.FORMER_NAME)
        if formers.filter(name=organization.name).exists():
            raise ValidationError(
                {
                    "name": f"“{organization.name}” is already recorded as a former name of this "
                    "unit; edit that name's dates on the organization's page instead."
                }
            )
        ended = [f.end for f in formers if f.end is not None]
        latest = max(ended, key=lambda d: d.earliest, default=None)
        if latest is not None and facts.date.earliest <= latest.earliest:
            raise ValidationError(
                {
                    "date": f"A former name of “{organization}” was in use until "
                    f"{latest.display()}: this rename must come after that (give a later or "
                    "more precise date)."
                }
            )
        event = _event(Type.RENAMED, facts, organization, [organization], [organization])
        position = (organization.other_names.aggregate(last=Max("position"))["last"] or 0) + 1
        _save(
            OtherName(
                organization=organization,
                name=organization.name,
                name_type=OtherName.Type.FORMER_NAME,
                start=latest or organization.formed,
                end=facts.date,
                position=position,
            ),
            "date",
        )
        old = organization.name
        organization.name = name
        _save(organization, "name", update_fields=["name"])
        _history(
            [organization],
            event,
            f"Renamed from “{old}” to “{name}” on {facts.date} (change event {event.pk}).",
            user,
        )
        return event


def reform_merge(
    *,
    organizations: Sequence[Organization],
    date: PartialDate | str,
    result: Organization | None = None,
    new_result: NewUnit | None = None,
    sub_units: str = SUB_UNITS_MOVE,
    source: Source | None = None,
    locator: str = "",
    note: str = "",
    event_id: str | None = None,
    shown: Mapping[str, str] | None = None,
    user=None,
) -> ChangeEvent:
    """Merge `organizations` into `result` (existing) or `new_result` (created, formed on
    `date`): each merged unit is dissolved on `date` with a lineage link to the result. Their
    current sub-units move under the result (`sub_units="move"`, with their placements closed
    on `date`) or stay where they are (`"stay"`); nothing is deleted."""
    facts = _facts(date, source, locator, note, event_id)
    if sub_units not in (SUB_UNITS_MOVE, SUB_UNITS_STAY):
        raise ValidationError({"sub_units": "Choose whether the sub-units move or stay."})
    with transaction.atomic():
        Organization.objects.lock_tree_writes()
        merged = _distinct(organizations, "organizations")
        if not merged:
            raise ValidationError({"organizations": "Choose the organizations that merge."})
        for unit in merged:
            _fresh(unit, "organizations", shown)
            _ending_on(unit, facts.date, "organizations")
        target = _result(result, new_result, facts.date, shown, "result")
        for unit in merged:
            if unit.pk == target.pk:
                raise ValidationError(
                    {"result": f"“{unit}” cannot be merged into itself: it is the result."}
                )
            if not target._state.adding and target.is_descendant_of(unit):
                raise ValidationError(
                    {"result": f"“{target}” is inside “{unit}”, which ends in this merge."}
                )
        if target._state.adding and target.parent_id in {unit.pk for unit in merged}:
            raise ValidationError(
                {
                    "result": f"The new organization's parent, “{target.parent}”, ends in "
                    "this merge."
                }
            )
        first = merged[0]
        target = _create(target, facts.date)
        event = _event(Type.MERGED, facts, first, merged, [target])
        moved = []
        for unit in merged:
            _end(unit, facts.date, field="organizations")
            _save(Succession(predecessor=unit, successor=target, date=facts.date, event=event))
            if sub_units == SUB_UNITS_MOVE:
                moved += _move_sub_units(unit, target, facts.date, event)
        names = ", ".join(f"“{unit}”" for unit in merged)
        _history(
            [*merged, target, *moved],
            event,
            f"{names} merged into “{target}” on {facts.date} (change event {event.pk}).",
            user,
        )
        return event


def reform_split(
    *,
    organization: Organization,
    date: PartialDate | str,
    results: Sequence[Organization] = (),
    new_results: Sequence[NewUnit] = (),
    continues: bool = False,
    sub_units_to: str = "",
    source: Source | None = None,
    locator: str = "",
    note: str = "",
    event_id: str | None = None,
    shown: Mapping[str, str] | None = None,
    user=None,
) -> ChangeEvent:
    """Split `organization` into `results` (existing) and `new_results` (created, formed on
    `date`). It is dissolved on `date` with a lineage link to each result, unless it
    `continues` (then the results split off from it and it has no successors, since a unit
    with a successor has ended). Its current sub-units move under the result whose identifier
    is `sub_units_to`, or stay where they are when that is empty."""
    facts = _facts(date, source, locator, note, event_id)
    with transaction.atomic():
        Organization.objects.lock_tree_writes()
        _fresh(organization, "organization", shown)
        if continues:
            _existed_on(organization, facts.date, "organization")
        else:
            _ending_on(organization, facts.date, "organization")
        targets = [
            *(_result(unit, None, facts.date, shown, "results") for unit in results),
            *(_result(None, unit, facts.date, shown, "new_results") for unit in new_results),
        ]
        targets = _distinct(targets, "results")
        if len(targets) < (1 if continues else 2):
            raise ValidationError(
                {
                    "results": "A split needs at least two results (one is enough when the "
                    "unit continues)."
                }
            )
        for target in targets:
            if target.pk == organization.pk:
                raise ValidationError(
                    {"results": f"“{organization}” cannot be one of its own split's results."}
                )
            if target._state.adding and target.parent_id == organization.pk and not continues:
                raise ValidationError(
                    {
                        "results": f"“{organization}” ends in this split: it cannot be the new "
                        "organizations' parent."
                    }
                )
            if not target._state.adding and target.is_descendant_of(organization):
                raise ValidationError(
                    {"results": f"“{target}” is inside “{organization}”, which it splits from."}
                )
        destination = None
        if sub_units_to:
            destination = next((t for t in targets if t.pk == sub_units_to), None)
            if destination is None:
                raise ValidationError(
                    {"sub_units_to": f"“{sub_units_to}” is not one of the split's results."}
                )
        elif not continues and _current_children(organization):
            raise ValidationError(
                {
                    "sub_units_to": f"“{organization}” still has current sub-units: choose the "
                    "result they move under (or record their own changes first)."
                }
            )
        targets = [_create(target, facts.date) for target in targets]
        originals = [organization]
        event = _event(
            Type.SPLIT,
            facts,
            organization,
            originals,
            [*targets, organization] if continues else targets,
        )
        if not continues:
            _end(organization, facts.date, field="organization")
            for target in targets:
                _save(
                    Succession(
                        predecessor=organization, successor=target, date=facts.date, event=event
                    )
                )
        moved = []
        if destination is not None:
            destination = next(t for t in targets if t.pk == destination.pk)
            moved = _move_sub_units(organization, destination, facts.date, event)
        names = ", ".join(f"“{target}”" for target in targets)
        _history(
            [organization, *targets, *moved],
            event,
            f"“{organization}” split into {names} on {facts.date} (change event {event.pk}).",
            user,
        )
        return event


def reform_abolish(
    *,
    organization: Organization,
    date: PartialDate | str,
    successor: Organization | None = None,
    sub_units: str | None = None,
    source: Source | None = None,
    locator: str = "",
    note: str = "",
    event_id: str | None = None,
    shown: Mapping[str, str] | None = None,
    user=None,
) -> ChangeEvent:
    """Abolish `organization` on `date`, its functions going to `successor` when given (a
    lineage link, the successor a result of the event). A unit with current sub-units is
    refused unless `sub_units` says what becomes of them: "move" (under the successor) or
    "end" (they, and everything current under them, end on the same date)."""
    facts = _facts(date, source, locator, note, event_id)
    with transaction.atomic():
        Organization.objects.lock_tree_writes()
        _fresh(organization, "organization", shown)
        _ending_on(organization, facts.date, "organization")
        if successor is not None:
            _fresh(successor, "successor", shown)
            _existed_on(successor, facts.date, "successor")
            if successor.pk == organization.pk or successor.is_descendant_of(organization):
                raise ValidationError(
                    {
                        "successor": f"“{successor}” cannot take over from “{organization}”: "
                        "it is that unit or one of its sub-units, which end with it."
                    }
                )
        children = _current_children(organization)
        if children and sub_units not in (SUB_UNITS_MOVE, SUB_UNITS_END):
            listed = ", ".join(f"“{child}”" for child in children[:5])
            more = f" and {len(children) - 5} more" if len(children) > 5 else ""
            raise ValidationError(
                {
                    "sub_units": f"“{organization}” still has {len(children)} current "
                    f"sub-unit(s) ({listed}{more}): move them under the successor, end them "
                    "too, or record their own changes first."
                }
            )
        if children and sub_units == SUB_UNITS_MOVE and successor is None:
            raise ValidationError({"successor": "Choose the successor the sub-units move under."})
        # What stays under the unit must not outlive it (a child lies within its parent's
        # existence): a sub-unit dissolved only after the date is refused, naming it.
        moving = children if sub_units == SUB_UNITS_MOVE else []
        outliving = [
            unit
            for unit in Organization.objects.subtree(organization, include_self=False)
            .exclude(dissolved="")
            .in_tree_order()
            if facts.date.is_before(unit.dissolved)
            and not any(
                moved.tree_id == unit.tree_id and moved.lft <= unit.lft <= moved.rght
                for moved in moving
            )
        ]
        if outliving:
            raise ValidationError(
                {
                    "sub_units": f"“{outliving[0]}” under “{organization}” was dissolved only "
                    f"in {outliving[0].dissolved.display()}, after {facts.date.display()}: "
                    "correct its dissolution or record its own change first."
                }
            )
        ending = []
        if children and sub_units == SUB_UNITS_END:
            ending = list(
                Organization.objects.subtree(organization, include_self=False)
                .filter(Organization.objects.current_q())
                .in_tree_order()
            )
        if successor is not None and not facts.note:
            facts = EventFacts(
                facts.date,
                facts.source,
                facts.locator,
                f"Functions transferred to “{successor}”.",
                facts.event_id,
            )
        event = _event(
            Type.ABOLISHED,
            facts,
            organization,
            [organization, *ending],
            [successor] if successor is not None else [],
        )
        for unit in [organization, *ending]:
            _end(unit, facts.date, field="sub_units" if unit is not organization else "date")
        moved = []
        if successor is not None:
            _save(
                Succession(
                    predecessor=organization, successor=successor, date=facts.date, event=event
                )
            )
            if sub_units == SUB_UNITS_MOVE:
                moved = _move_sub_units(organization, successor, facts.date, event)
        to = f", functions to “{successor}”" if successor is not None else ""
        _history(
            [organization, *ending, *moved, *([successor] if successor else [])],
            event,
            f"“{organization}” abolished on {facts.date}{to} (change event {event.pk}).",
            user,
        )
        return event


def reform_rank_change(
    *,
    organization: Organization,
    rank: Rank,
    date: PartialDate | str,
    source: Source | None = None,
    locator: str = "",
    note: str = "",
    event_id: str | None = None,
    shown: Mapping[str, str] | None = None,
    user=None,
) -> ChangeEvent:
    """The rank of `organization` changed on `date` from its present rank to `rank`. Changes
    are recorded in order: one dated before the unit's latest recorded change is refused (its
    present rank would then not be the rank before it)."""
    facts = _facts(date, source, locator, note, event_id)
    with transaction.atomic():
        Organization.objects.lock_tree_writes()
        _fresh(organization, "organization", shown)
        _existed_on(organization, facts.date, "organization")
        if rank.pk == organization.rank_id:
            raise ValidationError({"rank": f"“{organization}” already has the rank {rank}."})
        for change in ChangeEvent.objects.filter(
            type=Type.RANK_CHANGED, participants__organization=organization
        ).exclude(date=""):
            if facts.date.earliest <= change.date.earliest:
                raise ValidationError(
                    {
                        "date": f"“{organization}” has a rank change recorded on "
                        f"{change.date.display()} ({change.pk}): a new one must come after it."
                    }
                )
        before = organization.rank
        event = _event(
            Type.RANK_CHANGED,
            facts,
            organization,
            [organization],
            [organization],
            rank_before=before,
            rank_after=rank,
        )
        organization.rank = rank
        _save(organization, "rank", update_fields=["rank"])
        _history(
            [organization],
            event,
            f"Rank changed from {before or 'unrecorded'} to {rank} on {facts.date} "
            f"(change event {event.pk}).",
            user,
        )
        return event


# --- Correcting an event's date -------------------------------------------------------------


def event_date_correct(
    *,
    event: ChangeEvent,
    date: PartialDate | str,
    shown_date: str | None = None,
    user=None,
) -> list[str]:
    """Give `event` a new `date` and move every date it wrote with it: its placements' ends
    (and the start of the placement that followed each), its lineage links' dates, the former
    names its renamed units gave up (and the start of the name that followed), the dissolution
    of its original units and the formation of the units it created, where those still carry
    the event's old date. Every record is then checked as saved; a rule broken anywhere
    refuses the whole correction. `shown_date`: the date the form showed (refused if the event
    was corrected meanwhile). Returns what changed, in words."""
    new = _date(date)
    with transaction.atomic():
        Organization.objects.lock_tree_writes()
        try:
            event = ChangeEvent.objects.select_for_update().get(pk=event.pk)
        except ChangeEvent.DoesNotExist:
            raise ValidationError("The change event was deleted meanwhile.") from None
        old = event.date
        if shown_date is not None and str(old or "") != shown_date:
            raise ValidationError(
                {
                    "date": f"Someone changed this event's date to {old or 'unknown'} after you "
                    "opened the form; nothing was changed. Check it and correct it again."
                }
            )
        if old == new:
            raise ValidationError({"date": "The event already has this date."})
        changes: list[str] = []
        touched: dict[str, Organization] = {}
        checks: list = []

        def move(row, field: str, label: str) -> None:
            if isinstance(row, Organization):
                row.refresh_from_db()  # never write back stale tree fields
            setattr(row, field, new)
            # The row's own constraints now (a failed write would abort the transaction on
            # PostgreSQL); the rules that read other rows once every row is written.
            try:
                row.validate_constraints()
            except ValidationError as error:
                raise ValidationError(
                    {"date": [f"{_label(row)}: {m}" for m in _messages(error)]}
                ) from None
            row.save(update_fields=[field])
            checks.append(row)
            changes.append(label)

        for placement in event.placements.select_related("organization", "parent"):
            unit = placement.organization
            following = unit.placements.filter(start=str(old or "")).exclude(pk=placement.pk)
            if old is not None:
                for after in following.exclude(event=event):
                    move(after, "start", f"start of the placement of “{unit}” after it")
            move(placement, "end", f"end of the placement of “{unit}” under {_under(placement)}")
            touched[unit.pk] = unit
        for link in event.successions.select_related("predecessor", "successor"):
            move(link, "date", f"date of the link “{link}”")
            touched[link.successor_id] = link.successor
        parts = list(event.participants.select_related("organization"))
        originals = {p.organization_id for p in parts if p.role == ORIGINAL}
        results = {p.organization_id for p in parts if p.role == RESULT}
        if old is not None:
            for part in parts:
                unit = Organization.objects.get(pk=part.organization_id)
                if event.type == Type.RENAMED and part.role == ORIGINAL:
                    names = unit.other_names.filter(name_type=OtherName.Type.FORMER_NAME)
                    for former in names.filter(end=str(old)):
                        move(former, "end", f"end of the former name “{former}”")
                    for former in names.filter(start=str(old)):
                        move(former, "start", f"start of the former name “{former}”")
                ends = event.type in (Type.MERGED, Type.SPLIT, Type.ABOLISHED)
                ended = part.role == ORIGINAL and part.organization_id not in results
                if ends and ended and unit.dissolved == old:
                    move(unit, "dissolved", f"dissolution of “{unit}”")
                creates = event.type in (Type.MERGED, Type.SPLIT, Type.ESTABLISHED)
                created = part.role == RESULT and part.organization_id not in originals
                if creates and created and unit.formed == old:
                    move(unit, "formed", f"formation of “{unit}”")
                touched[unit.pk] = unit
        event.date = new
        event.save(update_fields=["date"])
        checks.append(event)
        _check_corrected(event, checks)
        _history(
            list(touched.values()),
            event,
            f"Date of change event {event.pk} corrected from {old or 'unknown'} to {new}"
            + (f": {', '.join(changes)}." if changes else "."),
            user,
        )
        return changes


def _check_corrected(event: ChangeEvent, rows: list) -> None:
    """Every row the correction changed, checked as the database now holds them all, with
    the rules that involve other rows: each participant existed on the new date, units under
    a unit whose existence changed still lie within it, and a moved unit's parent after the
    move existed when it arrived."""
    problems: list[str] = []
    for row in rows:
        try:
            row.full_clean()
        except ValidationError as error:
            problems += [f"{_label(row)}: {message}" for message in error.messages]
    for part in event.participants.select_related("organization"):
        if reason := _not_existing(part.organization, event.date):
            problems.append(reason)
    units = [row for row in rows if isinstance(row, Organization)]
    for unit in units:
        for placement in Placement.objects.filter(parent=unit):
            if reason := outside_existence(unit, placement.start, placement.end):
                problems.append(f"{_label(placement)}: {reason}")
        for child in unit.children.all():
            if reason := outside_existence(unit, _current_start(child), None):
                problems.append(f"“{child}” under “{unit}”: {reason}")
    for placement in event.placements.select_related("organization"):
        # The parent the unit went to on the (new) date existed then.
        unit = placement.organization
        later = sorted(
            (p for p in unit.placements.select_related("parent") if p.pk != placement.pk),
            key=lambda p: p.end.earliest,
        )
        following = next((p for p in later if placement.end.earliest < p.end.earliest), None)
        then = following.parent if following is not None else unit.parent
        if then is not None and (reason := _not_existing(then, placement.end)):
            problems.append(f"“{unit}” under “{then}” from {placement.end.display()}: {reason}")
    if problems:
        raise ValidationError({"date": list(dict.fromkeys(problems))})


def _label(row) -> str:
    if isinstance(row, Placement):
        return f"The placement of “{row.organization}” under {_under(row)}"
    if isinstance(row, ChangeEvent):
        return "The event"
    return f"“{row}”"


def _under(placement: Placement) -> str:
    return f"“{placement.parent}”" if placement.parent_id else "the top level"


def _current_start(unit: Organization) -> PartialDate | None:
    """When `unit`'s current placement began: when its latest earlier placement ended."""
    ends = [p.end for p in unit.placements.all()]
    return max(ends, key=lambda d: d.earliest, default=None) or unit.formed


# --- Pieces ---------------------------------------------------------------------------------


def _date(value: PartialDate | str | None) -> PartialDate:
    if not value:
        raise ValidationError({"date": "Give the date of the change (1949, 1949-10 or …)."})
    try:
        date = value if isinstance(value, PartialDate) else PartialDate.parse(value)
    except ValueError as error:
        raise ValidationError({"date": str(error)}) from None
    # The tree is today's structure: a reform that has not happened yet cannot change it.
    if date.earliest > datetime.date.today():
        raise ValidationError(
            {"date": f"{date.display()} is in the future: record a change once it has happened."}
        )
    return date


def _facts(date, source, locator, note, event_id) -> EventFacts:
    return EventFacts(_date(date), source, locator, note, event_id or None)


def _fresh(unit: Organization, field: str, shown: Mapping[str, str] | None) -> None:
    """Reload `unit` under the lock; refuse if it is gone, or changed since the form showed it
    (`shown`: states by id, from `organization_states`)."""
    try:
        unit.refresh_from_db()
    except Organization.DoesNotExist:
        raise ValidationError(
            {field: f"“{unit}” was deleted by someone else meanwhile."}
        ) from None
    if (
        shown
        and unit.pk in shown
        and (history_fingerprint(model=Organization, pk=unit.pk) != shown[unit.pk])
    ):
        raise ValidationError(
            {
                field: f"“{unit}” was changed by someone else after this form was shown "
                "(moved, renamed or edited), so nothing was recorded. Check it and submit "
                "the form again."
            }
        )


def _not_existing(unit: Organization, date: PartialDate) -> str | None:
    if unit.formed is not None and date.is_before(unit.formed):
        return f"“{unit}” was formed in {unit.formed.display()}, after {date.display()}."
    if unit.dissolved is not None and unit.dissolved.is_before(date):
        return f"“{unit}” was dissolved in {unit.dissolved.display()}, before {date.display()}."
    return None


def _existed_on(unit: Organization, date: PartialDate, field: str) -> None:
    if reason := _not_existing(unit, date):
        raise ValidationError({field: f"{reason} It did not exist on that date."})


def _ending_on(unit: Organization, date: PartialDate, field: str) -> None:
    """`unit` can end on `date`: it existed then and has no dissolution recorded yet."""
    _existed_on(unit, date, field)
    if unit.dissolved is not None:
        raise ValidationError(
            {field: f"“{unit}” already has a dissolution date ({unit.dissolved.display()})."}
        )
    if not Organization.objects.filter(pk=unit.pk).filter(Organization.objects.current_q()):
        raise ValidationError(
            {field: f"“{unit}” has already ended: it has a successor (see its lineage)."}
        )


def _distinct(units: Iterable[Organization], field: str) -> list[Organization]:
    units = list(units)
    seen = set()
    for unit in units:
        if unit.pk in seen:
            raise ValidationError({field: f"“{unit}” is named twice."})
        seen.add(unit.pk)
    return units


def _result(
    existing: Organization | None,
    new: NewUnit | None,
    date: PartialDate,
    shown: Mapping[str, str] | None,
    field: str,
) -> Organization:
    """The organization a merge or split results in: `existing` (checked to exist on `date`)
    or an unsaved one built from `new`, formed on `date` (saved by `_create`)."""
    if (existing is None) == (new is None):
        raise ValidationError(
            {field: "Choose an existing organization or describe a new one, not both."}
        )
    if existing is not None:
        _fresh(existing, field, shown)
        _existed_on(existing, date, field)
        return existing
    if Organization.objects.filter(pk=new.id).exists():
        raise ValidationError(
            {field: f"An organization with the identifier “{new.id}” already exists."}
        )
    if new.parent is not None:
        _fresh(new.parent, field, shown)
        _existed_on(new.parent, date, field)
    unit = Organization(
        id=new.id, name=new.name, parent=new.parent, kind=new.kind, rank=new.rank, formed=date
    )
    try:
        unit.full_clean()
    except ValidationError as error:
        raise ValidationError({field: _messages(error)}) from None
    return unit


def _create(unit: Organization, date: PartialDate) -> Organization:
    """Save a new result (as its parent's last child); an existing one is returned as is."""
    if not unit._state.adding:
        return unit
    if unit.parent is not None:
        unit.parent.refresh_from_db()
    unit.save()
    return unit


def _messages(error: ValidationError) -> list[str]:
    if hasattr(error, "error_dict"):
        return [
            f"{field}: {message}" if field != "__all__" else message
            for field, errors in error.message_dict.items()
            for message in errors
        ]
    return error.messages


def _save(row, field: str = "date", *, update_fields: list[str] | None = None) -> None:
    """`full_clean()` then save; a refusal is reported on the form's `field`."""
    try:
        row.full_clean()
    except ValidationError as error:
        raise ValidationError({field: _messages(error)}) from None
    row.save(update_fields=update_fields)


def _end(unit: Organization, date: PartialDate, *, field: str) -> None:
    unit.refresh_from_db()
    unit.dissolved = date
    _save(unit, field, update_fields=["dissolved"])


def _event(
    type: str,
    facts: EventFacts,
    first: Organization,
    originals: Sequence[Organization],
    results: Sequence[Organization],
    **fields,
) -> ChangeEvent:
    pk = facts.event_id or event_id_suggest(type=type, organization_id=first.pk, date=facts.date)
    if ChangeEvent.objects.filter(pk=pk).exists():
        raise ValidationError(
            {
                "event_id": f"A change event with the identifier “{pk}” already exists (was "
                "this change recorded already?). Give another identifier if it is a "
                "different change."
            }
        )
    event = ChangeEvent(
        id=pk,
        type=type,
        date=facts.date,
        source=facts.source,
        locator=facts.locator,
        note=facts.note,
        **fields,
    )
    try:
        event.full_clean()
    except ValidationError as error:
        fields_ = {"id": "event_id"}
        raise ValidationError(
            {
                fields_.get(name, name if name != "__all__" else "event_id"): messages
                for name, messages in error.message_dict.items()
            }
        ) from None
    event.save()
    for role, units in ((ORIGINAL, originals), (RESULT, results)):
        for position, unit in enumerate(units):
            _save(EventOrganization(event=event, organization=unit, role=role, position=position))
    return event


def _latest_placement(unit: Organization) -> Placement | None:
    placements = list(unit.placements.all())
    return max(placements, key=lambda p: p.end.earliest, default=None)


def _close_placement(unit: Organization, date: PartialDate, event: ChangeEvent, *, field: str):
    """Record `unit`'s current placement (under its parent now) as an earlier one ending on
    `date`, from when the one before it ended (else its formation, else unknown)."""
    latest = _latest_placement(unit)
    if latest is not None and date.earliest <= latest.end.earliest:
        raise ValidationError(
            {
                field: f"“{unit}” left {_under(latest)} in {latest.end.display()} (its latest "
                f"earlier placement): a move on {date.display()} would overlap it. Give a later "
                "(or more precise) date, or correct that placement first."
            }
        )
    placement = Placement(
        organization=unit,
        parent=unit.parent,
        start=latest.end if latest is not None else unit.formed,
        end=date,
        event=event,
    )
    try:
        placement.full_clean()
    except ValidationError as error:
        raise ValidationError(
            {field: [f"“{unit}” under {_under(placement)}: {m}" for m in _messages(error)]}
        ) from None
    placement.save()


def _move_under(unit: Organization, parent: Organization) -> None:
    """`unit` with its subtree becomes `parent`'s last child (fresh tree fields both sides)."""
    unit.refresh_from_db()
    parent.refresh_from_db()
    try:
        unit.move_to(parent, "last-child")
    except InvalidMove as error:
        raise ValidationError({"parent": str(error)}) from error
    unit.refresh_from_db()


def _current_children(unit: Organization) -> list[Organization]:
    return list(
        unit.children.filter(Organization.objects.current_q()).order_by("lft")  # tree order
    )


def _move_sub_units(
    unit: Organization, target: Organization, date: PartialDate, event: ChangeEvent
) -> list[Organization]:
    """Move `unit`'s current sub-units under `target` on `date`, each placement tied to
    `event`. Returns them."""
    children = _current_children(unit)
    for child in children:
        _existed_on(child, date, "sub_units")
        _close_placement(child, date, event, field="sub_units")
        _move_under(child, target)
    return children


def _history(
    organizations: Iterable[Organization], event: ChangeEvent, comment: str, user
) -> None:
    """Record the organizations (with what they own: names, placements, lineage) and the event
    (with its participants) as they are now: in the caller's revision if one is open, else
    each as a revision of its own with this comment, as `services._record` does."""
    pks = list(dict.fromkeys(o.pk for o in organizations))
    if reversion.is_active():
        for unit in Organization.objects.filter(pk__in=pks):
            reversion.add_to_revision(unit)
        reversion.add_to_revision(ChangeEvent.objects.get(pk=event.pk))
        reversion.set_comment(comment)
        return
    when = timezone.now()
    history_record(model=Organization, pks=pks, comment=comment, user=user, date=when)
    history_record(model=ChangeEvent, pks=[event.pk], comment=comment, user=user, date=when)
