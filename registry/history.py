"""Change history: recording versions in bulk, and restoring one record with what it owns.

History is django-reversion's: its `Revision` and `Version` rows, its admin pages, its
`field_dict`. Two things are done here instead of by the library:

- **Recording is linear.** `reversion.add_to_revision` copies the revision's whole frame for
  every object added, so a revision of n objects costs O(n²) (a 20,000-row import took 119 s).
  `history_record` writes the same rows with `bulk_create`, building each version's JSON from
  one query's values per table. `Version.serialized_data` is byte for byte what
  django-reversion would have written (tests/test_history_record.py compares them), so the
  library's admin, `field_dict`, revert and recover keep working on it.
- **A restore touches one record.** django-reversion's admin reverts a whole *revision*; if
  that revision holds several records (a CSV import, a bulk action), all of them are reverted.
  `history_restore` restores the chosen record and what it owns (what its model's `follow`
  lists: for an organization its other names, identifiers, citations, posts with their holders
  and its predecessor links; for a person their identifiers), deletes the owned rows added
  since, and leaves every other record as it is. Each record is also written as a revision of
  its own, so the revision is the record's scope; the restore is scoped anyway, because older
  revisions hold many records.

Every service here runs in one transaction; tree writes take the tree lock first.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DataError, IntegrityError, connection, models, router, transaction
from django.db.models.deletion import Collector, ProtectedError
from django.db.models.query_utils import DeferredAttribute
from django.utils import timezone
from django.utils.encoding import is_protected_type
from django.utils.text import capfirst
from reversion.models import Revision, Version
from reversion.revisions import _follow_relations_recursive, _get_options, get_registered_models

from .database import insert_untriggered_rows, reserve_ids, unlogged_cursor
from .dates import PartialDate
from .models import (
    HISTORY_ROOTS,
    ChangeEvent,
    EventOrganization,
    Holding,
    Organization,
    Post,
)

ROOT_MODELS = HISTORY_ROOTS  # records whose history starts with themselves
CHUNK = 900  # ids per IN (...) query, under SQLite's bound-parameter limit
WHOLE_TABLE_FROM = 5000  # owners from which one pass over a table replaces IN (...) queries
BATCH = 2000  # rows read at a time
WRITE_BATCH = 10000  # versions per COPY or executemany: fewer round trips

# What `str(obj)` gives, from values one query can fetch (`object_repr` of a version), so that
# recording never builds a model instance per row. The test comparing bulk-written versions with
# django-reversion's own catches any `__str__` that changes without this table.
_REPRS: dict[str, tuple[tuple[str, ...], Callable[..., str]]] = {
    "registry.Kind": (("name",), str),
    "registry.Rank": (("name",), str),
    "registry.Source": (("title",), str),
    "registry.Organization": (("name",), str),
    "registry.OtherName": (("name",), str),
    "registry.Identifier": (("scheme", "identifier"), lambda scheme, value: f"{scheme} {value}"),
    "registry.Person": (("name",), str),
    "registry.Citation": (
        ("source__title", "locator"),
        lambda title, locator: f"{title} ({locator})" if locator else title,
    ),
    "registry.Succession": (
        ("predecessor__name", "successor__name"),
        lambda a, b: f"{a} → {b}",
    ),
    "registry.Post": (
        ("title", "organization__name"),
        lambda title, organization: f"{title}, {organization}",
    ),
    "registry.Holding": (
        ("person__name", "post__title"),
        lambda person, title: f"{person} as {title}",
    ),
    "registry.ChangeEvent": (
        ("type", "date"),
        lambda kind, date: (
            f"{ChangeEvent.Type(kind).label}, "
            + (PartialDate.parse(date).display() if date else "date unknown")
        ),
    ),
    "registry.EventOrganization": (
        ("organization", "role"),
        lambda organization, role: (
            f"{organization} ({EventOrganization.Role(role).label.lower()})"
        ),
    ),
    "registry.Placement": (
        ("organization", "parent", "end"),
        lambda organization, parent, end: (
            f"{organization} under {parent or 'the top level'} until {end}"
        ),
    ),
}


# ---------------------------------------------------------------------------------------------
# Serialising as django-reversion does


class _Shape:
    """How django-reversion serialises one model: Django's JSON serializer over the model's
    registered fields (local fields, then many-to-many fields with an automatic table)."""

    def __init__(self, model: type[models.Model]):
        self.model = model
        options = _get_options(model)
        opts = model._meta.concrete_model._meta
        self.label = str(opts)
        self.pk = opts.pk
        self.fields = [
            f
            for f in opts.local_fields
            if f.serialize
            and (f.attname if f.remote_field is None else f.attname[:-3]) in options.fields
        ]
        self.m2m = [
            f
            for f in opts.local_many_to_many
            if f.serialize
            and f.attname in options.fields
            and f.remote_field.through._meta.auto_created
        ]
        # Fields whose attribute turns stored text into something else (PartialDateField):
        # their value is taken through the attribute, as a loaded instance would hold it.
        plain = (DeferredAttribute,)
        self.special = {
            f.attname
            for f in self.fields
            if type(model.__dict__.get(f.attname, None)) not in plain
            and not isinstance(f, models.ForeignKey)
        }
        self.scratch = model.__new__(model) if self.special else None
        if self.scratch is not None:
            self.scratch.__dict__["_state"] = models.base.ModelState()
        lookups, self.repr = _REPRS.get(model._meta.label, ((), None))
        self.columns = ["pk", *(f.attname for f in self.fields), *lookups]
        self.width = len(self.fields)
        self.memo: dict = {}
        self.sql: dict = {}
        # Columns the ORM converts after reading (none in this registry's models today): read
        # them through the ORM, not as the driver returns them.
        probe = model._base_manager.values_list(*self.columns).query
        compiler = probe.get_compiler(using=router.db_for_read(model))
        compiler.setup_query()
        self.converted = bool(compiler.get_converters([c[0] for c in compiler.select]))
        self.content_type = ContentType.objects.get_for_model(model)
        self.db = router.db_for_write(model)

    def value(self, field: models.Field, raw):
        """What the serializer writes for `raw`, the stored value of `field`."""
        if field.attname in self.special:
            # Memoised: the attribute's parsing is the costly part, and values repeat (dates).
            key = (field.attname, raw)
            if key not in self.memo:
                setattr(self.scratch, field.attname, raw)
                value = field.value_from_object(self.scratch)
                self.memo[key] = (
                    value if is_protected_type(value) else field.value_to_string(self.scratch)
                )
            return self.memo[key]
        return raw if is_protected_type(raw) else str(raw)

    def batches(self, field: str, keys: Collection) -> Iterator[list[tuple]]:
        """The rows (tuples of `columns`) whose `field` is in `keys`, a batch at a time: by
        IN (...) queries for a few keys, by one pass over the table for many (PostgreSQL
        plans an IN (...) of hundreds of ids on a freshly written table as a scan of the
        whole table, so a query per 900 keys made a large import's history quadratic)."""
        if len(keys) < WHOLE_TABLE_FROM:
            values = list(keys)
            for start in range(0, len(values), CHUNK):
                if rows := list(self._rows(field, values[start : start + CHUNK])):
                    yield rows
            return
        column = self.columns.index(field)
        batch = []
        for row in self._all_rows():
            if row[column] in keys:
                batch.append(row)
                if len(batch) == BATCH:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def _all_rows(self) -> Iterator[tuple]:
        queryset = self.model._base_manager.order_by().values_list(*self.columns)
        if self.converted:
            yield from queryset.iterator(chunk_size=BATCH)
            return
        sql, params = queryset.query.sql_with_params()
        with unlogged_cursor(streaming=True) as cursor:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(BATCH):
                yield from rows

    def _rows(self, field: str, values: Sequence) -> Iterable[tuple]:
        queryset = self.model._base_manager.order_by().values_list(*self.columns)
        if self.converted:
            return queryset.filter(**{f"{field}__in": values}).iterator(chunk_size=BATCH)
        # One SQL text per (field, number of values), compiled once: Django's per-value
        # preparation of 900 parameters, and DEBUG's query log, cost more than the query.
        key = (field, len(values))
        if key not in self.sql:
            dummy = queryset.filter(**{f"{field}__in": range(1, len(values) + 1)})
            self.sql[key] = dummy.query.sql_with_params()[0]
        with unlogged_cursor() as cursor:
            cursor.execute(self.sql[key], list(values))
            return cursor.fetchall()

    def m2m_values(self, pks: Sequence) -> dict[str, dict]:
        values: dict[str, dict] = {}
        for f in self.m2m:
            query = f.related_query_name()
            got: dict = defaultdict(list)
            # In the target's default order, as the serializer's `obj.<field>.all()` reads.
            for owner, target in f.related_model._default_manager.filter(
                **{f"{query}__in": pks}
            ).values_list(query, "pk"):
                got[owner].append(target)
            values[f.name] = got
        return values

    def version(self, row: tuple, m2m: dict[str, dict]) -> tuple:
        """One version's columns: content type, object id, db, format, data, repr."""
        pk = row[0]
        fields = {}
        for f, raw in zip(self.fields, row[1 : 1 + self.width], strict=True):
            # Text, numbers and NULL are written as they are; anything else as the field says.
            fields[f.name] = (
                raw
                if type(raw) in _AS_IS and f.attname not in self.special
                else (self.value(f, raw))
            )
        for f in self.m2m:
            fields[f.name] = [
                t if is_protected_type(t) else str(t) for t in m2m[f.name].get(pk, ())
            ]
        dump = {
            "model": self.label,
            "pk": pk if is_protected_type(pk) else str(pk),
            "fields": fields,
        }
        if self.repr is None:
            representation = str(self.model._base_manager.get(pk=pk))
        else:
            representation = self.repr(*row[1 + self.width :])
        # What Django's JSON serializer writes for a list of one object.
        data = f"[{_ENCODER.encode(dump)}]"
        return (self.content_type.pk, str(pk), self.db, "json", data, representation)


_AS_IS = frozenset((str, int, float, type(None)))
# json.dumps(..., cls=DjangoJSONEncoder, ensure_ascii=False), as Django's serializer calls it,
# without building an encoder per version.
_ENCODER = DjangoJSONEncoder(ensure_ascii=False)


_shapes: dict[type[models.Model], _Shape] = {}


def _shape(model: type[models.Model]) -> _Shape:
    if model not in _shapes:
        _shapes[model] = _Shape(model)
    shape = _shapes[model]
    # From Django's content type cache each time: content types are renumbered when a test
    # database is flushed, and that cache is cleared then.
    shape.content_type = ContentType.objects.get_for_model(model)
    return shape


def _follows(model: type[models.Model]) -> list[tuple[type[models.Model], str]]:
    """The owned models of `model` with the foreign key that points at their owner."""
    owned = []
    for name in _get_options(model).follow:
        relation = model._meta.get_field(name)
        if not (relation.one_to_many and relation.auto_created):
            raise TypeError(f"{model.__name__}.{name}: only reverse foreign keys are followed.")
        owned.append((relation.related_model, relation.field.attname))
    return owned


_VERSION_COLUMNS = (
    "revision",
    "content_type",
    "object_id",
    "db",
    "format",
    "serialized_data",
    "object_repr",
)


class _Writer:
    """Version rows, written a batch at a time."""

    def __init__(self):
        self.rows: list[tuple] = []

    def add(self, rows: Iterable[tuple]) -> None:
        self.rows.extend(rows)
        if len(self.rows) >= WRITE_BATCH:
            self.flush()

    def flush(self) -> None:
        insert_untriggered_rows(Version, _VERSION_COLUMNS, self.rows)
        self.rows = []


def _record_rows(
    shape: _Shape, field: str, revision_of: dict, writer: _Writer
) -> dict[object, int]:
    """Write a version of each row of `shape` whose `field` is a key of `revision_of`, into
    that key's revision. Returns the revision of each row written, by its pk."""
    column = shape.columns.index(field)
    written = {}
    for batch in shape.batches(field, revision_of):
        m2m = shape.m2m_values([row[0] for row in batch]) if shape.m2m else {}
        for row in batch:
            revision = revision_of[row[column]]
            writer.add([(revision, *shape.version(row, m2m))])
            written[row[0]] = revision
    return written


def _record_owned(model: type[models.Model], revision_of: dict, writer: _Writer) -> None:
    for related, attname in _follows(model):
        owned = _record_rows(_shape(related), attname, revision_of, writer)
        if owned:
            _record_owned(related, owned, writer)


def history_record(
    *,
    model: type[models.Model],
    pks: Iterable,
    comment: str,
    user=None,
    date=None,
) -> int:
    """Record the current state of each record in `pks` (of `model`, with what it owns) as a
    revision of its own, all with the same `comment`, `user` and date. Linear in the number of
    rows: a few queries per 900 records, or one pass per table for many, and bulk INSERTs.
    Records that do not exist are skipped. Returns the number of revisions written."""
    date = date or timezone.now()
    user_id = user.pk if user is not None and getattr(user, "is_authenticated", False) else None
    wanted = dict.fromkeys(model._meta.pk.to_python(pk) for pk in pks)
    if not wanted:
        return 0
    shape = _shape(model)
    writer = _Writer()
    revision_of: dict[object, int] = {}
    with transaction.atomic():
        stamp = Revision._meta.get_field("date_created").get_db_prep_value(date, connection)
        for batch in shape.batches("pk", wanted):
            ids = reserve_ids(Revision, len(batch))
            insert_untriggered_rows(
                Revision,
                ("id", "date_created", "user", "comment"),
                [(pk, stamp, user_id, comment) for pk in ids],
            )
            m2m = shape.m2m_values([row[0] for row in batch]) if shape.m2m else {}
            writer.add(
                (revision, *shape.version(row, m2m))
                for revision, row in zip(ids, batch, strict=True)
            )
            revision_of.update(zip((row[0] for row in batch), ids, strict=True))
        _record_owned(model, revision_of, writer)
        writer.flush()
    return len(revision_of)


# What a record's current state is, for forms opened before someone else saved it.

# Tree bookkeeping moves whenever a unit elsewhere in the same tree is added, moved or
# deleted; it is not what a curator edits, so it is no part of a record's state.
_UNEDITED_FIELDS = frozenset(("lft", "rght", "tree_id", "level"))


class _Collector:
    """Collects versions instead of writing them (the `_Writer` interface)."""

    def __init__(self):
        self.rows: list[tuple] = []

    def add(self, rows: Iterable[tuple]) -> None:
        self.rows.extend(rows)


def history_fingerprint(
    *,
    model: type[models.Model],
    pk,
    also: Iterable[tuple[type[models.Model], str]] = (),
) -> str:
    """A digest of the record `pk` of `model` as it is stored now, with what it owns: the data
    a version of it would hold, less the tree's bookkeeping. Two equal digests mean nobody
    changed the record in between; an admin form carries the one it was opened with.

    `also` adds rows the record does not own but its form edits (an inline of another owner's
    rows, e.g. a person's holdings): (model, the foreign key's attname pointing at `pk`)."""
    shape = _shape(model)
    collector = _Collector()
    key = model._meta.pk.to_python(pk)
    for batch in shape.batches("pk", {key: None}):
        m2m = shape.m2m_values([row[0] for row in batch]) if shape.m2m else {}
        collector.add((0, *shape.version(row, m2m)) for row in batch)
    _record_owned(model, {key: 0}, collector)
    followed = set(_follows(model))
    for related, attname in also:
        if (related, attname) not in followed:
            rows = _record_rows(_shape(related), attname, {key: 0}, collector)
            if rows:
                _record_owned(related, rows, collector)
    digest = hashlib.sha256()
    for _revision, content_type, object_id, _db, _format, data, _repr in sorted(
        collector.rows, key=lambda row: (row[1], row[2])
    ):
        (dump,) = json.loads(data)
        fields = {k: v for k, v in dump["fields"].items() if k not in _UNEDITED_FIELDS}
        digest.update(json.dumps([content_type, object_id, fields], sort_keys=True).encode())
    return digest.hexdigest()


def history_initialize(
    *,
    comment: str = "Initial version.",
    user=None,
    record_models: Iterable[type[models.Model]] = ROOT_MODELS,
) -> dict[str, int]:
    """Give every record that has no history yet (rows loaded or imported before history was
    kept, the vocabularies shipped by a migration) an initial version, so that it can be
    reverted to and recovered after a delete. Idempotent. Returns revisions written by model."""
    written = {}
    with transaction.atomic():
        date = timezone.now()
        if Organization in record_models:
            Organization.objects.lock_tree_writes()
        for model in record_models:
            versioned = set(
                Version.objects.get_for_model(model).values_list("object_id", flat=True)
            )
            missing = [
                pk
                for pk in model._base_manager.order_by("pk").values_list("pk", flat=True)
                if str(pk) not in versioned
            ]
            written[model._meta.verbose_name_plural] = history_record(
                model=model, pks=missing, comment=comment, user=user, date=date
            )
    return written


# ---------------------------------------------------------------------------------------------
# Restoring one record


@dataclass
class RestorePlan:
    """What restoring a version does: the versions written back (the record and what it owned
    then), and the rows deleted (what it owns now and did not then)."""

    version: Version
    versions: list[Version]
    deletes: list[models.Model]
    comes_back: list[Version] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)  # `describe()`, taken before the writes
    state: str = ""  # `history_fingerprint` of the record before the restore

    def describe(self) -> list[str]:
        """Plain sentences for the preview: what will be deleted, what comes back."""
        lines = []
        if self.deletes:
            lines.append("Will be deleted: " + "; ".join(_describe(self.deletes)) + ".")
        if self.comes_back:
            lines.append(
                "Will come back: "
                + "; ".join(
                    f"{v._model._meta.verbose_name} “{v.object_repr}”" for v in self.comes_back
                )
                + "."
            )
        return lines


