import pytest
from django.core.exceptions import ValidationError

from registry.models import Organization, Post, Succession
from registry.services import organization_delete, organization_move, seed_load

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
