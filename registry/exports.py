"""CSV export: rows produced in tree order, chunk by chunk, so memory stays flat at any size.

Rows come out as lists of plain strings; `csvcodec.csv_lines` turns them into escaped CSV text.
What `export` writes, `imports` reads back unchanged (docs/csv.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator

from django.db.models import Q

from .csvcodec import dump_list
from .imports import ORGANIZATION_COLUMNS, POST_COLUMNS
from .models import Citation, Holding, Organization, OtherName, Post, Succession

CHUNK = 2000
_ORG_FIELDS = (
    "pk",
    "parent_id",
    "level",
    "tree_id",
    "lft",
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


def _related(ids: list[str]) -> tuple[dict, dict, dict]:
    names, sources, predecessors = defaultdict(list), defaultdict(list), defaultdict(list)
    for pk, kind, name, language in (
        OtherName.objects.filter(organization__in=ids)
        .order_by("organization", "position", "pk")
        .values_list("organization", "name_type", "name", "language")
    ):
        item = {"type": kind, "name": name}
        if language:
            item["language"] = language
        names[pk].append(item)
    for pk, title, url, locator in (
        Citation.objects.filter(organization__in=ids)
        .order_by("organization", "position", "pk")
        .values_list("organization", "source__title", "source__url", "locator")
    ):
        item = {"title": title}
        if url:
            item["url"] = url
        if locator:
            item["locator"] = locator
        sources[pk].append(item)
    for pk, predecessor, date, note in (
        Succession.objects.filter(successor__in=ids)
        .order_by("successor", "predecessor")
        .values_list("successor", "predecessor", "date", "note")
    ):
        item = {"id": predecessor}
        if date:
            item["date"] = date
        if note:
            item["note"] = note
        predecessors[pk].append(item)
    return names, sources, predecessors


def _organization_chunks(root: Organization | None) -> Iterator[list[dict]]:
    """Keyset pagination over (tree_id, lft): each chunk is one indexed range query."""
    queryset = Organization.objects.order_by("tree_id", "lft")
    if root is not None:
        queryset = queryset.filter(tree_id=root.tree_id, lft__gte=root.lft, rght__lte=root.rght)
    last: tuple[int, int] | None = None
    while True:
        page = queryset
        if last is not None:
            page = page.filter(Q(tree_id__gt=last[0]) | Q(tree_id=last[0], lft__gt=last[1]))
        chunk = list(page.values(*_ORG_FIELDS)[:CHUNK])
        if not chunk:
            return
        yield chunk
        last = (chunk[-1]["tree_id"], chunk[-1]["lft"])


def _first_position(root: Organization | None) -> int:
    """The sibling position of the first exported row (1 unless a subtree starts mid-list)."""
    if root is None:
        return 1
    if root.parent_id is None:
        return Organization.objects.roots().filter(tree_id__lt=root.tree_id).count() + 1
    return Organization.objects.filter(parent_id=root.parent_id, lft__lt=root.lft).count() + 1


def organization_rows(root: Organization | None = None) -> Iterator[list[str]]:
    """Every organization (or `root` and its subtree), in tree order, as CSV cells."""
    yield list(ORGANIZATION_COLUMNS)
    base_level = root.level if root is not None else 0
    # counters[d]: siblings seen so far at relative depth d under the current path.
    counters = [_first_position(root) - 1]
    for chunk in _organization_chunks(root):
        names, sources, predecessors = _related([row["pk"] for row in chunk])
        for row in chunk:
            depth = row["level"] - base_level
            del counters[depth + 1 :]
            if len(counters) == depth:
                counters.append(0)
            counters[depth] += 1
            pk = row["pk"]
            yield [
                pk,
                row["parent_id"] or "",
                str(counters[depth]),
                row["name"],
                row["kind_id"],
                row["rank_id"] or "",
                dump_list(names.get(pk, [])),
                row["formed"],
                row["dissolved"],
                row["type"],
                row["location"],
                row["summary"],
                row["history"],
                row["functions"],
                dump_list(sources.get(pk, [])),
                dump_list(predecessors.get(pk, [])),
            ]


def selected_organization_rows(organizations: Iterable[Organization]) -> Iterator[list[str]]:
    """Chosen organizations only (not their subtrees), in tree order, with their true sibling
    positions (found with one query over their parents' children)."""
    chosen = sorted(organizations, key=lambda o: (o.tree_id, o.lft))
    parents = {o.parent_id for o in chosen if o.parent_id}
    positions: dict[str, int] = {}
    siblings = Organization.objects.filter(parent_id__in=parents).order_by("tree_id", "lft")
    counts: dict[str, int] = defaultdict(int)
    for pk, parent in siblings.values_list("pk", "parent_id"):
        counts[parent] += 1
        positions[pk] = counts[parent]
    for index, pk in enumerate(Organization.objects.roots().values_list("pk", flat=True), 1):
        positions[pk] = index
    yield list(ORGANIZATION_COLUMNS)
    yield from _rows_for(chosen, positions)


def _rows_for(chosen: list[Organization], positions: dict[str, int]) -> Iterator[list[str]]:
    for start in range(0, len(chosen), CHUNK):
        part = chosen[start : start + CHUNK]
        names, sources, predecessors = _related([o.pk for o in part])
        for o in part:
            yield [
                o.pk,
                o.parent_id or "",
                str(positions[o.pk]),
                o.name,
                o.kind_id,
                o.rank_id or "",
                dump_list(names.get(o.pk, [])),
                str(o.formed or ""),
                str(o.dissolved or ""),
                o.type,
                o.location,
                o.summary,
                o.history,
                o.functions,
                dump_list(sources.get(o.pk, [])),
                dump_list(predecessors.get(o.pk, [])),
            ]


def post_rows(root: Organization | None = None) -> Iterator[list[str]]:
    """One row per holder (and one per post without holders), in tree and seniority order."""
    yield list(POST_COLUMNS)
    posts = Post.objects.order_by("organization__tree_id", "organization__lft", "position", "pk")
    if root is not None:
        posts = posts.filter(
            organization__tree_id=root.tree_id,
            organization__lft__gte=root.lft,
            organization__lft__lte=root.rght,
        )
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
        .values("post_id", "person_id", "person__name", "position", "start", "end")
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
                str(h["position"]),
                h["start"],
                h["end"],
            ]
        if not holders.get(post["pk"]):
            yield [*prefix, "", "", "", "", ""]
