"""The two seams: how trees are stored, and what differs between databases, each asked about in
one place (registry/models.py's OrganizationQuerySet with registry/trees.py; registry/database.py
with registry/triggers.py). The source checks keep the rest of the code from reaching past them;
the behaviour tests prove what the seams answer, on whichever database the run uses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from registry import exports
from registry.models import Organization, Post

from .csvtools import export_text, parse

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = ROOT / "registry"

# --- Nothing reaches past the seams ---------------------------------------------------------

DATABASE_SEAM = {REGISTRY / "database.py", REGISTRY / "triggers.py"}
VENDOR_CHECK = re.compile(r"\.vendor\b")


def _python_files(*folders: Path) -> list[Path]:
    return sorted(path for folder in folders for path in folder.rglob("*.py"))


def test_only_the_database_seam_asks_which_database_it_runs_on():
    modules = [
        path
        for path in _python_files(REGISTRY)
        if path not in DATABASE_SEAM and "migrations" not in path.parts
    ]
    assert len(modules) > 10
    checks = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in modules
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if VENDOR_CHECK.search(line)
    ]
    assert checks == []


# Ways code reads the nested-set encoding itself: expressions over its fields (F("lft")),
# lookups (lft__lt), attribute reads (node.rght), orderings by its columns, and SQL comparing or
# shifting them. Plain words and tuples of field names (a `refresh_from_db(fields=...)`) pass.
TREE_ENCODING = re.compile(
    r"""F\(\s*["'](?:\w+__)?(?:lft|rght)["']"""
    r"|(?<![A-Za-z0-9])(?:lft|rght)__\w"
    r"|\.(?:lft|rght)\b"
    r"""|order_by\([^)]*["'](?:\w+__)?(?:tree_id|lft)["']"""
    r"|\b(?:lft|rght)\s*(?:[-+<>]|=\s*(?:lft|rght))"
    r"|ORDER BY[^\"']*\b(?:tree_id|lft)\b"
)
TREE_CALLERS = [
    REGISTRY / "views.py",
    REGISTRY / "exports.py",
    REGISTRY / "charts.py",
    *_python_files(REGISTRY / "admin"),
    *_python_files(ROOT / "devtools"),
]
# The move benchmark's floor is the least a move can cost, measured with the raw driver: the
# UPDATE of every row's nested-set numbers. A floor must stay that raw statement.
ALLOWED = {"UPDATE {table} SET lft = lft + 2, rght = rght + 2"}


def test_the_encoding_pattern_catches_what_it_is_for():
    for line in (
        'F("rght") - F("lft")',
        "Post.objects.filter(organization__lft__gte=1)",
        "return (node.rght - node.lft - 1) // 2",
        'order_by("post__organization__tree_id", "post__organization__lft")',
        'cursor.execute(f"SELECT {names} FROM {table} ORDER BY tree_id, lft")',
    ):
        assert TREE_ENCODING.search(line), line
    for line in ('refresh_from_db(fields=("tree_id", "lft", "rght", "level"))', "# left"):
        assert not TREE_ENCODING.search(line), line


def test_views_exports_charts_admin_and_benchmarks_ask_the_tree_seam():
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in TREE_CALLERS
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if TREE_ENCODING.search(line) and not any(allowed in line for allowed in ALLOWED)
    ]
    assert found == []


# --- What the tree seam answers ---------------------------------------------------------------


@pytest.fixture
def forest(make_org) -> dict[str, Organization]:
    """Three trees; the first two levels deep, with siblings in a set order."""
    a = make_org("A")
    a1 = make_org("A1", parent=a)
    a11 = make_org("A11", parent=a1)
    a12 = make_org("A12", parent=a1)
    a2 = make_org("A2", parent=a)
    b = make_org("B")
    b1 = make_org("B1", parent=b)
    c = make_org("C")
    return {o.name: Organization.objects.get(pk=o.pk) for o in (a, a1, a11, a12, a2, b, b1, c)}


def _names(queryset) -> list[str]:
    return [o.name for o in queryset]


def test_subtree_comes_in_tree_order_with_or_without_its_root(forest):
    subtree = Organization.objects.subtree(forest["A1"]).in_tree_order()
    assert _names(subtree) == ["A1", "A11", "A12"]
    below = Organization.objects.subtree(forest["A"], include_self=False).in_tree_order()
    assert _names(below) == ["A1", "A11", "A12", "A2"]
    assert _names(Organization.objects.subtree(forest["C"], include_self=False)) == []


