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
from django.utils import timezone

from registry import triggers

# The triggers' SQL lives in registry/triggers.py, which also puts back any trigger a later
# migration drops (SQLite remakes tables) and gives a new registry table its own, after every
# `migrate`. The tables are those of this migration's state, every registry table but the
# stamp's own.


def create_stamp(apps, schema_editor):
    triggers.stamp_triggers_create(
        connection=schema_editor.connection, tables=triggers.registry_tables(apps)
    )
    ChangeStamp = apps.get_model("registry", "ChangeStamp")
    ChangeStamp.objects.using(schema_editor.connection.alias).get_or_create(
        pk=1, defaults={"version": 1, "changed": timezone.now()}
    )


def drop_stamp(apps, schema_editor):
    triggers.stamp_triggers_drop(connection=schema_editor.connection)


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
