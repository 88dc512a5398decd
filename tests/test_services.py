import pytest
from django.core.exceptions import ValidationError
from reversion.models import Version

from registry.models import Organization, Post, Succession
from registry.services import (
    organization_add,
    organization_delete,
    organization_delete_many,
    organization_move,
    organization_update,
    seed_load,
)

from .conftest import assert_tree_valid, tree_snapshot


def _children(organization):
    return list(organization.get_children().values_list("name", flat=True))


def test_move_reorders_siblings_and_keeps_the_tree_valid(make_org):
    top = make_org("Top")
    first, _, third = (make_org(name, parent=top) for name in ("A", "B", "C"))
    organization_move(organization=third, target=first, position="left")
    assert _children(top) == ["C", "A", "B"]
    assert_tree_valid()


def test_move_takes_the_subtree_to_another_parent(make_org):
    left, right = make_org("Left"), make_org("Right")
    unit = make_org("Unit", parent=left)
    make_org("Sub-unit", parent=unit)
    organization_move(organization=unit, target=right, position="last-child")
    assert [o.name for o in Organization.objects.get(pk=unit.pk).get_ancestors()] == ["Right"]
    assert _children(unit) == ["Sub-unit"]
    assert_tree_valid()


def test_move_under_its_own_descendant_is_refused_and_changes_nothing(make_org):
    top = make_org("Top")
    child = make_org("Child", parent=top)
    before = tree_snapshot()
    with pytest.raises(ValidationError, match="which is inside it"):
        organization_move(organization=top, target=child, position="last-child")
    assert tree_snapshot() == before


@pytest.mark.parametrize("blocker", ["children", "posts", "successors"])
def test_delete_is_refused_while_something_depends_on_the_organization(make_org, blocker):
    organization = make_org("Office")
    sibling = make_org("Sibling")
    expected = {
        "children": lambda: make_org("Department", parent=organization) and "1 sub-unit",
        "posts": lambda: Post.objects.create(organization=organization, title="Head") and "1 post",
        "successors": lambda: (
            Succession.objects.create(predecessor=organization, successor=sibling)
            and "1 successor link"
        ),
    }[blocker]()
    before = tree_snapshot()
    with pytest.raises(ValidationError, match=expected):
        organization_delete(organization=organization)
    assert Organization.objects.filter(pk=organization.pk).exists()
    assert tree_snapshot() == before


def test_delete_of_a_leaf_keeps_the_tree_valid(make_org):
    top = make_org("Top")
    leaf = make_org("Leaf", parent=top)
    make_org("Other", parent=top)
    organization_delete(organization=leaf)
    assert _children(top) == ["Other"]
    assert_tree_valid()


def test_seed_loads_once_and_keeps_curators_edits(db):
    assert seed_load() is True
    count = Organization.objects.count()
    Organization.objects.filter(pk="npcsc-go-secretariat").update(name="Edited by a curator")
    assert seed_load() is False
    assert Organization.objects.count() == count
    assert Organization.objects.get(pk="npcsc-go-secretariat").name == "Edited by a curator"


def test_seed_loads_beside_existing_trees_and_leaves_every_tree_valid(make_org):
    existing = make_org("An existing body")
    make_org("Its department", parent=existing)
    assert seed_load() is True
    assert Organization.objects.roots().count() == 3
    assert_tree_valid()
    assert _children(Organization.objects.get(pk=existing.pk)) == ["Its department"]


def test_seed_leaves_a_valid_tree(seeded):
    assert_tree_valid()


def test_move_relative_to_itself_is_refused_with_a_message(make_org):
    top = make_org("Top")
    child = make_org("Child", parent=top)
    before = tree_snapshot()
    with pytest.raises(ValidationError, match="cannot be moved relative to itself"):
        organization_move(organization=child, target=child, position="left")
    assert tree_snapshot() == before


def _comments(organization) -> list[str]:
    return [
        v.revision.comment
        for v in Version.objects.get_for_object_reference(Organization, organization.pk)
    ]