def _describe(rows: list[models.Model]) -> list[str]:
    parts = []
    holdings = defaultdict(list)
    for row in rows:
        if isinstance(row, Holding):
            holdings[row.post_id].append(row)
    # Looked up in a set: asking every row for each holding was quadratic in a plan's size.
    posts = {row.pk for row in rows if isinstance(row, Post)}
    for row in rows:
        if isinstance(row, Holding):
            if row.post_id not in posts:
                parts.append(f"holder “{row.person}” of the post “{row.post.title}”")
            continue
        text = f"{row._meta.verbose_name} “{row}”"
        if isinstance(row, Post) and holdings.get(row.pk):
            names = ", ".join(str(h.person) for h in holdings[row.pk])
            text += f" with its holders ({names})"
        parts.append(text)
    return parts


def history_plan(*, version: Version) -> RestorePlan:
    """What `history_restore` would do for `version`, without writing anything."""
    model = version._model
    versions = _owned_versions(version)
    keep = {(v._model, v.object_id) for v in versions}
    current = model._base_manager.filter(pk=version.object_id).first()
    now = _follow_relations_recursive(current) if current is not None else set()
    deletes = sorted(
        (row for row in now if (type(row), str(row.pk)) not in keep),
        key=lambda row: (_ORDER.get(row._meta.label, 9), str(row)),
    )
    existing = {(type(row), str(row.pk)) for row in now}
    comes_back = [v for v in versions if (v._model, v.object_id) not in existing]
    return RestorePlan(version=version, versions=versions, deletes=deletes, comes_back=comes_back)


