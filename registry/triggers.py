"""Database objects that Django's model state does not describe, defined once per database:

- the change-stamp triggers: every write to a registry table bumps the one row of
  `registry_change_stamp`, which registry/caching.py reads for the public pages' ETags
  (why triggers: migration 0003);
- the search indexes (registry/search.py): GIN trigram and gram indexes on PostgreSQL; on SQLite
  FTS5 tables per searched table (trigrams, and bigrams of the names), kept in step by triggers.

Migrations 0003, 0005 and 0010 create them with the functions below, and `triggers_reinstall` (run
after every `migrate`, registry/apps.py) puts back whatever is missing. It has to: SQLite remakes
a table (copy, drop, rename) for most AddField and AlterField migrations, and dropping a table
silently drops its triggers; adding one field to organizations the ordinary way lost 6 of the
42 triggers, and with them the ETags' and search's correctness. A new registry model gets its
stamp triggers the same way. So adding a field or a model needs nothing beyond `makemigrations`
and `migrate`; tests/test_migrations.py proves it.

One exception: SQLite refuses to remake the stamp's own table while triggers on other tables
write to it ("error in trigger ...: no such table"). A migration that alters `ChangeStamp` runs
`stamp_triggers_drop` first (a RunPython before its operations); `migrate` puts them back.
"""

from __future__ import annotations

from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.db import DEFAULT_DB_ALIAS, connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import F
from django.db.utils import NotSupportedError
from django.utils import timezone

from .search import CHINESE, GRAMS_FUNCTION, TRIGRAMS, SearchIndexes, sqlite_has_trigram

APP = "registry"
# The migrations that first create each kind of object: nothing is reinstalled on a database
# migrated to an earlier point (`migrate registry 0002`, or back from a later one).
STAMP_MIGRATION = (APP, "0003_change_stamp")
SEARCH_MIGRATION = (APP, "0005_search_indexes")
CHINESE_SEARCH_MIGRATION = (APP, "0010_chinese_search")

STAMP = "registry_change_stamp"
FUNCTION = "registry_change_stamp_bump"
# The PostgreSQL trigger function notes in this transaction-local setting that it bumped the
# stamp; registry/caching.py clears it when it reads the stamp.
STAMPED_SETTING = "registry.change_stamped"

# PostgreSQL: one statement-level trigger per table (TRUNCATE too, for a flush), so a COPY or a
# multi-row UPDATE bumps once.
# Within one transaction the stamp is bumped once: a transaction-local setting remembers that it
# was done (and, like the row, is undone with a rolled-back savepoint); reading the stamp
# (registry/caching.py) clears it, so a write after a read in the same transaction bumps again.
# Without it an import's thousands of single-row UPDATEs would each write a new version of the
# same row inside one transaction, a chain PostgreSQL cannot prune until the transaction ends:
# measured, 20,000 UPDATEs took 3.4 s instead of 0.35 s, and it grows with the square.
POSTGRESQL_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('{STAMPED_SETTING}', true), '') <> 'yes' THEN
        INSERT INTO {STAMP} (id, version, changed) VALUES (1, 1, now())
        ON CONFLICT (id) DO UPDATE
        SET version = {STAMP}.version + 1, changed = excluded.changed;
        PERFORM set_config('{STAMPED_SETTING}', 'yes', true);
    END IF;
    RETURN NULL;
END
$$
"""
# OR REPLACE, and IF NOT EXISTS for the indexes below: two `migrate` runs at once may both find
# one missing.
POSTGRESQL_TRIGGER = (
    "CREATE OR REPLACE TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
    "FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
)

# SQLite has no statement-level triggers: one per row and operation. Any statement that fires
# a trigger costs SQLite a statement journal, so bulk writes send many rows per statement
# (registry/database.py). Its 'now' has millisecond resolution and is fixed within a statement;
# the version alone tells writes apart.
SQLITE_TRIGGER = f"""
CREATE TRIGGER {{name}} AFTER {{operation}} ON {{table}}
BEGIN
    INSERT INTO {STAMP} (id, version, changed)
    VALUES (1, 1, strftime('%Y-%m-%d %H:%M:%f', 'now'))
    ON CONFLICT (id) DO UPDATE SET version = version + 1, changed = excluded.changed;
