"""The tree plan of an organizations file: refuse unknown parents and predecessors and cycles,
fill in the columns the file leaves out, put every parent's children in their final order,
and lay out the nested sets of the trees that change (`trees.nested_set_layout`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from ..dates import PartialDate
from ..trees import NestedSet, nested_set_layout
from .checks import CheckedOrganization
from .report import ImportReport, Problem
from .stored import DATA_FIELDS, ITEM_COLUMNS, Stored

CHAIN_SHOWN = 10  # organizations of a cycle quoted in its messages


def check_tree(
    rows: list[CheckedOrganization],
    state: dict[str, NestedSet],
    parent_of: dict[str, str | None],
    report: ImportReport,
) -> None:
    """Parents and predecessors must exist (in the file or the registry), and no organization
    may become its own ancestor. `parent_of` is every node's parent after the import."""
    by_id = {row.id: row for row in rows}
    known = by_id.keys() | state.keys()
    for row in rows:
        if row.parent and row.parent not in known:
            report.problems.append(
                Problem(
                    row.where,
                    "parent",
                    f"unknown parent “{row.parent}”: no row in this file and no "
                    "organization in the registry has that id.",
                )
            )
        for predecessor, _, _ in row.items["predecessors"]:
            if predecessor and predecessor not in known:
                report.problems.append(
                    Problem(row.where, "predecessors", f"unknown id “{predecessor}”.")
                )
    cycles = [pk for pk in _find_cycles(parent_of, by_id) if pk in by_id]
    # Each cycle walked once: walking it again from each of its rows, and quoting it whole in
    # each row's message, was quadratic in time and in memory (a file of 20,000 rows in one
    # cycle asked for gigabytes).
    cycle_of: dict[str, tuple[int, bool]] = {}  # node -> (cycle's length, registry's?)
    for node in cycles:
        if node not in cycle_of:
            members = [node]
            while (ancestor := parent_of[members[-1]]) != node:
                members.append(ancestor)
            cycle = (len(members), any(pk in state for pk in members))
            cycle_of.update(dict.fromkeys(members, cycle))
    for node in sorted(cycles, key=lambda pk: by_id[pk].index):
        length, stored = cycle_of[node]
        chain = [node]
        while len(chain) < min(length, CHAIN_SHOWN):
            chain.append(parent_of[chain[-1]])
        if length > CHAIN_SHOWN:
            chain.append(f"… ({length - CHAIN_SHOWN} more)")
        reason = (
            "this move would make it its own ancestor" if stored else "the parents form a cycle"
        )
        report.problems.append(
            Problem(by_id[node].where, "parent", f"{reason}: {' → '.join([*chain, node])}.")
        )


def _find_cycles(parent_of: dict[str, str | None], starts: Iterable[str]) -> set[str]:
    """Nodes that are their own ancestor under `parent_of` (reached from `starts`)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: known to reach a root
    in_cycle: set[str] = set()
    for start in starts:
        path = []
        node = start
        while node is not None and state.get(node) is None:
            state[node] = 1
            path.append(node)
            node = parent_of.get(node)
        if node is not None and state.get(node) == 1:
            in_cycle.update(path[path.index(node) :])  # once per cycle found
        for visited in path:
            state[visited] = 2
    return in_cycle


def keep_absent_columns(
    rows: list[CheckedOrganization], absent: frozenset[str], current: Stored, report: ImportReport
) -> None:
    """A column the file leaves out keeps what the registry holds in the organizations the
    file updates: a file of ids and new names renames them, it does not empty their dates,
    texts, other names, sources and predecessors (new rows start with them empty)."""
    fields = [(f.attname, index) for index, f in enumerate(DATA_FIELDS) if f.column in absent]
    related = [column for column in ITEM_COLUMNS if column in absent]
    one_date_kept = ("formed" in absent) != ("dissolved" in absent)
    if not fields and not related:
        return
    for row in rows:
        stored = current.fields.get(row.id)
        if stored is None:
            continue
        for name, index in fields:
            row.fields[name] = stored[index]
        for column in related:
            row.items[column] = current.items[column].get(row.id, ())
        formed, dissolved = row.fields["formed"], row.fields["dissolved"]
        if not (one_date_kept and formed and dissolved):
            continue
        formed, dissolved = PartialDate.parse(formed), PartialDate.parse(dissolved)
        if dissolved.is_before(formed):
            given, kept = ("dissolved", "formed")
            if "dissolved" in absent:
                given, kept = kept, given
            report.problems.append(
                Problem(
                    row.where,
                    given,
                    f"the dissolution date ({dissolved.display()}) is before the formation "
                    f"date ({formed.display()}); the {kept} date is the registry's, as the "
                    f"file has no {kept} column.",
                )
            )


def current_children(state: dict[str, NestedSet]) -> dict[str | None, list[str]]:
    """Every parent's children in their stored order (None: the top-level bodies)."""
    current: dict[str | None, list[str]] = defaultdict(list)
    for pk, node in sorted(state.items(), key=lambda item: (item[1].tree_id, item[1].lft)):
        current[node.parent].append(pk)
    return current


