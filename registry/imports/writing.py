"""Writing checked rows, in the caller's transaction: organizations with their tree fields and
lists in bulk (`database.insert_rows`, one UPDATE statement per kind of change), posts,
holdings and people through bulk_create/bulk_update. Each row's outcome goes to the report."""

from __future__ import annotations

from operator import itemgetter

from django.db import connection

from ..database import insert_rows
from ..models import (
    ChangeEvent,
    Citation,
    EventOrganization,
    Holding,
    Identifier,
    Organization,
    OtherName,
    Person,
    Placement,
    Post,
    Source,
    Succession,
)
from ..names import organization_pinyin_key, person_pinyin_key
from ..trees import NestedSet
from . import plan
from .checks import EVENT_VALUES, CheckedEvent, CheckedOrganization, CheckedPlacement, Holder
from .report import ImportReport, Progress, RowOutcome
from .stored import DATA_ATTNAMES, DATA_FIELDS, ITEM_COLUMNS, Stored, StoredEvent, chunks

_data_values = itemgetter(*DATA_ATTNAMES)
# Every column of a new organization: its id, its place in the tree and its data fields.
_TREE_ATTNAMES = ("parent_id", "tree_id", "lft", "rght", "level")
_NEW_ATTNAMES = ("id", *_TREE_ATTNAMES, *DATA_ATTNAMES)
# Change names are the columns' (`kind`, not `kind_id`).
_DATA_COLUMNS = tuple(f.column for f in DATA_FIELDS)
# Written beside the data fields: the pinyin search key derived from the Chinese names.
_KEYED_ATTNAMES = (*DATA_ATTNAMES, "pinyin_key")
_NEW_ATTNAMES = (*_NEW_ATTNAMES, "pinyin_key")


def _keyed(fields: dict) -> tuple:
    """A row's data values, then its pinyin search key."""
    key = organization_pinyin_key(fields["name_zh"], fields["short_name_zh"], fields["pinyin"])
    return (*_data_values(fields), key)


def write_organizations(
    rows: list[CheckedOrganization],
    state: dict[str, NestedSet],
    parent_of: dict[str, str | None],
    current: Stored,
    report: ImportReport,
    progress: Progress | None,
    *,
    keep_place: bool,
) -> None:
    by_id = {row.id: row for row in rows}
    old_children = plan.current_children(state)
    children = plan.final_children(old_children, state, parent_of, by_id, keep_place=keep_place)

    # Which trees change shape: a parent whose ordered children differ.
    touched_parents = {
        parent
        for parent in children.keys() | old_children.keys()
        if parent is not None and children.get(parent, []) != old_children.get(parent, [])
    }
    # Sibling positions under the parents that change, looked up by id (a `list.index` per row
    # was quadratic for a unit with tens of thousands of children).
    new_places, old_places = (
        {pk: place for parent in touched_parents for place, pk in enumerate(lists.get(parent, []))}
        for lists in (children, old_children)
    )
    tree_values: dict[str, NestedSet] = {}
    if touched_parents or any(row.id not in state for row in rows):
        tree_values = plan.layout(children, parent_of, state, touched_parents, by_id)

    new_rows, data_updates = [], []
    rewrite: dict[str, list[CheckedOrganization]] = {column: [] for column in ITEM_COLUMNS}
    for row in rows:
        if progress and row.index % 5000 == 0:
            progress("writing", row.index, len(rows))
        if row.id not in state:
            new_rows.append((row.id, *tree_values[row.id], *_keyed(row.fields)))
            for column in ITEM_COLUMNS:
                if row.items[column]:
                    rewrite[column].append(row)
            report.outcomes.append(RowOutcome(row.where, row.id, "new", organization=row.id))
            continue
        old, new = current.fields[row.id], _data_values(row.fields)
        changes = []
        if old != new:
            data_updates.append((*_keyed(row.fields), row.id))
            changes = [
                column
                for column, old_value, new_value in zip(_DATA_COLUMNS, old, new, strict=True)
                if old_value != new_value
            ]
        for column in ITEM_COLUMNS:
            if current.items[column].get(row.id, ()) != row.items[column]:
                changes.append(column.replace("_", " "))
                rewrite[column].append(row)
        if parent_of[row.id] != state[row.id].parent:
            changes.append(
                f"moved from {state[row.id].parent or 'top level'} to {row.parent or 'top level'}"
            )
        elif row.parent in touched_parents and new_places[row.id] != old_places[row.id]:
            changes.append("reordered")
        action = "update" if changes else "unchanged"
        report.outcomes.append(RowOutcome(row.where, row.id, action, changes, organization=row.id))
    updates = [
        (*values, pk) for pk, values in tree_values.items() if pk in state and values != state[pk]
    ]

    insert_rows(Organization, _NEW_ATTNAMES, new_rows)
    table = Organization._meta.db_table
    with connection.cursor() as cursor:
        if updates:
            assignments = ", ".join(f"{name} = %s" for name in _TREE_ATTNAMES)
            cursor.executemany(f"UPDATE {table} SET {assignments} WHERE id = %s", updates)
        if data_updates:
            assignments = ", ".join(f"{name} = %s" for name in _KEYED_ATTNAMES)
            cursor.executemany(f"UPDATE {table} SET {assignments} WHERE id = %s", data_updates)
    _write_related(rewrite, current)


