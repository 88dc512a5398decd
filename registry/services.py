"""The few multi-step writes. Each runs in one transaction and leaves the tree valid."""

from __future__ import annotations

from collections.abc import Iterable

import reversion
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone
from mptt.exceptions import InvalidMove

from .history import history_initialize, history_record
from .imports import ImportReport, Progress, run_import
from .models import ChangeEvent, Organization, Person, Source

SEED_FIXTURE = "seed"
SEED_ROOTS = ("cppcc-national-committee", "npcsc")
MOVE_POSITIONS = ("first-child", "last-child", "left", "right")


def organization_move(
    *, organization: Organization, target: Organization, position: str, user=None
) -> str:
    """Move `organization` (with its subtree) relative to `target`: under it as `first-child`
    or `last-child`, or beside it as `left`/`right` sibling. Refuses a move under itself.

    The move is recorded in the history here, with where it went in words (also returned), so
    that every caller (the admin's drag and drop, scripts, tests) leaves the same trace: in
    the caller's revision if one is open, else as a revision of its own."""
    if position not in MOVE_POSITIONS:
        raise ValidationError(f"Unknown position “{position}”; use one of {MOVE_POSITIONS}.")
    with transaction.atomic():
        Organization.objects.lock_tree_writes()
        _refresh(organization)
        _refresh(target)
        if target.pk == organization.pk:
            raise ValidationError(f"“{organization}” cannot be moved relative to itself.")
        old_parent = organization.parent
        new_parent = target if position.endswith("child") else target.parent
        if new_parent is not None and (
            new_parent.pk == organization.pk or new_parent.is_descendant_of(organization)
        ):
            raise ValidationError(
                f"“{organization}” cannot be moved under “{new_parent}”, which is inside it."
            )
        try:
            organization.move_to(target, position)
        except InvalidMove as error:
            raise ValidationError(str(error)) from error
        organization.refresh_from_db()
        note = organization_move_note(
            old_parent=old_parent, new_parent=organization.parent, position=position, target=target
        )
        _record(organization, comment=note, user=user)
        return note


def organization_move_note(
    *,
    old_parent: Organization | None,
    new_parent: Organization | None,
    position: str | None = None,
    target: Organization | None = None,
) -> str:
    """“Moved from under “A” to under “B”.”, for the history list."""

    def place(parent) -> str:
        return f"under “{parent}”" if parent is not None else "the top level"

    if getattr(old_parent, "pk", None) != getattr(new_parent, "pk", None):
        return f"Moved from {place(old_parent)} to {place(new_parent)}."
    side = {"left": "before", "right": "after"}.get(position or "")
    still = place(new_parent) if new_parent is not None else "at the top level"
    if side and target is not None:
        return f"Moved {side} “{target}”, still {still}."
    return f"Moved within {place(new_parent)}."


def organization_delete_blockers(organization: Organization) -> list[str]:
    """Plain-language reasons why deleting `organization` would lose other records."""
    counts = Organization.objects.filter(pk=organization.pk).aggregate(
        children=Count("children", distinct=True),
        posts=Count("posts", distinct=True),
        successors=Count("successor_links", distinct=True),
        predecessors=Count("predecessor_links", distinct=True),
    )
    labels = {
        "children": ("sub-unit", "sub-units"),
        "posts": ("post", "posts"),
        "successors": ("successor link", "successor links"),
        "predecessors": ("predecessor link", "predecessor links"),
    }
    return [f"{counts[key]} {labels[key][counts[key] != 1]}" for key in labels if counts[key] > 0]


def organization_delete(*, organization: Organization) -> None:
    """Delete one organization with its own names and citations, never its sub-units, posts or
    lineage: those block the delete, with a message naming them.

    Runs in a transaction because django-mptt closes the lft/rght gap before the row goes: a
    refused delete must roll that back too.
    """
    with transaction.atomic():
        Organization.objects.lock_tree_writes()
        # django-mptt closes the gap of a node it cannot find with the nested-set values the
        # instance was loaded with: one deleted by someone else meanwhile would corrupt the tree.
        _refresh(organization)
        blockers = organization_delete_blockers(organization)
        if blockers:
            raise ValidationError(
                f"“{organization}” still has {', '.join(blockers)}; move or delete them first."
            )
        organization.delete()


