"""What differs between the databases the registry runs on (SQLite, PostgreSQL), in one place.

The rest of the code asks for the effect ("insert these rows", "lock tree writes", "a read-only
snapshot", "read the change stamp", "narrow this search") and never checks `connection.vendor`
itself. The schema objects that differ (the change stamp's triggers, the search indexes) are
the other half of this seam, in registry/triggers.py, where the migrations create them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from django.db import connection, models, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import Q

from . import search
from .triggers import STAMP, STAMPED_SETTING


def lock_table_writes(model: type[models.Model]) -> None:
    """Serialise writes to `model`'s table until the end of the current transaction, without
    blocking readers. On PostgreSQL a table lock that conflicts with other writers but never
    with readers; SQLite already allows one writer at a time."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {model._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")


@contextmanager
def read_only_snapshot() -> Iterator[None]:
    """One consistent, read-only view of the data for the statements inside. Inside the
    caller's transaction, that transaction decides what is seen."""
    if connection.in_atomic_block:
        yield
        return
    with _deferred_on_sqlite(), transaction.atomic():
        if connection.vendor == "postgresql":  # SQLite and MySQL already read one snapshot
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


@contextmanager
def _deferred_on_sqlite() -> Iterator[None]:
    """Begin the next transaction as a reader on SQLite. The settings begin every transaction
    IMMEDIATE (with the write lock, so that writers wait for each other rather than fail); a
    download that did so would wait for a long import, and fail after the busy timeout."""
    if connection.vendor != "sqlite":
        yield
        return
    connection.ensure_connection()  # connecting sets the mode from the settings
    mode = connection.transaction_mode
    connection.transaction_mode = "DEFERRED"
    try:
        yield
    finally:
        connection.transaction_mode = mode


# `{exists}` is the page's own record, when it has one: `, EXISTS (SELECT ...)`.
_READ_STAMP = f"SELECT version, changed{{exists}} FROM {STAMP} WHERE id = 1"
# The PostgreSQL trigger function (registry/triggers.py) bumps the stamp once per transaction
# and notes that it did in a transaction-local setting. Reading the stamp clears the note, so
# that a write later in the same transaction (tests run whole in one) is seen; the join makes
# PostgreSQL clear it even when the row is missing. SQLite's row triggers bump on every row.
_READ_STAMP_POSTGRESQL = (
    f"SELECT stamp.version, stamp.changed{{exists}}, "
    f"set_config('{STAMPED_SETTING}', '', true) "
    f"FROM (VALUES (1)) AS one (id) LEFT JOIN {STAMP} AS stamp ON stamp.id = one.id"
)


def change_stamp_read(*, exists: str = "", params: Sequence = ()) -> tuple:
    """The change stamp's (version, changed) in one single-row read, followed by the value of
    `exists` (an SQL fragment `, EXISTS (SELECT ...)` with its `params`) when given; (None,
    None) when the stamp row is missing."""
    postgresql = connection.vendor == "postgresql"
    template = _READ_STAMP_POSTGRESQL if postgresql else _READ_STAMP
    with connection.cursor() as cursor:
        cursor.execute(template.format(exists=exists), params)
        return cursor.fetchone() or (None, None)


def search_matching(table: str, columns: tuple[str, ...], text: str) -> Q:
    """A filter of `table`'s rows: any of `columns` contains `text`, ignoring case (`icontains`),
    in the form this database answers from its search indexes (registry/search.py): on SQLite
    with "and the row is among those the FTS5 index finds"; on PostgreSQL as it is, with "and
    the row's 1- and 2-character pieces hold it" for a text of one or two characters."""
    contains = Q()
    for column in columns:
        contains |= Q(**{f"{column}__icontains": text})
    if connection.vendor == "sqlite":
        return search.sqlite_narrowed(table, text, columns) & contains
    if all(search.grams_serve(table, column, text) for column in columns):
        # "(any column's grams hold it) and (any column contains it)" rather than the same
        # pairs column by column: the planner then reads the gram indexes (a BitmapOr) and
        # filters the rows with LIKE alone. Column by column it filtered with the whole
        # expression, computing each row's grams again (40 ms for 研究 at 100,000 rows).
        grams = Q()
        for column in columns:
            grams |= Q(search.GramsContain(column, text))
        return grams & contains
    return contains


