"""CSV export: rows produced in tree order, chunk by chunk, so memory stays flat at any size.

Rows come out as lists of plain strings; `csvcodec.csv_lines` turns them into escaped CSV text.
What `export` writes, `imports` reads back unchanged (docs/csv.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from itertools import groupby
from operator import itemgetter
from typing import Any

from .csvcodec import dump_list
from .database import read_only_snapshot
from .imports import ORGANIZATION_COLUMNS, POST_COLUMNS
from .models import Citation, Holding, Organization, OtherName, Post, Source, Succession
from .trees import subtree_lookups, tree_order, tree_order_key

# Organizations per page. PostgreSQL joins a page's other names and citations by reading those
# tables whole (a hash join), once per page: 2,000 a page made that most of an export's time at
# 100,000 organizations. Memory grows with the page (about 16 MB at this size).
CHUNK = 5000
# In the order of the cells they become (tree position first): see `organization_rows`.
_ORG_FIELDS = (
    "level",
    "pk",
    "parent_id",
    "name",
    "kind_id",
    "rank_id",
    "formed",
    "dissolved",
    "type",
    "location",
    "summary",
    "history",
    "functions",
)


@dataclass
class _Related:
    """The other names, sources and predecessors cells (JSON) of some organizations, by id;
    an organization without any has no entry."""

    names: dict[str, str]
    sources: dict[str, str]
    predecessors: dict[str, str]


def _related(
    where: Callable[[str], dict[str, Any]], sources: dict[int, tuple[str, str]]
) -> _Related:
    """The related rows of the organizations `where(path)` selects, given the path to them
    (`organization__`, `successor__`). `sources`: (title, url) by source id, filled as pages
    first cite them; a few hundred sources serve a whole registry, and reading them with
    every citation made the citations the slowest query of an export."""
    names = (
        OtherName.objects.filter(**where("organization__"))
        .order_by("organization", "position", "pk")
        .values_list("organization", "name_type", "name", "language")
    )
    citations = list(
        Citation.objects.filter(**where("organization__"))
        .order_by("organization", "position", "pk")
        .values_list("organization", "source", "locator")
    )
    unknown = {source for _, source, _ in citations} - sources.keys()
    if unknown:
        found = Source.objects.filter(pk__in=unknown).values_list("pk", "title", "url")
        sources.update((pk, (title, url)) for pk, title, url in found)
    links = (
        Succession.objects.filter(**where("successor__"))
        .order_by("successor", "predecessor")
        .values_list("successor", "predecessor", "date", "note")
    )
    return _Related(
        names=_cells(names, _name_item),
        sources=_cells(
            ((pk, *sources[source], locator) for pk, source, locator in citations),
            _source_item,
        ),
        predecessors=_cells(links, _predecessor_item),
    )


def _cells(rows: Iterable[tuple], item: Callable[..., dict]) -> dict[str, str]:
    """One JSON cell per organization from related rows grouped by organization (its id
    first in each row). Encoded at once, so that strings are all that outlive a page: lists
    kept per organization until its row was written made the cycle collector walk a
    page's worth of them again and again."""
    return {
        pk: dump_list([item(*row[1:]) for row in group])
        for pk, group in groupby(rows, key=itemgetter(0))
    }


def _name_item(kind: str, name: str, language: str) -> dict[str, str]:
    item = {"type": kind, "name": name}
    if language:
        item["language"] = language
    return item


def _source_item(title: str, url: str, locator: str) -> dict[str, str]:
    item = {"title": title}
    if url:
        item["url"] = url
    if locator:
        item["locator"] = locator
    return item


def _predecessor_item(predecessor: str, date: str, note: str) -> dict[str, str]:
    item = {"id": predecessor}
    if date:
        item["date"] = date
    if note:
        item["note"] = note
    return item


def _among(ids: list[str], path: str) -> dict[str, list[str]]:
    """Filter arguments selecting the organizations `ids` through `path` from another model."""
    return {f"{path}in": ids}


def _organization_chunks(root: Organization | None) -> Iterator[tuple[list[tuple], _Related]]:
    """Each page's organizations, in tree order, with their related rows."""
    sources: dict[int, tuple[str, str]] = {}
    for page in Organization.objects.pages(size=CHUNK, root=root):
        # One consistent view of the data for one page's queries. Between separate statements
        # a tree write could move an organization out of the page's range, and its names,
        # sources and predecessors would be read as none (a re-import of that file would
        # delete them). A page's transaction is short: rows are streamed out after it ends.
        with read_only_snapshot():
            organizations = Organization.objects.filter(**page.lookups()).in_tree_order()
            chunk = list(organizations.values_list(*_ORG_FIELDS))
            related = _related(page.lookups, sources)
        if chunk:
            yield chunk, related


