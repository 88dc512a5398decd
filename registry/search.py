"""Substring search over names that stays fast as the registry grows.

Searching means Django's `icontains`: a name matches when it contains the text, ignoring case.
No B-tree can answer that, so without help every search reads every name (about 100 ms at
100,000 organizations). Migration 0005 adds trigram indexes, one way per database (their SQL
is in registry/triggers.py, which also puts them back after any migration that drops them):

- PostgreSQL: GIN indexes with pg_trgm's `gin_trgm_ops` on `UPPER(column::text)`, the very
  expression `icontains` compiles to there, so the planner uses them for plain `icontains`
  filters and nothing changes at query time.
- SQLite: for each searched table, an FTS5 table with the `trigram` tokenizer, kept in step by
  triggers. SQLite's planner knows nothing of it, so `sqlite_narrowed()` adds to a query "and
  the row is among those the trigram index finds": the rows holding every trigram of the text
  (case-folded), a superset of the matches. The `icontains` filter beside it still decides, so
  the results are exactly those of `icontains` alone.

Texts under three characters have no trigram; both databases then read every name, as before.
"""

from __future__ import annotations

import functools
import sqlite3

from django.db import connection
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


def sqlite_narrowed(table: str, text: str) -> Q:
    """On SQLite, "the row is among those `table`'s trigram index finds for `text`": an extra
    filter, for a query that also filters with `icontains`, that lets SQLite read only those
    rows. For texts the index cannot serve, no filter at all (`Q()`). Which database uses it
    is registry/database.py's choice (`search_narrowed`)."""
    if len(text) < 3 or "\x00" in text:
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
