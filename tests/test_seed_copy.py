"""The tests' seed (tests/seed.py) writes a copy of what `load_seed` wrote; the database must
then hold exactly what the command leaves, in every table (SQLite's search tables included)."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from registry.models import ChangeStamp, Organization, Source
from registry.services import SEED_ROOTS
from tests import seed as seed_module


def _every_table() -> dict[str, list[str]]:
    tables = set(connection.introspection.table_names()) - {ChangeStamp._meta.db_table}
    # SQLite's full-text tables: their rows (rowid and text) are compared; the b-tree pages
    # that store them (<table>_data, <table>_idx) depend on how many rows each write brought.
    full_text = {table for table in tables if f"{table}_data" in tables}
    tables -= {f"{table}{suffix}" for table in full_text for suffix in ("_data", "_idx")}
    dump = {}
    with connection.cursor() as cursor:
        for table in sorted(tables):
            rowid = "rowid, " if table in full_text else ""
            cursor.execute(f"SELECT {rowid}* FROM {connection.ops.quote_name(table)}")
            dump[table] = sorted(repr(row) for row in cursor.fetchall())
    return dump


def test_the_copy_of_the_seed_leaves_every_table_as_the_command_does(db, monkeypatch):
    monkeypatch.setattr(seed_module, "_copy", None)
    undo = transaction.savepoint()
    seed_module.seed()  # the command, and its rows kept
    assert seed_module._copy is not None
    by_command = _every_table()
    transaction.savepoint_rollback(undo)
    assert _every_table() != by_command

    def no_command(*args, **kwargs):
        pytest.fail("the copy was not used")

    monkeypatch.setattr(seed_module, "call_command", no_command)
    seed_module.seed()
    assert _every_table() == by_command


def test_a_row_in_the_way_of_the_copy_makes_the_command_run(db):
    """A test that wrote a row with one of the copy's ids before asking for the seed gets the
    command's seed, and keeps its row."""
    undo = transaction.savepoint()
    seed_module.seed()
    transaction.savepoint_rollback(undo)
    if seed_module._copy is None:
        seed_module.seed()  # now there is a copy
        transaction.savepoint_rollback(undo)
    copied = seed_module._copy.rows[Source][0]
    Source.objects.create(pk=copied.pk, title="A source of this test's own")

    seed_module.seed()

    assert Organization.objects.filter(pk__in=SEED_ROOTS).count() == len(SEED_ROOTS)
    assert Source.objects.get(pk=copied.pk).title == "A source of this test's own"