def organization_rows(root: Organization | None = None) -> Iterator[list[str]]:
    """Every organization (or `root` and its subtree), in tree order, as CSV cells."""
    yield list(ORGANIZATION_COLUMNS)
    base_level = root.level if root is not None else 0
    # counters[d]: siblings seen so far at relative depth d under the current path.
    counters = [Organization.objects.sibling_position(root) - 1 if root is not None else 0]
    for chunk, related in _organization_chunks(root):
        for level, pk, parent, name, kind, rank, formed, dissolved, *texts in chunk:
            depth = level - base_level
            del counters[depth + 1 :]
            if len(counters) == depth:
                counters.append(0)
            counters[depth] += 1
            yield [
                pk,
                parent or "",
                str(counters[depth]),
                name,
                kind,
                rank or "",
                related.names.get(pk, ""),
                formed,
                dissolved,
                *texts,  # type, location, summary, history, functions
                related.sources.get(pk, ""),
                related.predecessors.get(pk, ""),
            ]


def selected_organization_rows(organizations: Iterable[Organization]) -> Iterator[list[str]]:
    """Chosen organizations only (not their subtrees), in tree order, with their true sibling
    positions (found with one query over their parents' children)."""
    chosen = sorted(organizations, key=tree_order_key)
    parents = {o.parent_id for o in chosen if o.parent_id}
    positions: dict[str, int] = {}
    siblings = Organization.objects.filter(parent_id__in=parents).in_tree_order()
    counts: dict[str, int] = defaultdict(int)
    for pk, parent in siblings.values_list("pk", "parent_id"):
        counts[parent] += 1
        positions[pk] = counts[parent]
    for index, pk in enumerate(Organization.objects.roots().values_list("pk", flat=True), 1):
        positions[pk] = index
    yield list(ORGANIZATION_COLUMNS)
    yield from _rows_for(chosen, positions)


def _rows_for(chosen: list[Organization], positions: dict[str, int]) -> Iterator[list[str]]:
    sources: dict[int, tuple[str, str]] = {}
    for start in range(0, len(chosen), CHUNK):
        part = chosen[start : start + CHUNK]
        related = _related(partial(_among, [o.pk for o in part]), sources)
        for o in part:
            yield [
                o.pk,
                o.parent_id or "",
                str(positions[o.pk]),
                o.name,
                o.kind_id,
                o.rank_id or "",
                related.names.get(o.pk, ""),
                str(o.formed or ""),
                str(o.dissolved or ""),
                o.type,
                o.location,
                o.summary,
                o.history,
                o.functions,
                related.sources.get(o.pk, ""),
                related.predecessors.get(o.pk, ""),
            ]


def post_rows(root: Organization | None = None) -> Iterator[list[str]]:
    """One row per holder (and one per post without holders), in tree and seniority order."""
    yield list(POST_COLUMNS)
    posts = Post.objects.order_by(*tree_order("organization__"), "position", "pk")
    if root is not None:
        posts = posts.filter(**subtree_lookups(root, path="organization__"))
    batch: list[dict] = []
    for post in posts.values(
        "pk", "organization_id", "title", "plural_title", "position"
    ).iterator(chunk_size=CHUNK):
        batch.append(post)
        if len(batch) == CHUNK:
            yield from _post_batch(batch)
            batch = []
    yield from _post_batch(batch)


def _post_batch(posts: list[dict]) -> Iterator[list[str]]:
    holders = defaultdict(list)
    for holding in (
        Holding.objects.filter(post__in=[p["pk"] for p in posts])
        .order_by("post", "position", "pk")
        .values(
            "post_id", "person_id", "person__name", "person__name_zh", "position", "start", "end"
        )
    ):
        holders[holding["post_id"]].append(holding)
    for post in posts:
        prefix = [
            post["organization_id"],
            post["title"],
            post["plural_title"],
            str(post["position"]),
        ]
        for h in holders.get(post["pk"], []):
            yield [
                *prefix,
                h["person_id"],
                h["person__name"],
                h["person__name_zh"],
                str(h["position"]),
                h["start"],
                h["end"],
            ]
        if not holders.get(post["pk"]):
            yield [*prefix, "", "", "", "", "", ""]