def organization_delete_many(*, organizations: Iterable[Organization]) -> int:
    """Delete all of `organizations` or none (see `organization_delete`): if any of them still
    has sub-units, posts or lineage, nothing is deleted and the refusal names each of them.
    Returns how many were deleted."""
    with transaction.atomic():
        Organization.objects.lock_tree_writes()
        organizations = list(organizations)
        for organization in organizations:
            _refresh(organization)
        refusals = [
            f"Not deleted: “{organization}” still has {', '.join(blockers)}."
            for organization in organizations
            if (blockers := organization_delete_blockers(organization))
        ]
        if refusals:
            raise ValidationError(refusals)
        for organization in organizations:
            organization_delete(organization=organization)
        return len(organizations)


def _refresh(organization: Organization, *, field: str | None = None) -> None:
    """Reload `organization`, loaded before the tree lock (by a form, say), as it is now."""
    try:
        organization.refresh_from_db()
    except Organization.DoesNotExist:
        message = f"“{organization}” was deleted by someone else meanwhile."
        raise ValidationError({field: message} if field else message) from None


def seed_load() -> bool:
    """Load the seed fixture unless it is already there; return whether it was loaded.

    A loaded seed is never loaded again, so curators' edits to it survive `make run`. The
    fixture's dependent rows carry natural keys, so even a partial earlier load is completed
    rather than duplicated. loaddata writes without save(), so the tree is rebuilt in the same
    transaction; and it records no history, so every row without a version gets its initial
    one (a seed unit deleted later can then be recovered).
    """
    if Organization.objects.filter(pk__in=SEED_ROOTS).count() == len(SEED_ROOTS):
        return False
    with transaction.atomic():
        Organization.objects.lock_tree_writes()
        call_command("loaddata", SEED_FIXTURE, verbosity=0)
        clashing = (
            Organization.objects.roots()
            .order_by()
            .values("tree_id")
            .annotate(roots=Count("pk"))
            .filter(roots__gt=1)
        )
        if clashing.exists():
            # The fixture's tree ids were already taken by other trees: renumber them all.
            Organization.objects.rebuild()
        else:
            for tree_id in Organization.objects.filter(pk__in=SEED_ROOTS).values_list(
                "tree_id", flat=True
            ):
                Organization.objects.partial_rebuild(tree_id)
        history_initialize(comment="Seed registry loaded: initial version.")
    return True


def organization_add(*, organization: Organization, user=None) -> Organization:
    """Create `organization` (unsaved, with its fields set: a form's instance) as the last child
    of its parent, or as a new top-level body.

    Recorded in the history: in the caller's revision if one is open (the admin's, which adds
    the rows its inlines save next, and writes its own comment), else as a revision of its own
    with the comment "Added."."""
    with transaction.atomic():
        Organization.objects.lock_tree_writes()
        if organization.parent is not None:
            _refresh(organization.parent, field="parent")
        organization.full_clean()
        organization.save()
        _record(organization, comment="Added.", user=user)
        return organization


def organization_update(*, organization: Organization, user=None) -> str:
    """Save `organization` as edited (a form's instance). If its parent changed, it moves with
    its subtree to the last place under the new parent; a parent inside it is refused. Returns
    the history note of the move (“Moved from under “A” to under “B”.”), or "" if it stayed.

    Recorded in the history like `organization_add`, with the note (or "Changed.") as the
    revision's comment."""
    with transaction.atomic():
        Organization.objects.lock_tree_writes()
        # The instance was loaded before the lock: take its place in the tree as it is now.
        current = Organization.objects.filter(pk=organization.pk).first()
        if current is None:
            raise ValidationError(f"“{organization}” was deleted by someone else meanwhile.")
        if organization.parent is not None:
            _refresh(organization.parent, field="parent")
        organization.full_clean()
        note = ""
        if current.parent_id != organization.parent_id:
            note = organization_move_note(
                old_parent=current.parent, new_parent=organization.parent
            )
            if organization.parent is None:
                current.move_to(None)  # a top-level body of its own, after the others
            else:
                current.move_to(organization.parent, "last-child")
            current.refresh_from_db()
        for name in _TREE_FIELDS:
            setattr(organization, name, getattr(current, name))
        # django-mptt moves a node whose parent differs from the one it was loaded with: it
        # was moved just now (or by someone else before), so the save must not move it again.
        Organization._mptt_meta.update_mptt_cached_fields(organization)
        organization.save()
        _record(organization, comment=note or "Changed.", user=user)
        return note