_ORDER = {  # how a restore plan lists the rows it deletes or brings back
    f"registry.{name}": place
    for place, name in enumerate(
        (
            "Organization",
            "Person",
            "Post",
            "Holding",
            "OtherName",
            "Identifier",
            "Citation",
            "Succession",
        )
    )
}


def _owner_fields(model: type[models.Model]) -> list[str]:
    """The foreign keys by which rows of `model` are owned (followed) by another record."""
    return sorted(
        {
            attname
            for owner in get_registered_models()
            for related, attname in _follows(owner)
            if related is model
        }
    )


def history_owner_fields(model: type[models.Model]) -> list[models.ForeignKey]:
    """The foreign keys of `model` that point at the record owning its rows (whose history
    holds them): a holding's post, a post's organization, a lineage link's successor."""
    return [model._meta.get_field(attname) for attname in _owner_fields(model)]


def _owned_versions(version: Version) -> list[Version]:
    """`version` and the versions of its revision that its record owned then (the model's
    `follow`, recursively), owners first."""
    found = [version]
    queue = [version]
    while queue:
        owner = queue.pop(0)
        owner_pk = owner.field_dict[owner._model._meta.pk.attname]
        for related, attname in _follows(owner._model):
            name = related._meta.get_field(attname).name
            content_type = ContentType.objects.get_for_model(related)
            # The text filter narrows a revision of thousands of versions to a handful; the
            # field_dict check decides.
            needle = f'"{name}": {json.dumps(owner_pk, cls=DjangoJSONEncoder, ensure_ascii=False)}'
            for candidate in version.revision.version_set.filter(
                content_type=content_type, serialized_data__contains=needle
            ).order_by("pk"):
                if candidate.field_dict.get(attname) == owner_pk:
                    found.append(candidate)
                    queue.append(candidate)
    return found


