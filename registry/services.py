"""The few multi-step writes. Each runs in one transaction and leaves the tree valid."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import transaction
from django.db.models import Count

from .models import Organization

SEED_FIXTURE = "seed"
SEED_ROOTS = ("cppcc-national-committee", "npcsc")
MOVE_POSITIONS = ("first-child", "last-child", "left", "right")


def organization_move(*, organization: Organization, target: Organization, position: str) -> None:
    """Move `organization` (with its subtree) relative to `target`: under it as `first-child`
    or `last-child`, or beside it as `left`/`right` sibling. Refuses a move under itself."""
    if position not in MOVE_POSITIONS:
        raise ValidationError(f"Unknown position “{position}”; use one of {MOVE_POSITIONS}.")
    with transaction.atomic():
        organization.refresh_from_db()
        target.refresh_from_db()
        new_parent = target if position.endswith("child") else target.parent
        if new_parent is not None and (
            new_parent.pk == organization.pk or new_parent.is_descendant_of(organization)
        ):
            raise ValidationError(
                f"“{organization}” cannot be moved under “{new_parent}”, which is inside it."
            )
        organization.move_to(target, position)


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
        blockers = organization_delete_blockers(organization)
        if blockers:
            raise ValidationError(
                f"“{organization}” still has {', '.join(blockers)}; move or delete them first."
            )
        organization.delete()


def seed_load() -> bool:
    """Load the seed fixture unless it is already there; return whether it was loaded.

    A loaded seed is never loaded again, so curators' edits to it survive `make run`. The
    fixture's dependent rows carry natural keys, so even a partial earlier load is completed
    rather than duplicated. loaddata writes without save(), so the tree is rebuilt in the same
    transaction.
    """
    if Organization.objects.filter(pk__in=SEED_ROOTS).count() == len(SEED_ROOTS):
        return False
    with transaction.atomic():
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
    return True