def _write_related(rewrite: dict[str, list[CheckedOrganization]], current: Stored) -> None:
    """Replace other names, identifiers, citations and predecessor links of the rows in
    `rewrite`. Every stale row goes before any new one is written, so an identifier the file
    moves from one organization to another never meets itself."""
    stale = {
        column: [row.id for row in rows if row.id in current.fields]
        for column, rows in rewrite.items()
    }
    for chunk in chunks(stale["other_names"]):
        OtherName.objects.filter(organization__in=chunk).delete()
    for chunk in chunks(stale["identifiers"]):
        Identifier.objects.filter(organization__in=chunk).delete()
    for chunk in chunks(stale["sources"]):
        Citation.objects.filter(organization__in=chunk).delete()
    # A link the file keeps keeps its change event (the events file gives it, not this one).
    events: dict[tuple[str, str], str] = {}
    for chunk in chunks(stale["predecessors"]):
        links = Succession.objects.filter(successor__in=chunk)
        events.update(
            ((pk, successor), event)
            for pk, successor, event in links.exclude(event=None).values_list(
                "predecessor", "successor", "event"
            )
        )
        links.delete()

    insert_rows(
        OtherName,
        ("organization", "name_type", "name", "language", "start", "end", "position"),
        [
            (row.id, *other_name, position)
            for row in rewrite["other_names"]
            for position, other_name in enumerate(row.items["other_names"])
        ],
    )
    insert_rows(
        Identifier,
        ("organization", "scheme", "identifier"),
        [(row.id, *pair) for row in rewrite["identifiers"] for pair in row.items["identifiers"]],
    )
    sources = _source_ids(
        {(title, url) for row in rewrite["sources"] for title, url, _ in row.items["sources"]}
    )
    insert_rows(
        Citation,
        ("organization", "source", "locator", "position"),
        [
            (row.id, sources[(title, url)], locator, position)
            for row in rewrite["sources"]
            for position, (title, url, locator) in enumerate(row.items["sources"])
        ],
    )
    insert_rows(
        Succession,
        ("predecessor", "successor", "date", "note", "event"),
        [
            (pk, row.id, date, note, events.get((pk, row.id)))
            for row in rewrite["predecessors"]
            for pk, date, note in row.items["predecessors"]
        ],
    )