def _refusals(plan: RestorePlan) -> list[str]:
    """Why writing the plan back would fail or break the tree, in words a curator can act on."""
    problems = []
    restoring = {(v._model, v.object_id) for v in plan.versions}
    for version in plan.versions:
        model = version._model
        data = version.field_dict
        whose = (
            ""
            if version is plan.version
            else f" of {model._meta.verbose_name} “{version.object_repr}”"
        )
        # Every record the version points to must still exist: foreign keys are checked only
        # at commit, where a dangling one would be a server error, not a message.
        for f in (*model._meta.concrete_fields, *model._meta.many_to_many):
            if not f.is_relation or data.get(f.attname) in (None, []):
                continue
            targets = data[f.attname] if f.many_to_many else [data[f.attname]]
            targets = [t for t in targets if (f.related_model, str(t)) not in restoring]
            existing = set(
                f.related_model._base_manager.filter(pk__in=targets).values_list("pk", flat=True)
            )
            for target in targets:
                if f.related_model._meta.pk.to_python(target) in existing:
                    continue
                last = (
                    Version.objects.get_for_object_reference(f.related_model, target)
                    .order_by("-pk")
                    .first()
                )
                name = last.object_repr if last else str(target)
                problems.append(
                    f"{capfirst(f.related_model._meta.verbose_name)} “{name}” "
                    f"({f.verbose_name}{whose}) was deleted since: recover it first (its "
                    "“Recover deleted” list), or edit the record instead of restoring this "
                    "version."
                )
    # An owned row that has since moved to another owner (a post to another organization, a
    # holder to another post) would be taken from there: that record is not the one chosen.
    for version in plan.versions[1:]:
        model = version._model
        current = model._base_manager.filter(pk=version.object_id).first()
        if current is None:
            continue
        for attname in _owner_fields(model):
            then, now = version.field_dict.get(attname), getattr(current, attname)
            if then != now:
                owner = model._meta.get_field(attname).related_model
                holder = owner._base_manager.filter(pk=now).first()
                problems.append(
                    f"{capfirst(model._meta.verbose_name)} “{current}” now belongs to "
                    f"{owner._meta.verbose_name} “{holder}”: restoring this version would "
                    "take it from there. Move it back first, or edit the record instead."
                )
    version = plan.version
    if version._model is Organization and not problems:
        pk = version.object_id
        parent_id = version.field_dict["parent_id"]
        current = Organization.objects.filter(pk=pk).first()
        if parent_id is not None and current is not None:
            parent = Organization.objects.get(pk=parent_id)
            if parent.pk == pk or parent.is_descendant_of(current):
                problems.append(
                    f"“{current}” cannot go back under “{parent}”: “{parent}” is now inside "
                    f"“{current}”, so it would become its own ancestor. Move “{parent}” out "
                    f"of “{current}” first, then restore this version."
                )
    return problems


