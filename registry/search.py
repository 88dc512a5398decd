"""Substring search over names that stays fast as the registry grows.

Searching means Django's `icontains`: a name matches when it contains the text, ignoring case.
No B-tree can answer that, so without help every search reads every name (about 100 ms at
100,000 organizations). Migration 0005 adds trigram indexes, one way per database:

- PostgreSQL: GIN indexes with pg_trgm's `gin_trgm_ops` on `UPPER(column::text)`, the very
  expression `icontains` compiles to there, so the planner uses them for plain `icontains`
  filters and nothing changes at query time.
- SQLite: for each searched table, an FTS5 table with the `trigram` tokenizer, kept in step by
  triggers. SQLite's planner knows nothing of it, so `narrowed()` adds to a query "and the row
  is among those the trigram index finds": the rows holding every trigram of the text
  (case-folded), a superset of the matches. The `icontains` filter beside it still decides, so
  the results are exactly those of `icontains` alone.

Texts under three characters have no trigram; both databases then read every name, as before.
"""

from __future__ import annotations

import functools
import sqlite3

from django.db import connection
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.models import Q
from django.db.models.expressions import RawSQL

# index name: (table, column). The expression is the one `icontains` compiles to on
# PostgreSQL, `UPPER("column"::text)`: PostgreSQL uses an expression index only for a query
# with that same expression.
POSTGRESQL_INDEXES = {
    "organization_name_trgm": ("registry_organization", "name"),
    "other_name_name_trgm": ("registry_othername", "name"),
    "person_name_trgm": ("registry_person", "name"),
    "person_name_zh_trgm": ("registry_person", "name_zh"),
}

# Searched table: its searched columns. On SQLite each table gets "<table>_trigram", the FTS5
# index (its rowid is a stable number for the row), and "<table>_trigram_key", which maps that
# number to the row's primary key. The map is needed because organizations and people have
# text primary keys, and the hidden rowid of such a table may change (VACUUM, Django remaking
# the table in a migration) while an integer primary key never does.
SQLITE_INDEXED = {
    "registry_organization": ("name",),
    "registry_othername": ("name",),
    "registry_person": ("name", "name_zh"),
}


def narrowed(table: str, text: str) -> Q:
    """On SQLite, "the row is among those `table`'s trigram index finds for `text`": an extra
    filter, for a query that also filters with `icontains`, that lets SQLite read only those
    rows. Elsewhere, and for texts the index cannot serve, no filter at all (`Q()`)."""
    if connection.vendor != "sqlite" or len(text) < 3 or "\x00" in text:
        return Q()
    # Asked of the database, not of the SQLite library: migration 0005 skips the index where
    # the library lacks the trigram tokenizer, and the database may outlive that library.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s", [f"{table}_trigram"]
        )
        if cursor.fetchone() is None:
            return Q()
    index, key = f'"{table}_trigram"', f'"{table}_trigram_key"'
    return Q(
        pk__in=RawSQL(
            f"SELECT row_id FROM {key} WHERE id IN "
            f"(SELECT rowid FROM {index} WHERE {index} MATCH %s)",
            [_trigram_query(text)],
        )
    )


def _trigram_query(text: str) -> str:
    """An FTS5 query for the rows that hold every trigram of `text`. Not a phrase query: that
    needs positions, which the index does not store (`detail='none'` keeps it small and quick
    to write); `icontains` then checks that the trigrams are in a row and in order. Inside
    double quotes FTS5 takes everything literally except the double quote, written twice."""
    trigrams = dict.fromkeys(text[i : i + 3] for i in range(len(text) - 2))
    return " ".join('"' + trigram.replace('"', '""') + '"' for trigram in trigrams)


@functools.cache
def sqlite_has_trigram() -> bool:
    """Whether this process's SQLite library has FTS5 with the trigram tokenizer (SQLite 3.34
    and later, when built with FTS5, as Python's usually is). Django supports older SQLite:
    there migration 0005 creates no index, and search reads every name."""
    try:
        probe = sqlite3.connect(":memory:")
        try:
            probe.execute("CREATE VIRTUAL TABLE probe USING fts5(text, tokenize='trigram')")
        finally:
            probe.close()
    except sqlite3.Error:
        return False
    return True


