"""Trigram indexes for the public search: GIN indexes on PostgreSQL, FTS5 tables with triggers
on SQLite. What they are and why: registry/search.py; their SQL: registry/triggers.py.

Why not `Meta.indexes` with `GinIndex`: those are created on every database, and SQLite rejects
`USING gin` and operator classes; SQLite's FTS5 tables and triggers have no declarative form at
all. So the indexes live outside the model state, created here according to the database
(`makemigrations --check` stays clean). pg_trgm is a trusted extension (PostgreSQL 13+): the
database owner may create it without being a superuser.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

from registry import triggers


class PostgreSQLTrigramExtension(TrigramExtension):
    """Django's operation, which skips other databases when applied but not when unapplied
    (Django 5.2 runs its PostgreSQL query on SQLite then)."""

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


def create_indexes(apps, schema_editor):
    triggers.search_indexes_create(connection=schema_editor.connection)


def drop_indexes(apps, schema_editor):
    triggers.search_indexes_drop(connection=schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ("registry", "0004_organization_list_indexes"),
    ]

    operations = [
        PostgreSQLTrigramExtension(),
        migrations.RunPython(create_indexes, drop_indexes),
    ]