def record_lock(*, model: type[models.Model], pk=None) -> None:
    """Hold the record `pk` of `model` until the transaction ends, so that what is checked now
    (its state, its parent) is what the write that follows finds. Organizations, new ones
    included: the tree lock, which every tree write takes first (a row lock here and the tree
    lock there would deadlock)."""
    if model is Organization:
        Organization.objects.lock_tree_writes()
    elif pk is not None:
        list(model._base_manager.select_for_update().filter(pk=pk).values_list("pk"))


def history_restore(
    *,
    version: Version,
    opened_state: str | None = None,
    also: Iterable[tuple[type[models.Model], str]] = (),
) -> RestorePlan:
    """Write `version`'s record back as it was, with what it owned then; delete what it owns
    now and did not own then; touch nothing else. Repairs the trees involved. Raises
    ValidationError, with nothing written, when the version cannot be restored (a record it
    points to was deleted, or the restored parent would be inside the organization).

    `opened_state` is the record's `history_fingerprint` (with `also`) when its restore was
    previewed: if someone changed the record since, the preview no longer says what restoring
    deletes and brings back, and nothing is restored. The plan's `state` is the fingerprint
    taken now, for a preview to carry.

    Runs in the caller's transaction if there is one (the admin's preview rolls it back)."""
    with transaction.atomic():
        model = version._model
        record_lock(model=model, pk=version.object_id)
        state = history_fingerprint(model=model, pk=version.object_id, also=also)
        if opened_state and opened_state != state:
            raise ValidationError(
                f"“{version.object_repr}” was changed by someone else after you opened "
                "this preview, so nothing was restored: the preview no longer says what "
                "restoring would delete and bring back. Open the version again and "
                "check its preview."
            )
        plan = history_plan(version=version)
        plan.state = state
        problems = _refusals(plan)
        if problems:
            raise ValidationError(problems)
        plan.summary = plan.describe()
        old_trees = list(
            Organization.objects.filter(pk=version.object_id).values_list("tree_id", flat=True)
            if model is Organization
            else []
        )
        place = _place_among_siblings(version) if model is Organization else None
        # Rebuilding a tree costs seconds at thousands of units: a unit that stays where it is
        # keeps the nested-set fields it has now, and no tree is repaired.
        kept_place = _current_tree_fields(version, place) if model is Organization else None
        try:
            with transaction.atomic():
                if plan.deletes:
                    collector = Collector(using=version.db)
                    by_model = defaultdict(list)
                    for row in plan.deletes:
                        by_model[type(row)].append(row)
                    for rows in by_model.values():  # the collector takes one model at a time
                        collector.collect(rows)
                    collector.delete()
                if model is Organization:
                    organization = plan.version._object_version.object
                    if kept_place:
                        for name, value in kept_place.items():
                            setattr(organization, name, value)
                    else:
                        _fill_tree_fields(organization)
                for owned in plan.versions:
                    owned._object_version.save(using=version.db)
        except ProtectedError as error:
            names = ", ".join(f"“{row}”" for row in error.protected_objects)
            raise ValidationError(
                f"Restoring this version would delete rows that others still need ({names})."
            ) from error
        except IntegrityError as error:
            # E.g. another record has taken a name that must be unique since this version.
            raise ValidationError(
                f"“{version.object_repr}” cannot be restored as it was: it clashes with the "
                f"registry as it is now ({error}). Edit the record instead."
            ) from error
        except DataError as error:
            # A version recorded before a limit was set can hold more than a column takes now.
            raise ValidationError(
                f"“{version.object_repr}” cannot be restored as it was: the version holds a "
                f"value the registry no longer accepts ({error}). Edit the record instead."
            ) from error
        if model is Organization and not kept_place:
            from .services import organization_tree_repair

            organization_tree_repair(
                organization_ids=[version.object_id],
                old_tree_ids=old_trees,
                places={version.object_id: place} if place is not None else None,
            )
        return plan