_cursor_names = itertools.count(1)


@contextmanager
def unlogged_cursor(*, streaming: bool = False) -> Iterator[CursorWrapper]:
    """A cursor of the current connection and transaction, outside DEBUG's query log: logging
    a 2,000-row INSERT of JSON (SQLite quotes every parameter with a query of its own) costs
    more than running it, for rows that are bookkeeping. `streaming`: a server-side cursor
    where the database has them (PostgreSQL), for reading a whole table."""
    connection.ensure_connection()
    # Django's plain wrapper (parameter style, execute_wrappers), not DEBUG's logging one.
    name = f"registry_unlogged_{next(_cursor_names)}" if streaming else None
    if name and not connection.features.can_use_chunked_reads:
        name = None
    cursor = CursorWrapper(connection.create_cursor(name), connection)
    try:
        yield cursor
    finally:
        cursor.close()


def insert_untriggered_rows(
    model: type[models.Model], fields: tuple[str, ...], rows: list[tuple]
) -> None:
    """`insert_rows` for a table without triggers (history), outside DEBUG's query log."""
    if connection.vendor == "postgresql" or not rows:
        insert_rows(model, fields, rows)  # COPY
        return
    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in fields)
    markers = ", ".join(["%s"] * len(fields))
    with unlogged_cursor() as cursor:
        # No triggers: one prepared statement, many rows, is the fast way.
        cursor.executemany(
            f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({markers})", rows
        )


def reserve_ids(model: type[models.Model], count: int) -> Sequence[int]:
    """Reserve `count` primary keys of `model` (an auto-incremented `id`) for rows written
    without the ORM. Runs in the caller's transaction."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, count],
            )
            return [row[0] for row in cursor.fetchall()]
        if connection.vendor != "sqlite":
            raise NotImplementedError(f"No id reservation on {connection.vendor}.")
        quoted = connection.ops.quote_name(table)
        # A write statement takes SQLite's write lock until the transaction ends, so no other
        # connection can take these ids (this one matches no row).
        cursor.execute(f"UPDATE {quoted} SET id = id WHERE 0")
        cursor.execute(f"SELECT MAX(id) FROM {quoted}")
        highest = cursor.fetchone()[0] or 0
        # AUTOINCREMENT never hands out an id up to the table's sequence, even a deleted one.
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        sequence = cursor.fetchone()
        start = max(highest, sequence[0] if sequence else 0) + 1
        return range(start, start + count)


def insert_rows(model: type[models.Model], fields: tuple[str, ...], rows: list[tuple]) -> None:
    """Insert complete, checked rows (values in the order of `fields`, by name or attname).

    Straight to the driver: building model objects for `bulk_create` cost more than the
    database's own work. On PostgreSQL, COPY; elsewhere INSERTs of as many rows each as the
    database takes. Runs in the caller's transaction.
    """
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in fields)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # psycopg 3's cursor (Django's wrapper has no copy()); None is written as NULL.
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            # Many rows per statement, not one `executemany` row each: on SQLite every
            # statement that fires a trigger (the change stamp's, migration 0003) costs a
            # statement journal, and the search index's FTS5 tables (search.py) write out their
            # pending changes at the end of every statement. Row by row, that made an import of
            # 100,000 organizations two to three times slower.
            size = connection.ops.bulk_batch_size(fields, rows)
            row_markers = f"({', '.join(['%s'] * len(fields))})"
            for start in range(0, len(rows), size):
                batch = rows[start : start + size]
                cursor.execute(
                    f"INSERT INTO {table} ({columns}) VALUES "
                    + ", ".join([row_markers] * len(batch)),
                    [value for row in batch for value in row],
                )
