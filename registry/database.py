"""What differs between the databases the registry runs on (SQLite, PostgreSQL), in one place.

The rest of the code asks for the effect ("insert these rows", "lock tree writes") and never
checks `connection.vendor` itself.
"""

from __future__ import annotations

from django.db import connection, models


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