# --- Creating and dropping the indexes (migration 0005) ------------------------------------
#
# Django remakes a SQLite table (copy, drop, rename) for many schema changes, and dropping a
# table drops its triggers. A later migration that alters one of the SQLite-indexed tables
# must therefore call `drop_indexes` then `create_indexes` after its own operations;
# tests/test_search.py fails while any trigger is missing.


def create_indexes(schema_editor: BaseDatabaseSchemaEditor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for index, (table, column) in POSTGRESQL_INDEXES.items():
            schema_editor.execute(
                f'CREATE INDEX "{index}" ON "{table}" '
                f'USING gin (UPPER("{column}"::text) gin_trgm_ops)'
            )
    elif vendor == "sqlite" and sqlite_has_trigram():
        for table, columns in SQLITE_INDEXED.items():
            with schema_editor.connection.cursor() as cursor:
                cursor.execute("SELECT type FROM pragma_table_info(%s) WHERE pk = 1", [table])
                (key_type,) = cursor.fetchone()
            for statement in _sqlite_index(table, columns, key_type):
                schema_editor.execute(statement, params=None)


def drop_indexes(schema_editor: BaseDatabaseSchemaEditor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for index in POSTGRESQL_INDEXES:
            schema_editor.execute(f'DROP INDEX IF EXISTS "{index}"')
    elif vendor == "sqlite":
        for table in SQLITE_INDEXED:
            for trigger in sqlite_triggers(table):
                schema_editor.execute(f'DROP TRIGGER IF EXISTS "{trigger}"', params=None)
            schema_editor.execute(f'DROP TABLE IF EXISTS "{table}_trigram"', params=None)
            schema_editor.execute(f'DROP TABLE IF EXISTS "{table}_trigram_key"', params=None)


def sqlite_triggers(table: str) -> list[str]:
    return [f"{table}_trigram_{event}" for event in ("insert", "update", "delete")]


def _sqlite_index(table: str, columns: tuple[str, ...], key_type: str) -> list[str]:
    """The statements that create `table`'s trigram index, fill it and keep it in step.
    `key_type` is the declared type of the table's primary key."""
    source, index, key = f'"{table}"', f'"{table}_trigram"', f'"{table}_trigram_key"'
    insert, update, delete = (f'"{trigger}"' for trigger in sqlite_triggers(table))
    names = ", ".join(f'"{column}"' for column in columns)

    def values(row: str) -> str:
        return ", ".join(f'{row}."{column}"' for column in columns)

    def number(row: str) -> str:
        return f"(SELECT id FROM {key} WHERE row_id = {row}.id)"

    changed = " OR ".join(f'old."{column}" IS NOT new."{column}"' for column in ("id", *columns))
    return [
        # row_id has the primary key's declared type: a column compares by the rules of its
        # type, and with another type the triggers' lookups could not use row_id's index (each
        # write would read the whole map).
        f"CREATE TABLE {key} (id INTEGER PRIMARY KEY, row_id {key_type} NOT NULL UNIQUE)",
        # trigram: every three characters of a name make a token, case-folded. detail='none'
        # and columnsize=0: store which rows hold a token and nothing more.
        f"CREATE VIRTUAL TABLE {index} USING fts5("
        f"{names}, tokenize='trigram', detail='none', columnsize=0)",
        f"INSERT INTO {key} (row_id) SELECT id FROM {source}",
        f"INSERT INTO {index} (rowid, {names}) SELECT {key}.id, {values(source)} "
        f"FROM {source} JOIN {key} ON {key}.row_id = {source}.id",
        f"CREATE TRIGGER {insert} AFTER INSERT ON {source} BEGIN "
        f"INSERT INTO {key} (row_id) VALUES (new.id); "
        f"INSERT INTO {index} (rowid, {names}) VALUES ({number('new')}, {values('new')}); "
        "END",
        # Only when a searched column or the key changes: saving an unchanged name, or moving a
        # node in the tree, costs nothing here.
        f"CREATE TRIGGER {update} AFTER UPDATE OF id, {names} ON {source} WHEN {changed} BEGIN "
        f"UPDATE {key} SET row_id = new.id WHERE row_id = old.id; "
        f"UPDATE {index} SET ({names}) = ({values('new')}) WHERE rowid = {number('new')}; "
        "END",
        f"CREATE TRIGGER {delete} AFTER DELETE ON {source} BEGIN "
        f"DELETE FROM {index} WHERE rowid = {number('old')}; "
        f"DELETE FROM {key} WHERE row_id = old.id; "
        "END",
    ]