_TREE_FIELDS = ("tree_id", "lft", "rght", "level")


def _current_tree_fields(version: Version, place: int | None) -> dict | None:
    """The organization's nested-set fields as they are now, if restoring `version` leaves it
    where it is (same parent, same place among its siblings); else None."""
    current = (
        Organization.objects.filter(pk=version.object_id)
        .values("parent_id", *_TREE_FIELDS)
        .first()
    )
    if current is None or current["parent_id"] != version.field_dict.get("parent_id"):
        return None
    parent_id = current.pop("parent_id")
    if parent_id is not None and place is not None:
        siblings = Organization.objects.filter(parent_id=parent_id).exclude(pk=version.object_id)
        # The repair would put it after the siblings whose lft is below `place`.
        if siblings.filter(lft__lt=current["lft"]).count() != (
            siblings.filter(lft__lt=place).count()
        ):
            return None
    return current


def _place_among_siblings(version: Version) -> int | None:
    """Where the restored organization goes among its siblings, as a `places` value for
    `organization_tree_repair` (an lft of the tree as it is now, or as recorded).

    A recorded lft is not comparable with today's: every unit added or deleted earlier in the
    tree since shifted the siblings' numbers. Siblings recorded at the same moment (the same
    import, seed load or initial versions: the versions of units never edited since) are: the
    restored unit goes right after the last of them that was before it then."""
    data = version.field_dict
    recorded, parent_id = data.get("lft"), data.get("parent_id")
    if recorded is None or parent_id is None:  # top-level bodies are ordered by tree id
        return recorded
    siblings = list(
        Organization.objects.filter(parent_id=parent_id)
        .exclude(pk=version.object_id)
        .order_by("lft")
        .values_list("pk", "lft", "rght")
    )
    then = {}
    content_type = ContentType.objects.get_for_model(Organization)
    for start in range(0, len(siblings), CHUNK):
        for object_id, serialized in Version.objects.filter(
            content_type=content_type,
            object_id__in=[str(pk) for pk, _, _ in siblings[start : start + CHUNK]],
            revision__date_created=version.revision.date_created,
            format="json",
        ).values_list("object_id", "serialized_data"):
            fields = json.loads(serialized)[0]["fields"]
            if fields.get("tree_id") == data.get("tree_id") and fields.get("lft") is not None:
                then[object_id] = fields["lft"]
    if not then:
        return recorded
    before = [(pk, rght) for pk, _, rght in siblings if then.get(str(pk), recorded) < recorded]
    if before:
        return before[-1][1]  # after that sibling's subtree, before the next sibling
    parent = Organization.objects.filter(pk=parent_id).values_list("lft", flat=True).first()
    return parent if parent is not None else recorded


def _fill_tree_fields(organization: Organization) -> None:
    """A version written without the nested-set fields (by hand, or by another tool) still
    writes a row: the repair that follows the restore recomputes them from the parent links."""
    for name in ("lft", "rght", "level"):
        if getattr(organization, name) is None:
            setattr(organization, name, 0)
    if organization.tree_id is None:
        current = Organization.objects.filter(pk=organization.pk).values_list("tree_id")
        organization.tree_id = current[0][0] if current else Organization.objects.new_tree_number()


def history_revert(*, version: Version, user=None) -> RestorePlan:
    """Restore `version` (see `history_restore`) and record the result as a new revision."""
    with transaction.atomic():
        plan = history_restore(version=version)
        saved = timezone.localtime(version.revision.date_created)
        history_record(
            model=version._model,
            pks=[version.object_id],
            comment=f"Restored the version saved on {saved:%Y-%m-%d %H:%M}.",
            user=user,
        )
        return plan


history_recover = history_revert  # a deleted record is restored the same way