def test_a_move_is_recorded_in_the_history_in_words(make_org):
    left, right = make_org("Left"), make_org("Right")
    unit = make_org("Unit", parent=left)
    note = organization_move(organization=unit, target=right, position="first-child")
    assert note == "Moved from under “Left” to under “Right”."
    assert _comments(unit) == [note]


def test_an_update_with_a_new_parent_moves_the_subtree_last_and_says_so(make_org):
    left, right = make_org("Left"), make_org("Right")
    make_org("Already there", parent=right)
    unit = make_org("Unit", parent=left)
    make_org("Sub-unit", parent=unit)
    edited = Organization.objects.get(pk=unit.pk)
    organization_move(organization=make_org("Newcomer", parent=left), target=unit, position="left")
    # `edited` was loaded before the tree changed around it, as a form's instance is.
    edited.parent, edited.location = right, "New address"
    assert organization_update(organization=edited) == (
        "Moved from under “Left” to under “Right”."
    )
    assert _children(right) == ["Already there", "Unit"]
    assert _children(unit) == ["Sub-unit"]
    assert Organization.objects.get(pk=unit.pk).location == "New address"
    assert _comments(unit)[0] == "Moved from under “Left” to under “Right”."
    assert_tree_valid()


def test_an_update_under_its_own_descendant_is_refused_and_changes_nothing(make_org):
    top = make_org("Top")
    child = make_org("Child", parent=top)
    edited = Organization.objects.get(pk=top.pk)
    edited.parent, edited.name = child, "Renamed"
    before = tree_snapshot()
    with pytest.raises(ValidationError, match="cannot become its parent"):
        organization_update(organization=edited)
    assert tree_snapshot() == before
    assert Organization.objects.get(pk=top.pk).name == "Top"
    assert _comments(top) == []


def test_an_add_under_a_parent_deleted_meanwhile_is_refused(make_org):
    parent = make_org("Parent")
    organization_delete(organization=Organization.objects.get(pk=parent.pk))
    unit = Organization(id="orphan", name="Orphan", parent=parent, kind_id="internal-department")
    with pytest.raises(ValidationError, match="was deleted by someone else meanwhile"):
        organization_add(organization=unit)
    assert not Organization.objects.filter(pk="orphan").exists()


def test_an_add_outside_a_revision_is_recorded_as_its_own(make_org):
    top = make_org("Top")
    unit = organization_add(
        organization=Organization(id="new", name="New", parent=top, kind_id="internal-department")
    )
    assert _children(top) == ["New"]
    assert _comments(unit) == ["Added."]
    assert_tree_valid()


@pytest.mark.parametrize("write", ["delete", "move", "update"])
def test_a_write_on_a_unit_someone_else_deleted_is_refused_and_keeps_the_tree_valid(
    make_org, write
):
    top = make_org("Top")
    first, second = make_org("First", parent=top), make_org("Second", parent=top)
    stale = Organization.objects.get(pk=first.pk)
    organization_delete(organization=first)
    before = tree_snapshot()
    with pytest.raises(ValidationError, match="“First” was deleted by someone else meanwhile"):
        if write == "delete":
            organization_delete(organization=stale)
        elif write == "move":
            organization_move(organization=stale, target=top, position="first-child")
        else:
            stale.location = "Edited"
            organization_update(organization=stale)
    assert tree_snapshot() == before
    assert _children(top) == [second.name]
    assert_tree_valid()


def test_a_bulk_delete_deletes_all_or_none_and_names_every_blocked_unit(make_org):
    top = make_org("Top")
    leaf, office, busy = (make_org(name, parent=top) for name in ("Leaf", "Office", "Busy"))
    make_org("Department", parent=office)
    Post.objects.create(organization=busy, title="Head")
    before = tree_snapshot()
    with pytest.raises(ValidationError) as refused:
        organization_delete_many(organizations=[leaf, office, busy])
    assert refused.value.messages == [
        "Not deleted: “Office” still has 1 sub-unit.",
        "Not deleted: “Busy” still has 1 post.",
    ]
    assert tree_snapshot() == before
    assert organization_delete_many(organizations=[leaf]) == 1
    assert _children(top) == ["Office", "Busy"]
    assert_tree_valid()
