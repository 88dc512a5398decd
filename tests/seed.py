"""The seed registry for tests, written from a copy of the rows `load_seed` wrote the first time.

Two tests in three start from the seed. `load_seed` costs 0.3 s on SQLite and 0.65 s on
PostgreSQL (loaddata resolves natural keys and saves row by row), about 11 minutes of each CI
suite. The rows it writes are the same every time, so the first call runs the command and keeps
what it added; later calls write those rows back with one bulk insert per table. The database's
own triggers (the change stamp, SQLite's search tables) fire on these inserts as on loaddata's.

The copy is used only while the rows it points to outside itself (content types, kinds, ranks)
are the same rows: a test that commits empties every table and the migrations' rows come back
with new ids, and then the command runs again and a new copy is kept. A test that wrote rows
clashing with the copy's ids gets the command too (the insert is undone to its savepoint).
tests/test_seed_copy.py proves the copy leaves the database exactly as the command does.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import IntegrityError, connection, models, transaction

from registry.models import ChangeStamp, Organization
from registry.services import SEED_ROOTS


@dataclass(frozen=True)
class _Copy:
    rows: dict[type[models.Model], list[models.Model]]
    outside: tuple  # the rows outside the copy that its foreign keys point to


_copy: _Copy | None = None


def _models() -> list[type[models.Model]]:
    # The stamp is the triggers' to move, on the copy's inserts as on the command's.
    return [
        model
        for model in apps.get_models(include_auto_created=True)  # many-to-many tables too
        if model._meta.managed and not model._meta.proxy and model is not ChangeStamp
    ]


def _rows(model: type[models.Model]) -> dict:
    return {obj.pk: obj for obj in model._base_manager.order_by("pk")}


def _outside(copied: set[type[models.Model]]) -> tuple:
    pointed = {
        field.related_model
        for model in copied
        for field in model._meta.concrete_fields
        if field.is_relation and field.related_model not in copied
    }
    return tuple(
        (model._meta.label, tuple(model._base_manager.order_by("pk").values_list()))
        for model in sorted(pointed, key=lambda m: m._meta.label)
    )


def _values(obj: models.Model) -> tuple:
    return tuple(getattr(obj, field.attname) for field in obj._meta.concrete_fields)


def _load_and_copy() -> _Copy | None:
    """Run the command; return what it added, or None when it also changed rows that were
    there before (then only the command can seed)."""
    before = {model: _rows(model) for model in _models()}
    call_command("load_seed", verbosity=0)
    added: dict[type[models.Model], list[models.Model]] = {}
    for model, old in before.items():
        now = _rows(model)
        if any(pk not in now or _values(now[pk]) != _values(obj) for pk, obj in old.items()):
            return None
        new = [obj for pk, obj in now.items() if pk not in old]
        if new:
            added[model] = new
    return _Copy(rows=added, outside=_outside(set(added)))


def _write(copy: _Copy) -> bool:
    try:
        with transaction.atomic():
            for model, objs in copy.rows.items():
                model._base_manager.bulk_create(objs)
    except IntegrityError:
        return False
    # PostgreSQL's sequences do not follow explicit ids; the next row a test adds must not
    # take one of the copy's.
    for sql in connection.ops.sequence_reset_sql(no_style(), list(copy.rows)):
        with connection.cursor() as cursor:
            cursor.execute(sql)
    return True


def seed() -> None:
    """Leave the database as `load_seed` would."""
    global _copy
    if Organization.objects.filter(pk__in=SEED_ROOTS).exists():
        call_command("load_seed", verbosity=0)  # completes or keeps what is there, as always
        return
    if _copy is not None and _copy.outside == _outside(set(_copy.rows)) and _write(_copy):
        return
    _copy = _load_and_copy()