END
"""
SQLITE_OPERATIONS = ("INSERT", "UPDATE", "DELETE")


def registry_tables(apps: Apps) -> list[str]:
    """Every table of registry data in `apps` (a migration's state, or the models): each one
    bumps the stamp. Many-to-many tables too; the stamp's own table not."""
    return sorted(
        {
            model._meta.db_table
            for model in apps.get_app_config(APP).get_models(include_auto_created=True)
            if model._meta.managed and not model._meta.proxy and model._meta.db_table != STAMP
        }
    )


def _unsupported(vendor: str) -> NotSupportedError:
    return NotSupportedError(
        f"The registry's change-stamp triggers exist for PostgreSQL and SQLite, not {vendor}: "
        "without them public pages would be revalidated against stale data."
    )


def _execute(connection: BaseDatabaseWrapper, statements: list[str]) -> None:
    # No parameters: the statements hold `%` (strftime) that must reach the database as is.
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def _fetch(connection: BaseDatabaseWrapper, sql: str, params: list) -> set:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {value for (value,) in cursor.fetchall()}


def _fetch_rows(connection: BaseDatabaseWrapper, sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _sqlite_names(connection: BaseDatabaseWrapper, kind: str) -> set[str]:
    return _fetch(connection, "SELECT name FROM sqlite_master WHERE type = %s", [kind])


# --- The change stamp ----------------------------------------------------------------------


def _sqlite_stamp_triggers(tables: list[str]) -> dict[str, str]:
    """Each SQLite stamp trigger of `tables`: its name and the statement that creates it."""
    return {
        (name := f"{FUNCTION}_{table}_{operation.lower()}"): SQLITE_TRIGGER.format(
            name=name, operation=operation, table=table
        )
        for table in tables
        for operation in SQLITE_OPERATIONS
    }


def stamp_triggers_create(*, connection: BaseDatabaseWrapper, tables: list[str]) -> None:
    """Make every write to `tables` bump the change stamp (migration 0003)."""
    vendor = connection.vendor
    if vendor == "postgresql":
        triggers = [
            POSTGRESQL_TRIGGER.format(name=FUNCTION, table=table, function=FUNCTION)
            for table in tables
        ]
        _execute(connection, [POSTGRESQL_FUNCTION, *triggers])
    elif vendor == "sqlite":
        _execute(connection, list(_sqlite_stamp_triggers(tables).values()))
    else:
        raise _unsupported(vendor)


def stamp_triggers_drop(*, connection: BaseDatabaseWrapper) -> None:
    """Drop every change-stamp trigger, whichever tables they are on."""
    vendor = connection.vendor
    if vendor == "postgresql":
        _execute(connection, [f"DROP FUNCTION IF EXISTS {FUNCTION}() CASCADE"])
    elif vendor == "sqlite":
        names = sorted(
            name for name in _sqlite_names(connection, "trigger") if name.startswith(FUNCTION)
        )
        _execute(connection, [f'DROP TRIGGER IF EXISTS "{name}"' for name in names])
    else:
        raise _unsupported(vendor)


def _stamp_reinstall(connection: BaseDatabaseWrapper, tables: list[str]) -> list[str]:
    if connection.vendor == "postgresql":
        present = _fetch(
            connection,
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = %s AND pg_table_is_visible(c.oid)",
            [FUNCTION],
        )
        missing = [table for table in tables if table not in present]
        if missing:
            stamp_triggers_create(connection=connection, tables=missing)
        return [f"{FUNCTION} on {table}" for table in missing]
    if connection.vendor != "sqlite":
        raise _unsupported(connection.vendor)
    present = _sqlite_names(connection, "trigger")
    missing = {
        name: sql for name, sql in _sqlite_stamp_triggers(tables).items() if name not in present
    }
    _execute(connection, list(missing.values()))
    return list(missing)


# --- The search indexes (registry/search.py) ---------------------------------------------


def sqlite_search_triggers(table: str) -> list[str]:
    """The names of the triggers that keep `table`'s FTS5 indexes in step on SQLite."""
    return [f"{table}_trigram_{event}" for event in ("insert", "update", "delete")]


def _sqlite_search_tables(table: str, indexes: SearchIndexes) -> list[str]:
    """`table`'s FTS5 indexes, and the map from their rowids to `table`'s primary keys."""
    bigram = [f"{table}_bigram"] if table in indexes.sqlite_bigram else []
    return [f"{table}_trigram", *bigram, f"{table}_trigram_key"]


# The SQLite bigram expression writes a name's pieces in groups of BIGRAM_GROUP, each behind a
# CASE on the name's length (SQLite evaluates a CASE lazily), and the groups in blocks of
# BIGRAM_BLOCK groups, each behind a CASE too: a name costs about the pieces of its own length
# and a few length checks, not its column's max_length (building the organizations' index at
# 100,000 rows: 16.5 s with one unguarded group of 16 pieces, then groups of 16; 2 levels of
# 4 and 32: measured in docs/performance.md). The CASEs follow each other rather than nest:
# SQLite's parser has a small stack.
BIGRAM_GROUP = 4
BIGRAM_BLOCK = 32


def _sqlite_bigrams(row: str, column: str, length: int) -> str:
    """SQL for the text "<table>_bigram" holds for `row`'s `column`: the hex code of each of its
    2-character pieces, lower-cased as SQLite's LIKE folds case, then of its last character,
    space-separated (registry/search.py). `length`: the column's max_length."""
    value = f'{row}."{column}"'

    def guarded(first: int, sql: str) -> str:
        return f"(CASE WHEN length({value}) >= {first} THEN {sql} ELSE '' END)"

    blocks = []
    for block in range(1, length + 1, BIGRAM_BLOCK):
        groups = []
        for first in range(block, min(block + BIGRAM_BLOCK, length + 1), BIGRAM_GROUP):
            last = min(first + BIGRAM_GROUP, length + 1)
            pieces = " || ".join(
                f"' ' || hex(lower(substr({value}, {i}, 2)))" for i in range(first, last)
            )
            groups.append(guarded(first, pieces))
        blocks.append(guarded(block, " || ".join(groups)))
    return f"({' || '.join(blocks)})"


def _postgresql_index(index: str, table: str, column: str, kind: str) -> str:
    # The expression is the one `icontains` compiles to (search.py), or the gram function of it.
    expression = f'UPPER("{column}"::text)'
    method = f"({expression} gin_trgm_ops)"
    if kind == "grams":
        method = f"({GRAMS_FUNCTION}({expression}))"
    return f'CREATE INDEX IF NOT EXISTS "{index}" ON "{table}" USING gin {method}'


# The 1- and 2-character pieces of a text, each once (registry/search.py). IMMUTABLE, so that
# an index may use it; PARALLEL SAFE and STRICT as what it is built of.
POSTGRESQL_GRAMS_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {GRAMS_FUNCTION}(text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT ARRAY(
        SELECT DISTINCT substr($1, position, size)
        FROM generate_series(1, length($1)) AS position, (VALUES (1), (2)) AS sizes (size)
    )
$$
"""


def _sqlite_search_index(
    connection: BaseDatabaseWrapper, table: str, indexes: SearchIndexes
) -> list[str]:
    """The statements that create `table`'s FTS5 indexes, fill them and keep them in step."""
    columns = indexes.sqlite_trigram[table]
    bigram_columns = indexes.sqlite_bigram.get(table, ())
    (key_type,) = _fetch(
        connection, "SELECT type FROM pragma_table_info(%s) WHERE pk = 1", [table]
    )
    lengths = dict(
        _fetch_rows(
            connection,
            "SELECT name, CAST(substr(type, instr(type, '(') + 1) AS INTEGER) "
            "FROM pragma_table_info(%s)",
            [table],
        )
    )
    source = f'"{table}"'
    index, key = f'"{table}_trigram"', f'"{table}_trigram_key"'
    bigram = f'"{table}_bigram"'
    insert, update, delete = (f'"{trigger}"' for trigger in sqlite_search_triggers(table))
    names = ", ".join(f'"{column}"' for column in columns)

    def values(row: str) -> str:
        return ", ".join(f'{row}."{column}"' for column in columns)

    def pieces(row: str) -> str:
        return " || ' ' || ".join(
            _sqlite_bigrams(row, column, lengths[column]) for column in bigram_columns
        )

    def number(row: str) -> str:
        return f"(SELECT id FROM {key} WHERE row_id = {row}.id)"

    changed = " OR ".join(f'old."{column}" IS NOT new."{column}"' for column in ("id", *columns))
    if bigram_columns:
        create_bigram = [
            # ascii: hex codes are ASCII words; what is not a letter or digit separates them.
            f"CREATE VIRTUAL TABLE {bigram} USING fts5("
            "pieces, tokenize='ascii', detail='none', columnsize=0)",
            f"INSERT INTO {bigram} (rowid, pieces) SELECT {key}.id, {pieces(source)} "
            f"FROM {source} JOIN {key} ON {key}.row_id = {source}.id",
        ]
        on_insert = (
            f"INSERT INTO {bigram} (rowid, pieces) VALUES ({number('new')}, {pieces('new')}); "
        )
        on_update = f"UPDATE {bigram} SET pieces = {pieces('new')} WHERE rowid = {number('new')}; "
        on_delete = f"DELETE FROM {bigram} WHERE rowid = {number('old')}; "
    else:
        create_bigram, on_insert, on_update, on_delete = [], "", "", ""
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
        *create_bigram,
        f"CREATE TRIGGER {insert} AFTER INSERT ON {source} BEGIN "
        f"INSERT INTO {key} (row_id) VALUES (new.id); "
        f"INSERT INTO {index} (rowid, {names}) VALUES ({number('new')}, {values('new')}); "
        f"{on_insert}"
        "END",
        # Only when a searched column or the key changes: saving an unchanged name, or moving a
        # node in the tree, costs nothing here.
        f"CREATE TRIGGER {update} AFTER UPDATE OF id, {names} ON {source} WHEN {changed} BEGIN "
        f"UPDATE {key} SET row_id = new.id WHERE row_id = old.id; "
        f"UPDATE {index} SET ({names}) = ({values('new')}) WHERE rowid = {number('new')}; "
        f"{on_update}"
        "END",
        f"CREATE TRIGGER {delete} AFTER DELETE ON {source} BEGIN "
        f"DELETE FROM {index} WHERE rowid = {number('old')}; "
        f"{on_delete}"
        f"DELETE FROM {key} WHERE row_id = old.id; "
        "END",
    ]


def _sqlite_search_drop(table: str) -> list[str]:
    return [
        *(f'DROP TRIGGER IF EXISTS "{trigger}"' for trigger in sqlite_search_triggers(table)),
        *(
            f'DROP TABLE IF EXISTS "{name}"'
            for name in (f"{table}_trigram", f"{table}_bigram", f"{table}_trigram_key")
        ),
    ]


def search_indexes_create(
    *, connection: BaseDatabaseWrapper, indexes: SearchIndexes = TRIGRAMS
) -> None:
    """Create and fill the search indexes `indexes` describes: by default those of migration
    0005, which calls this; migration 0010 asks for `search.CHINESE`. None on a SQLite library
    without the trigram tokenizer: search then reads every name."""
    vendor = connection.vendor
    if vendor == "postgresql":
        functions = [POSTGRESQL_GRAMS_FUNCTION] if _needs_grams(indexes) else []
        _execute(
            connection,
            [
                *functions,
                *(
                    _postgresql_index(index, *definition)
                    for index, definition in indexes.postgresql.items()
                ),
            ],
        )
    elif vendor == "sqlite" and sqlite_has_trigram():
        for table in indexes.sqlite_trigram:
            _execute(connection, _sqlite_search_index(connection, table, indexes))


def search_indexes_drop(
    *, connection: BaseDatabaseWrapper, indexes: SearchIndexes = TRIGRAMS
) -> None:
    vendor = connection.vendor
    if vendor == "postgresql":
        _execute(connection, [f'DROP INDEX IF EXISTS "{index}"' for index in indexes.postgresql])
        if _needs_grams(indexes):
            _execute(connection, [f"DROP FUNCTION IF EXISTS {GRAMS_FUNCTION}(text)"])
    elif vendor == "sqlite":
        for table in indexes.sqlite_trigram:
            _execute(connection, _sqlite_search_drop(table))


def _needs_grams(indexes: SearchIndexes) -> bool:
    return any(kind == "grams" for _, _, kind in indexes.postgresql.values())


def _search_reinstall(connection: BaseDatabaseWrapper, indexes: SearchIndexes) -> list[str]:
    if connection.vendor == "postgresql":
        present = _fetch(
            connection,
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()",
            [],
        )
        missing = {
            index: _postgresql_index(index, *definition)
            for index, definition in indexes.postgresql.items()
            if index not in present
        }
        if missing and _needs_grams(indexes):
            _execute(connection, [POSTGRESQL_GRAMS_FUNCTION])
        _execute(connection, list(missing.values()))
        return list(missing)
    if not sqlite_has_trigram():
        return []
    present = _sqlite_names(connection, "trigger") | _sqlite_names(connection, "table")
    restored = []
    for table in indexes.sqlite_trigram:
        wanted = [*_sqlite_search_tables(table, indexes), *sqlite_search_triggers(table)]
        missing = [name for name in wanted if name not in present]
        if missing:
            # Writes made while a trigger was missing (a data migration after the one that
            # remade the table) never reached the index: build it again from the table.
            _execute(connection, _sqlite_search_drop(table))
            _execute(connection, _sqlite_search_index(connection, table, indexes))
            restored += missing
    return restored


# --- After every migrate -------------------------------------------------------------------


def triggers_reinstall(*, connection: BaseDatabaseWrapper, apps: Apps) -> list[str]:
    """Create every stamp trigger and search index that the applied migrations call for and
    the database lacks (`apps`: the registry's models as those migrations leave them). Returns
    the names of what was missing; an empty list when nothing was."""
    applied = MigrationRecorder(connection).applied_migrations()
    restored: list[str] = []
    with transaction.atomic(using=connection.alias):
        if STAMP_MIGRATION in applied:
            restored += _stamp_reinstall(connection, registry_tables(apps))
        if CHINESE_SEARCH_MIGRATION in applied:
            restored += _search_reinstall(connection, CHINESE)
        elif SEARCH_MIGRATION in applied:
            restored += _search_reinstall(connection, TRIGRAMS)
        if restored and STAMP_MIGRATION in applied:
            # Writes made while a trigger was missing did not bump the stamp: a page cached
            # before them must not be confirmed as current (no row: the next write makes one).
            apps.get_model(APP, "ChangeStamp").objects.using(connection.alias).filter(pk=1).update(
                version=F("version") + 1, changed=timezone.now()
            )
    return restored


def triggers_after_migrate(
    sender,
    *,
    using: str = DEFAULT_DB_ALIAS,
    apps: Apps = global_apps,
    verbosity: int = 1,
    stdout=None,
    **kwargs,
) -> None:
    """post_migrate: put back what the migrations just run dropped, on the database migrated,
    as the models stand after them (the `apps` given: the global models may be ahead)."""
    if not router.allow_migrate(using, APP):
        return
    restored = triggers_reinstall(connection=connections[using], apps=apps)
    if restored and verbosity and stdout is not None:
        stdout.write(
            f"  Put back {len(restored)} database objects a migration had dropped: "
            + ", ".join(restored)
        )
