"""Trees as plain data: the nested-set encoding (layout, order, subtrees, pages), and one
query's worth of tree nodes turned into what pages render.

With `OrganizationQuerySet` (models.py) this is the one place that knows how trees are stored
(django-mptt's nested sets: tree_id, lft, rght, level). Everything else asks by meaning: "the
subtree of X in tree order", "how many descendants", "pages of about n in tree order". A swap
for another encoding (recursive CTEs over `parent`) changes these two and the migrations.

Views ask for "the descendants of X" once, then hand the rows to `outline()`: nodes are grouped by
`parent_id` in a dict (linear in the subtree size; django-mptt's `cache_tree_children()` is
quadratic) and walked depth first in the order the query returned them (tree order).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple


class NestedSet(NamedTuple):
    """Where a node sits in its tree, in django-mptt's fields."""

    parent: Any
    tree_id: int
    lft: int
    rght: int
    level: int


# Tree order: the trees one after another, each depth first (its nodes by their lft).
TREE_ORDER = ("tree_id", "lft")


def tree_order(path: str = "") -> tuple[str, ...]:
    """`order_by()` arguments for tree order, through `path` from another model (e.g.
    `organization__` for posts): the (tree_id, lft) columns the indexes are built on."""
    return tuple(path + name for name in TREE_ORDER)


def tree_order_key(node: Any) -> tuple[int, int]:
    """Sort key putting nodes already read (organizations or `NestedSet`s) in tree order."""
    return node.tree_id, node.lft


def descendant_count(node: Any) -> int:
    """How many nodes are under `node`, read from its own fields (no query)."""
    return (node.rght - node.lft - 1) // 2


def subtree_lookups(node: Any, *, path: str = "", include_self: bool = True) -> dict[str, int]:
    """Filter arguments selecting `node`'s subtree (through `path` from another model, e.g.
    `organization__`): one closed range of the (tree_id, lft) index."""
    first = node.lft if include_self else node.lft + 1
    return {
        f"{path}tree_id": node.tree_id,
        f"{path}lft__gte": first,
        f"{path}lft__lte": node.rght,
    }


class TreePage(NamedTuple):
    """Consecutive organizations in tree order: whole trees `first_tree` to `last_tree`, or,
    when `lft_from` is set, one slice of the tree `first_tree` (a tree too big for a page)."""

    first_tree: int
    last_tree: int
    lft_from: int | None = None
    lft_to: int | None = None

    def lookups(self, path: str = "") -> dict[str, int]:
        """Filter arguments selecting the page's organizations (through `path` from another
        model, e.g. `organization__`)."""
        bounds = {"tree_id__gte": self.first_tree, "tree_id__lte": self.last_tree}
        if self.lft_from is not None:
            bounds |= {"lft__gte": self.lft_from, "lft__lte": self.lft_to}
        return {path + name: value for name, value in bounds.items()}


def tree_pages(roots: Iterable[tuple[int, int]], size: int) -> Iterator[TreePage]:
    """Pages of about `size` nodes covering, in tree order, the trees of `roots` ((tree_id,
    rght) of each root, in tree_id order): small trees are grouped, a big one is sliced.

    Worked out from the roots' sizes (a tree of n nodes has rght = 2n), so that every page is
    a closed range of the (tree_id, lft) index and reads only its own rows whatever plan the
    database picks. (With keyset pages, `ORDER BY tree_id, lft LIMIT n`, PostgreSQL working
    from the statistics of a smaller registry sorted the whole rest of the table per page.)
    """
    first = last = None
    total = 0
    for tree_id, rght in roots:
        nodes = rght // 2
        if first is not None and total + nodes > size:
            yield TreePage(first, last)
            first = None
        if nodes > size:
            yield from subtree_pages(tree_id, 1, rght, size)
        elif first is None:
            first, last, total = tree_id, tree_id, nodes
        else:
            last, total = tree_id, total + nodes
    if first is not None:
        yield TreePage(first, last)


def subtree_pages(tree_id: int, lft: int, rght: int, size: int) -> Iterator[TreePage]:
    """Consecutive slices of one subtree, of about `size` nodes each (a node takes two of the
    numbers from lft to rght)."""
    for start in range(lft, rght + 1, 2 * size):
        yield TreePage(tree_id, tree_id, start, min(start + 2 * size - 1, rght))