def test_tree_order_is_every_tree_depth_first_in_sibling_order(forest):
    assert _names(Organization.objects.in_tree_order()) == [
        "A",
        "A1",
        "A11",
        "A12",
        "A2",
        "B",
        "B1",
        "C",
    ]


def test_ancestors_run_from_the_top_level_body_down_to_the_parent(forest):
    assert _names(Organization.objects.ancestors(forest["A12"])) == ["A", "A1"]
    assert _names(Organization.objects.ancestors(forest["B"])) == []


def test_total_counts_every_organization_from_the_trees(forest):
    assert Organization.objects.total() == Organization.objects.count() == 8
    Organization.objects.get(pk=forest["A12"].pk).delete()
    assert Organization.objects.total() == 7


def test_descendant_counts(forest):
    counts = dict(Organization.objects.with_descendant_count().values_list("name", "descendants"))
    assert counts == {"A": 4, "A1": 2, "A11": 0, "A12": 0, "A2": 0, "B": 1, "B1": 0, "C": 0}


def test_sibling_position_counts_from_one_among_siblings_and_among_top_level_bodies(forest):
    positions = {
        name: Organization.objects.sibling_position(node) for name, node in forest.items()
    }
    assert positions == {"A": 1, "A1": 1, "A11": 1, "A12": 2, "A2": 2, "B": 2, "B1": 1, "C": 3}


def test_roots_of_finds_each_nodes_top_level_body(forest):
    roots = Organization.objects.roots_of([forest["A12"], forest["B1"], forest["C"]])
    assert {pk: root.name for pk, root in roots.items()} == {
        forest["A12"].pk: "A",
        forest["B1"].pk: "B",
        forest["C"].pk: "C",
    }


def test_one_tree_is_chosen_by_its_number(forest):
    choices = dict(Organization.objects.tree_choices())
    assert sorted(choices.values()) == ["A", "B", "C"]
    (tree,) = (number for number, name in choices.items() if name == "A")
    assert _names(Organization.objects.in_tree(tree).in_tree_order()) == [
        "A",
        "A1",
        "A11",
        "A12",
        "A2",
    ]


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7, 100])
def test_pages_hold_every_organization_once_in_tree_order(seeded, size):
    in_order = list(Organization.objects.in_tree_order().values_list("pk", flat=True))
    assert len(in_order) > 4  # the seed's trees are bigger than the small pages
    paged = [
        pk
        for page in Organization.objects.pages(size=size)
        for pk in Organization.objects.filter(**page.lookups())
        .in_tree_order()
        .values_list("pk", flat=True)
    ]
    assert paged == in_order


@pytest.mark.parametrize("size", [1, 3, 100])
def test_pages_of_a_subtree_hold_it_once_in_tree_order_and_select_related_rows(seeded, size):
    root = Organization.objects.get(pk="npcsc-general-office")
    subtree = list(Organization.objects.subtree(root).in_tree_order().values_list("pk", flat=True))
    pages = list(Organization.objects.pages(size=size, root=root))
    paged = [
        pk
        for page in pages
        for pk in Organization.objects.filter(**page.lookups())
        .in_tree_order()
        .values_list("pk", flat=True)
    ]
    assert paged == subtree
    posts = {
        pk
        for page in pages
        for pk in Post.objects.filter(**page.lookups("organization__")).values_list(
            "pk", flat=True
        )
    }
    assert posts == set(Post.objects.filter(organization__in=subtree).values_list("pk", flat=True))
    assert posts


def test_a_subtree_download_in_small_pages_starts_at_its_sibling_position(
    client, seeded, monkeypatch
):
    units = Organization.objects.with_descendant_count().filter(descendants__gte=2)
    root = next(unit for unit in units if Organization.objects.sibling_position(unit) > 1)
    whole = export_text(root=root)
    monkeypatch.setattr(exports, "CHUNK", 2)
    response = client.get("/organizations.csv", {"root": root.pk})
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    assert text == whole
    first = parse(text)[0]
    assert first["id"] == root.pk
    assert int(first["order"]) == Organization.objects.sibling_position(root) > 1