def _source_ids(wanted: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The ids of the sources (title, url) in `wanted`, adding those not yet stored."""
    sources = {
        (title, url): pk
        for pk, title, url in Source.objects.values_list("pk", "title", "url")
        if (title, url) in wanted
    }
    missing = [Source(title=t, url=u) for t, u in sorted(wanted - sources.keys())]
    Source.objects.bulk_create(missing)
    if missing:
        sources = {
            (title, url): pk for pk, title, url in Source.objects.values_list("pk", "title", "url")
        }
    return sources


def write_posts(
    holders: list[Holder],
    people: dict[str, tuple[str, str, str]],
    report: ImportReport,
    absent: frozenset[str],
    identifiers: dict[str, tuple[tuple[str, str], ...]],
    stored_identifiers: dict[str, tuple[tuple[str, str], ...]],
) -> None:
    """Write the checked rows. A column the file leaves out keeps what the registry holds in
    the posts and holdings the file updates (new ones start with it empty). `identifiers`:
    the people whose rows give identifiers (checked: their rows agree, no one else holds
    them), which replace their `stored_identifiers`."""
    organizations = sorted({h.organization for h in holders})
    posts: dict[tuple, Post] = {}
    for chunk in chunks(organizations):
        for post in Post.objects.filter(organization__in=chunk):
            posts[(post.organization_id, post.title)] = post
    holdings: dict[tuple, Holding] = {}
    for chunk in chunks([p.pk for p in posts.values()]):
        for holding in Holding.objects.filter(post__in=chunk).select_related("post"):
            key = (holding.post.organization_id, holding.post.title, holding.person_id)
            holdings[(*key, str(holding.start or ""))] = holding

    new_people: dict[str, Person] = {}
    renamed: dict[str, Person] = {}
    for h in holders:
        if not h.person:
            continue
        # Names are stored as given (no trimming), so that round trips are lossless; an
        # empty cell leaves a known person's name as it is (rows agree: `checks.same_names`).
        if h.person not in people:
            person = new_people.setdefault(h.person, Person(id=h.person, name=h.person_name))
            person.name_zh = person.name_zh or h.person_name_zh
            continue
        name, name_zh, pinyin = people[h.person]
        person = renamed.get(h.person) or Person(
            id=h.person, name=name, name_zh=name_zh, pinyin=pinyin
        )
        person.name = h.person_name or person.name
        person.name_zh = h.person_name_zh or person.name_zh
        if (person.name, person.name_zh) != (name, name_zh):
            renamed[h.person] = person
    # bulk_create and bulk_update do not call save(), which derives the search key.
    for person in (*new_people.values(), *renamed.values()):
        person.pinyin_key = person_pinyin_key(person.name_zh, person.pinyin)
    Person.objects.bulk_create(new_people.values(), batch_size=2000)
    Person.objects.bulk_update(
        renamed.values(), ["name", "name_zh", "pinyin_key"], batch_size=2000
    )
    reidentified = {
        person
        for person, pairs in identifiers.items()
        if pairs != stored_identifiers.get(person, ())
    }
    # Every stale identifier goes before any new one is written, so that one the file moves
    # from one person to another never meets itself.
    for chunk in chunks(sorted(reidentified & stored_identifiers.keys())):
        Identifier.objects.filter(person__in=chunk).delete()
    insert_rows(
        Identifier,
        ("person", "scheme", "identifier"),
        [(person, *pair) for person in sorted(reidentified) for pair in identifiers[person]],
    )

    changed_posts = {}
    for h in holders:
        key = (h.organization, h.post)
        wanted = {"plural_title": h.post_plural, "position": h.post_order or 0}
        post = posts.get(key)
        if post is not None:
            for name, column in (("plural_title", "post_plural"), ("position", "post_order")):
                if column in absent:
                    wanted[name] = getattr(post, name)
        if post is None:
            post = posts[key] = Post(organization_id=h.organization, title=h.post, **wanted)
            post.import_action = "new"
            changed_posts[key] = post
        elif key not in changed_posts and any(getattr(post, f) != v for f, v in wanted.items()):
            for name, value in wanted.items():
                setattr(post, name, value)
            post.import_action = "update"
            changed_posts[key] = post
    # Split before creating: bulk_create gives the new posts their pks, and updating them as
    # well was one UPDATE with a CASE branch per post, quadratic on PostgreSQL (minutes at
    # 40,000 posts).
    new_posts = [p for p in changed_posts.values() if p.pk is None]
    updated_posts = [p for p in changed_posts.values() if p.pk is not None]
    Post.objects.bulk_create(new_posts, batch_size=2000)
    Post.objects.bulk_update(updated_posts, ["plural_title", "position"], batch_size=2000)
    if any(p.pk is None for p in posts.values()):  # databases that return no new pks
        for chunk in chunks(organizations):
            for post in Post.objects.filter(organization__in=chunk):
                posts[(post.organization_id, post.title)].pk = post.pk

    new_holdings, changed_holdings = [], []
    for h in holders:
        key = (h.organization, h.post)
        changes = []
        if key in changed_posts:
            changes.append(f"post {changed_posts[key].import_action}")
        if h.person in new_people:
            changes.append("new person")
        else:
            if h.person in renamed:
                changes.append("person renamed")
            if h.person in reidentified:
                changes.append("person identifiers")
        action = "update" if changes else "unchanged"
        if h.person:
            holding = holdings.get((*key, h.person, h.start))
            wanted = {"position": h.holder_order or 0, "end": h.end}
            if holding is not None and "holder_order" in absent:
                wanted["position"] = holding.position
            if holding is not None and "end" in absent:
                wanted["end"] = str(holding.end or "")
            if holding is None:
                new_holdings.append(
                    Holding(post_id=posts[key].pk, person_id=h.person, start=h.start, **wanted)
                )
                action = "new"
            elif holding.position != wanted["position"] or str(holding.end or "") != wanted["end"]:
                holding.position, holding.end = wanted["position"], wanted["end"]
                changed_holdings.append(holding)
                changes.append("holder order or end date")
                action = "update"
        elif key in changed_posts and changed_posts[key].import_action == "new":
            action = "new"
        report.outcomes.append(
            RowOutcome(
                h.where,
                f"{h.organization} / {h.post} / {h.person}",
                action,
                changes,
                organization=h.organization,
                person=h.person,
            )
        )
    Holding.objects.bulk_create(new_holdings, batch_size=2000)
    Holding.objects.bulk_update(changed_holdings, ["position", "end"], batch_size=2000)


def _update(model, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """UPDATE `columns` (model field names) of each row: (values..., pk)."""
    if not rows:
        return
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(model._meta.get_field(c).column)} = %s" for c in columns)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {quote(model._meta.db_table)} SET {assignments} "
            f"WHERE {quote(model._meta.pk.column)} = %s",
            rows,
        )


def write_placements(
    rows: list[CheckedPlacement],
    stored: dict[tuple[str, str], tuple[int, str, str, str]],
    report: ImportReport,
) -> None:
    """New placements are added, those matched by (organization, end) updated; the file does
    not delete the placements it leaves out."""
    new, updates = [], []
    for row in rows:
        key = f"{row.organization} until {row.end}"
        wanted = (row.parent, row.start, row.event)
        old = stored.get(row.key)
        if old is None:
            new.append(
                (row.organization, row.parent or None, row.start, row.end, row.event or None)
            )
            action, changes = "new", []
        else:
            changes = [
                column
                for column, before, after in zip(
                    ("parent", "start", "event"), old[1:], wanted, strict=True
                )
                if before != after
            ]
            action = "update" if changes else "unchanged"
            if changes:
                updates.append((row.parent or None, row.start, row.event or None, old[0]))
        report.outcomes.append(
            RowOutcome(row.where, key, action, changes, organization=row.organization)
        )
    insert_rows(Placement, ("organization", "parent", "start", "end", "event"), new)
    _update(Placement, ("parent", "start", "event"), updates)


# The event's own fields, in the order of EVENT_VALUES without the source's two.
_EVENT_FIELDS = ("type", "date", "locator", "note", "rank_before", "rank_after")


def write_events(
    rows: list[CheckedEvent],
    stored: dict[str, StoredEvent],
    links: dict[tuple[str, str], str | None],
    report: ImportReport,
) -> None:
    """New events are added, those matched by id updated (their organizations and lineage
    links replaced by the file's); the file does not delete the events it leaves out."""
    new, updates, regrouped = [], [], []
    # Lineage links: those the file's events no longer list lose their event, unless another
    # of the file's events lists them.
    detached: set[tuple[str, str]] = set()
    attached: dict[tuple[str, str], str] = {}
    sources = _source_ids({(e.value("source"), e.value("source_url")) for e in rows} - {("", "")})
    for row in rows:
        old = stored.get(row.id)
        changes = []
        if old is None:
            action = "new"
        else:
            changes = [
                column
                for column, before, after in zip(EVENT_VALUES, old.values, row.values, strict=True)
                if before != after
            ]
            if old.organizations != row.organizations:
                changes.append("organizations")
            if old.successions != row.successions:
                changes.append("successions")
            action = "update" if changes else "unchanged"
        values = dict(zip(EVENT_VALUES, row.values, strict=True))
        source = sources.get((values["source"], values["source_url"]))
        own = (*(values[name] for name in _EVENT_FIELDS), source)
        if old is None:
            new.append((row.id, *own))
        elif set(changes) & set(EVENT_VALUES):
            updates.append((*own, row.id))
        if old is None or old.organizations != row.organizations:
            regrouped.append(row)
        if old is not None and old.successions != row.successions:
            detached.update(old.successions)
        attached.update(dict.fromkeys(row.successions, row.id))
        report.outcomes.append(RowOutcome(row.where, row.id, action, changes))
    insert_rows(ChangeEvent, ("id", *_EVENT_FIELDS, "source"), new)
    _update(ChangeEvent, (*_EVENT_FIELDS, "source"), updates)
    for chunk in chunks([row.id for row in regrouped if row.id in stored]):
        EventOrganization.objects.filter(event__in=chunk).delete()
    positions: dict[tuple[str, str], int] = {}
    parts = []
    for row in regrouped:
        for organization, role in row.organizations:
            position = positions[(row.id, role)] = positions.get((row.id, role), -1) + 1
            parts.append((row.id, organization, role, position))
    insert_rows(EventOrganization, ("event", "organization", "role", "position"), parts)
    quote = connection.ops.quote_name
    table = quote(Succession._meta.db_table)
    relinked: dict[tuple[str, str], str | None] = dict.fromkeys(detached)
    relinked.update(attached)
    changed = [(event, *link) for link, event in relinked.items() if links[link] != event]
    if changed:
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {table} SET {quote('event_id')} = %s "
                f"WHERE {quote('predecessor_id')} = %s AND {quote('successor_id')} = %s",
                changed,
            )