_TREE_FIELDS = ("tree_id", "lft", "rght", "level")


def _record(organization: Organization, *, comment: str, user) -> None:
    if reversion.is_active():  # the save added it to the caller's revision
        reversion.set_comment(comment)
        return
    history_record(model=Organization, pks=[organization.pk], comment=comment, user=user)


def organization_tree_repair(
    *,
    organization_ids: Iterable[str],
    old_tree_ids: Iterable[int],
    places: dict[str, int] | None = None,
):
    """Make the tree valid again after organizations were written without django-mptt (a
    restore from history writes a row back with the nested-set fields it had then).

    Each restored organization, with everything under it, joins the tree of its parent (or a
    tree of its own), and every tree involved is rebuilt from the parent links, which keeps
    sibling order. `places` gives a restored organization's `lft` as it was recorded: it goes
    back before the siblings that are now at or after that place (a unit recovered after a
    delete returns to its place among its siblings). Raises ValidationError if the restored
    parent links form a cycle.
    """
    with transaction.atomic():
        Organization.objects.lock_tree_writes()
        trees = set(old_tree_ids)
        for pk in organization_ids:
            tree_id = _tree_id_for(Organization.objects.get(pk=pk))
            level = [pk]
            while level:
                members = Organization.objects.filter(pk__in=level)
                trees.update(members.values_list("tree_id", flat=True))
                members.update(tree_id=tree_id)
                level = list(
                    Organization.objects.filter(parent__in=level).values_list("pk", flat=True)
                )
            trees.add(tree_id)
            if places and pk in places:
                # The rebuild orders siblings by lft: double every other lft of the tree (odd
                # values keep their order) and give the restored one twice its recorded lft.
                others = Organization.objects.filter(tree_id=tree_id).exclude(pk=pk)
                others.update(lft=F("lft") * 2 + 1)
                Organization.objects.filter(pk=pk).update(lft=places[pk] * 2)
        for tree_id in sorted(trees):
            Organization.objects.partial_rebuild(tree_id)


def _tree_id_for(organization: Organization) -> int:
    node, seen = organization, {organization.pk}
    while node.parent_id is not None:
        node = Organization.objects.only("parent_id", "tree_id").get(pk=node.parent_id)
        if node.pk in seen:
            raise ValidationError(f"“{organization}” would become its own ancestor.")
        seen.add(node.pk)
    if node.pk != organization.pk:
        return node.tree_id
    if Organization.objects.roots().filter(tree_id=organization.tree_id).count() > 1:
        return Organization.objects.new_tree_number()
    return organization.tree_id


def csv_import(
    dataset: str,
    data: bytes,
    *,
    file_name: str,
    user=None,
    dry_run: bool = False,
    encoding: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a CSV file and record each changed record in the history as a revision of its
    own, all named after the file (so reverting one of them never touches the others)."""
    with transaction.atomic():
        report = run_import(dataset, data, encoding=encoding, dry_run=dry_run, progress=progress)
        if report.applied and report.changed:
            _add_imported_to_revision(
                report, comment=f"CSV import of {file_name}: {report.summary()}", user=user
            )
    return report


# The changes of a posts row that change its person (recorded in the person's history).
_PERSON_CHANGES = frozenset(("new person", "person renamed", "person identifiers"))


def _add_imported_to_revision(report: ImportReport, *, comment: str, user=None) -> None:
    """Record what an applied import changed: each changed organization (with its names,
    citations, posts and lineage), and for a posts file the organizations whose posts changed
    and the people it added, renamed or gave other identifiers. Written in bulk: linear in the
    file's size."""
    changed = [o for o in report.outcomes if o.action != "unchanged"]
    date = timezone.now()
    organizations = sorted({o.organization for o in changed if o.organization})
    people = sorted({o.person for o in changed if _PERSON_CHANGES.intersection(o.changes)})
    history_record(model=Organization, pks=organizations, comment=comment, user=user, date=date)
    history_record(model=Person, pks=people, comment=comment, user=user, date=date)
    if report.dataset == "events":  # each changed event, with its organizations
        events = sorted({o.key for o in changed})
        history_record(model=ChangeEvent, pks=events, comment=comment, user=user, date=date)
    if report.dataset == "organizations":  # the sources its citations added (a short table)
        history_initialize(comment=comment, user=user, record_models=(Source,))
