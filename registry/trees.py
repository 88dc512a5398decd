"""Turning one query's worth of tree nodes into what pages render.

Views ask for "the descendants of X" once, then hand the rows to `outline()`: nodes are grouped by
`parent_id` in a dict (linear in the subtree size; django-mptt's `cache_tree_children()` is
quadratic) and walked depth first in the order the query returned them (tree order).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


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
