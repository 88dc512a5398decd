"""Trees as plain data: the nested-set layout of trees, and one query's worth of tree nodes
turned into what pages render.

Views ask for "the descendants of X" once, then hand the rows to `outline()`: nodes are grouped by
`parent_id` in a dict (linear in the subtree size; django-mptt's `cache_tree_children()` is
quadratic) and walked depth first in the order the query returned them (tree order).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple


class NestedSet(NamedTuple):
    """Where a node sits in its tree, in django-mptt's fields."""

    parent: Any
    tree_id: int
    lft: int
    rght: int
    level: int


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


@dataclass(frozen=True)
class OutlineRow:
    """One line of a nested list. Templates open a list before a row that `opens`, and after
    the row close one list per item of `closes` (a range, so templates can loop over it)."""

    node: Any
    depth: int
    opens: bool
    closes: range


def children_by_parent(nodes: Iterable[Any]) -> dict[Any, list[Any]]:
    children: dict[Any, list[Any]] = defaultdict(list)
    for node in nodes:
        children[node.parent_id].append(node)
    return children


def outline(tops: Sequence[Any], children: dict[Any, list[Any]]) -> list[OutlineRow]:
    """The subtrees under `tops`, depth first, as rows ready for a nested <ul>."""
    walked: list[tuple[Any, int]] = []
    stack = [(node, 0) for node in reversed(tops)]
    while stack:
        node, depth = stack.pop()
        walked.append((node, depth))
        stack.extend((child, depth + 1) for child in reversed(children.get(node.pk, ())))
    rows = []
    for index, (node, depth) in enumerate(walked):
        previous_depth = walked[index - 1][1] if index else -1
        next_depth = walked[index + 1][1] if index + 1 < len(walked) else -1
        rows.append(
            OutlineRow(
                node=node,
                depth=depth,
                opens=previous_depth < depth,
                closes=range(max(depth - next_depth, 0)),
            )
        )
    return rows