def final_children(
    current: dict[str | None, list[str]],
    state: dict[str, NestedSet],
    parent_of: dict[str, str | None],
    by_id: dict[str, CheckedOrganization],
    *,
    keep_place: bool = False,
) -> dict[str | None, list[str]]:
    """Every parent's children in their final order. Rows keep their place from the file's
    `order` column (1 = first); rows without one go last, in file order; organizations not in
    the file keep their current position number, and so do, when the file has no `order`
    column at all (`keep_place`), the rows that stay under the same parent."""
    keys: dict[str | None, list[tuple]] = defaultdict(list)
    places: dict[str, int] = {}
    for parent, children in current.items():
        for position, pk in enumerate(children, start=1):
            if pk not in by_id:
                keys[parent].append(((position, 1, 0), pk))
            elif keep_place or parent is None:
                places[pk] = position
    for pk, row in by_id.items():
        parent = parent_of[pk]
        if parent is None and pk in state and state[pk].parent is None:
            # Existing top-level bodies keep their order (it is their tree id).
            keys[None].append(((places[pk], 0, row.index), pk))
        elif parent is None:
            keys[None].append(((float("inf"), 0, row.order or 0, row.index), pk))
        elif pk in places and parent == state[pk].parent:
            keys[parent].append(((places[pk], 1, 0), pk))
        else:
            order = row.order if row.order is not None else float("inf")
            keys[parent].append(((order, 0, row.index), pk))
    return {parent: [pk for _, pk in sorted(items)] for parent, items in keys.items()}


def layout(
    children: dict[str | None, list[str]],
    parent_of: dict[str, str | None],
    state: dict[str, NestedSet],
    touched_parents: set[str],
    by_id: dict[str, CheckedOrganization],
) -> dict[str, NestedSet]:
    """The nested-set fields of every node of every tree that changes."""

    found: dict[str, str] = {}  # node -> its root: a deep chain is walked once, not per node

    def root_of(pk: str) -> str:
        path = []
        while pk not in found and parent_of[pk] is not None:
            path.append(pk)
            pk = parent_of[pk]
        root = found.get(pk, pk)
        found.update(dict.fromkeys(path, root))
        return root

    roots = {root_of(pk) for pk in touched_parents}
    roots |= {root_of(pk) for pk in by_id if pk not in state or parent_of[pk] != state[pk].parent}
    # Trees a node moved out of change shape too.
    old_roots = {}
    for pk in by_id:
        if pk in state and parent_of[pk] != state[pk].parent and state[pk].parent is not None:
            old_roots[state[pk].tree_id] = None
    if old_roots:
        for pk, (parent, tree_id, *_rest) in state.items():
            if parent is None and tree_id in old_roots:
                roots.add(root_of(pk))

    next_tree_id = max((node.tree_id for node in state.values()), default=0) + 1
    trees = []
    for root in children.get(None, []):
        if root not in roots:
            continue
        if root in state and state[root].parent is None:
            trees.append((root, state[root].tree_id))
        else:
            trees.append((root, next_tree_id))
            next_tree_id += 1
    return nested_set_layout(children, trees)