def nested_set_layout(
    children: Mapping[Any, Sequence[Any]], roots: Iterable[tuple[Any, int]]
) -> dict[Any, NestedSet]:
    """The nested-set fields of every node under each `(root, tree_id)` of `roots`, given each
    node's children in their order (`children[pk]`): exactly what django-mptt's `rebuild()`
    writes, computed in one pass (a rebuild took a minute at 100,000 organizations). The one
    layout function: the importer and the benchmarks' checks both use it."""
    layout: dict[Any, NestedSet] = {}
    for root, tree_id in roots:
        counter = 1
        lefts: dict[Any, int] = {}
        stack: list[tuple[Any, Any, int, bool]] = [(root, None, 0, False)]
        while stack:
            pk, parent, level, done = stack.pop()
            if done:
                layout[pk] = NestedSet(parent, tree_id, lefts[pk], counter, level)
            else:
                lefts[pk] = counter
                stack.append((pk, parent, level, True))
                stack.extend(
                    (child, pk, level + 1, False) for child in reversed(children.get(pk, ()))
                )
            counter += 1
    return layout


def nested_sets_valid(stored: Mapping[Any, NestedSet]) -> bool:
    """Whether every node's stored nested-set fields are what the parent links and the sibling
    order give: what `rebuild()` would write, computed here (a rebuild takes a minute at
    100,000 nodes). Tree ids may differ from a rebuild's numbering; each tree's own must be
    one and distinct."""
    children: dict[Any, list[Any]] = defaultdict(list)
    for pk, node in sorted(stored.items(), key=lambda item: tree_order_key(item[1])):
        children[node.parent].append(pk)
    expected = nested_set_layout(
        children, ((root, stored[root].tree_id) for root in children[None])
    )
    return expected == stored and len({node.tree_id for node in stored.values()}) == len(
        children[None]
    )


def children_by_parent(nodes: Iterable[Any]) -> dict[Any, list[Any]]:
    children: dict[Any, list[Any]] = defaultdict(list)
    for node in nodes:
        children[node.parent_id].append(node)
    return children


# How much of a large outline a page shows open (issue 15: a unit with 624 sub-units made a
# 22,000 px page). A subtree this small is shown whole; a larger one shows as many whole levels
# as fit in about this many lines, at least its first level.
OUTLINE_WHOLE = 60
OUTLINE_BUDGET = 60
# In a large outline, a list of more than LONG_LIST units shows its first SHOWN_OF_LONG_LIST and
# folds the rest.
LONG_LIST = 30
SHOWN_OF_LONG_LIST = 20


@dataclass(frozen=True)
class Folding:
    """How an outline of `tops` and everything under them is shown: `sizes[pk]` is how many
    units are under each unit (in the tree given, which may be a date's); a unit at a depth
    below `open_depth` (the tops being at depth 0) starts open, deeper ones folded; when
    `shorten`, a list longer than LONG_LIST shows only its first SHOWN_OF_LONG_LIST units and
    folds the rest."""

    sizes: dict[Any, int]
    open_depth: float
    shorten: bool

    def shown(self, units: Sequence[Any]) -> int:
        """How many of the list `units` are shown before the fold of the rest."""
        if self.shorten and len(units) > LONG_LIST:
            return SHOWN_OF_LONG_LIST
        return len(units)


def outline_folding(tops: Sequence[Any], children: Mapping[Any, Sequence[Any]]) -> Folding:
    """What an outline of `tops` shows open, from the rows grouped by parent (linear in the
    subtree's size, no query): everything when the subtree is small, otherwise whole levels
    while the lines shown stay within OUTLINE_BUDGET."""
    preorder: list[Any] = []
    stack = list(reversed(tops))
    while stack:
        node = stack.pop()
        preorder.append(node)
        stack.extend(reversed(children.get(node.pk, ())))
    sizes: dict[Any, int] = {}
    for node in reversed(preorder):  # children before their parents
        sizes[node.pk] = sum(1 + sizes[kid.pk] for kid in children.get(node.pk, ()))
    if len(preorder) <= OUTLINE_WHOLE:
        return Folding(sizes, float("inf"), shorten=False)
    folding = Folding(sizes, 0, shorten=True)
    # Lines shown with the lists down to `depth` open: the units shown of each list, and one
    # line for each list's fold of the rest.
    lines, depth, level = 0, 0, [list(tops)]
    while level:
        shown_lists = [units[: folding.shown(units)] for units in level]
        lines += sum(
            len(units) + (len(units) < len(whole))
            for units, whole in zip(shown_lists, level, strict=True)
        )
        if lines > OUTLINE_BUDGET:
            break
        depth += 1
        level = [
            children[node.pk] for units in shown_lists for node in units if node.pk in children
        ]
    return Folding(sizes, max(depth - 1, 0) if level else float("inf"), shorten=True)
