"""The registry's change stamp: one row that database triggers bump on every write to registry
data, so that public pages can be revalidated with one read (registry/caching.py).

Triggers rather than signals or save(): many writes never pass through save() (drag and drop,
CSV import by COPY or executemany, loaddata, history restores, raw SQL, another process), and a
trigger runs inside the writing transaction, so readers see the new stamp exactly when they can
see the new data, and a rolled-back write leaves the stamp as it was.

A write that finds no row (a test flush deleted it) creates it again, with a new timestamp, so
a stamp that starts counting again from 1 is still unlike any earlier one.
"""

from django.db import migrations, models
from django.db.utils import NotSupportedError
from django.utils import timezone

# Every table of registry data, frozen as of this migration: a new registry table needs its own
# migration adding the trigger (tests/test_http_caching.py checks that none is missing).
TABLES = (
    "registry_kind",
    "registry_rank",
    "registry_source",
    "registry_organization",
    "registry_othername",
    "registry_citation",
    "registry_succession",
    "registry_person",
    "registry_person_sources",
    "registry_post",
    "registry_holding",
)
STAMP = "registry_change_stamp"
FUNCTION = "registry_change_stamp_bump"

# PostgreSQL: one statement-level trigger per table (TRUNCATE too, for a flush), so a COPY or a
# multi-row UPDATE bumps once.
# Within one transaction the stamp is bumped once: a transaction-local setting remembers that it
# was done (and, like the row, is undone with a rolled-back savepoint); reading the stamp
# (registry/caching.py) clears it, so a write after a read in the same transaction bumps again.
# Without it an import's thousands of single-row UPDATEs would each write a new version of the
# same row inside one transaction, a chain PostgreSQL cannot prune until the transaction ends:
# measured, 20,000 UPDATEs took 3.4 s instead of 0.35 s, and it grows with the square.
POSTGRESQL_FUNCTION = f"""
CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('registry.change_stamped', true), '') <> 'yes' THEN
        INSERT INTO {STAMP} (id, version, changed) VALUES (1, 1, now())
        ON CONFLICT (id) DO UPDATE
        SET version = {STAMP}.version + 1, changed = excluded.changed;
        PERFORM set_config('registry.change_stamped', 'yes', true);
    END IF;
    RETURN NULL;
END
$$
"""
POSTGRESQL_TRIGGER = (
    "CREATE TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
    "FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
)

# SQLite has no statement-level triggers: one per row and operation. Any statement that fires
# a trigger costs SQLite a statement journal, so bulk writes send many rows per statement
# (registry/imports.py). Its 'now' has millisecond resolution and is fixed within a statement;
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


def _sqlite_name(table: str, operation: str) -> str:
    return f"{FUNCTION}_{table}_{operation.lower()}"


def _unsupported(vendor: str) -> NotSupportedError:
    return NotSupportedError(
        f"The registry's change-stamp triggers exist for PostgreSQL and SQLite, not {vendor}: "
        "without them public pages would be revalidated against stale data."
    )


def create_stamp(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_FUNCTION, None)
        for table in TABLES:
            schema_editor.execute(
                POSTGRESQL_TRIGGER.format(name=FUNCTION, table=table, function=FUNCTION), None
            )
    elif vendor == "sqlite":
        for table in TABLES:
            for operation in SQLITE_OPERATIONS:
                schema_editor.execute(
                    SQLITE_TRIGGER.format(
                        name=_sqlite_name(table, operation), operation=operation, table=table
                    ),
                    None,
                )
    else:
        raise _unsupported(vendor)
    ChangeStamp = apps.get_model("registry", "ChangeStamp")
    ChangeStamp.objects.using(schema_editor.connection.alias).get_or_create(
        pk=1, defaults={"version": 1, "changed": timezone.now()}
    )


def drop_stamp(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for table in TABLES:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {FUNCTION} ON {table}")
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")
    elif vendor == "sqlite":
        for table in TABLES:
            for operation in SQLITE_OPERATIONS:
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {_sqlite_name(table, operation)}")
    else:
        raise _unsupported(vendor)


class Migration(migrations.Migration):

    dependencies = [
        ('registry', '0002_vocabularies'),
    ]

    operations = [
        migrations.CreateModel(
            name='ChangeStamp',
            fields=[
                ('id', models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ('version', models.BigIntegerField(default=0, help_text='Bumped by every registry write.')),
                ('changed', models.DateTimeField(help_text="When the last registry write's transaction ran.")),
            ],
            options={
                'db_table': 'registry_change_stamp',
                'default_permissions': (),
                'constraints': [models.CheckConstraint(condition=models.Q(('id', 1)), name='change_stamp_single_row')],
            },
        ),
        # The row is seeded after the triggers exist, so no write can fall between the two.
        migrations.RunPython(create_stamp, drop_stamp),
    ]
