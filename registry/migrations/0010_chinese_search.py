"""Search that suits Chinese: trigram indexes on the Chinese names, the Chinese short form and
the pinyin keys, and indexes of every 1- and 2-character piece of the names, so that a query of
one or two Chinese characters is answered from an index too. What they are and why:
registry/search.py; their SQL: registry/triggers.py (outside the model state, as migration 0005
explains). The indexes of migration 0005 are dropped and made again in their new form: on SQLite
the FTS5 tables gain columns and their triggers a second table to keep."""

from django.db import migrations

from registry import search, triggers


def create_indexes(apps, schema_editor):
    connection = schema_editor.connection
    triggers.search_indexes_drop(connection=connection, indexes=search.TRIGRAMS)
    triggers.search_indexes_create(connection=connection, indexes=search.CHINESE)


def drop_indexes(apps, schema_editor):
    connection = schema_editor.connection
    triggers.search_indexes_drop(connection=connection, indexes=search.CHINESE)
    triggers.search_indexes_create(connection=connection, indexes=search.TRIGRAMS)


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0009_chinese_names"),
    ]

    operations = [
        migrations.RunPython(create_indexes, drop_indexes),
    ]
