"""The registry's migrations, run the way a person runs them: `manage.py` commands.

- After all migrations every registry table has its change-stamp triggers and every searched
  table its search index (registry/triggers.py).
- A field added to organizations the ordinary way (`makemigrations`, `migrate`), which makes
  SQLite remake the table and so drop its triggers, leaves every trigger in place: the stamp
  still moves on a write and search finds a renamed organization, even one renamed by a data
  migration while the triggers were gone. A new registry table gets its stamp triggers.
- A new database migrates one registry migration at a time, each step a command, then the rest.

Each runs against a database of its own: a SQLite file always, and a new PostgreSQL database
when the suite runs on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from registry import search
from registry.models import ChangeStamp
from registry.roles import EDITORS, VIEWERS

REPO = Path(settings.BASE_DIR)
OPERATIONS = ("INSERT", "UPDATE", "DELETE")


# --- What every migrated database must have ------------------------------------------------


def _registry_tables() -> set[str]:
    return {
        model._meta.db_table
        for model in apps.get_app_config("registry").get_models(include_auto_created=True)
        if model is not ChangeStamp
    }


def _expected_triggers(vendor: str) -> set[tuple[str, str, str]]:
    """(table, purpose, operation) of every trigger a migrated database needs."""
    expected = {(table, "stamp", op) for table in _registry_tables() for op in OPERATIONS}
    if vendor == "sqlite" and search.sqlite_has_trigram():
        expected |= {(table, "search", op) for table in search.SQLITE_INDEXED for op in OPERATIONS}
    return expected


def _trigger_sql(vendor: str) -> str:
    """(table, definition) of every trigger of the database."""
    if vendor == "sqlite":
        return "SELECT tbl_name, sql FROM sqlite_master WHERE type = 'trigger'"
    return (
        "SELECT c.relname, pg_get_triggerdef(t.oid) FROM pg_trigger t "
        "JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal"
    )


def _triggers_found(rows: list[tuple[str, str]]) -> set[tuple[str, str, str]]:
    """What each trigger does, read from its definition: on which table, on which operations,
    bumping the stamp or keeping a search index."""
    found = set()
    for table, sql in rows:
        events = re.search(r"\bAFTER\s+(.+?)\s+ON\s", sql, re.DOTALL | re.IGNORECASE)
        if "registry_change_stamp" in sql:
            purpose = "stamp"
        elif "_trigram" in sql:
            purpose = "search"
        else:
            continue
        for event in events.group(1).split(" OR "):
            found.add((table, purpose, event.split()[0].upper()))
    return {found_one for found_one in found if found_one[2] in OPERATIONS}


@dataclass
class Database:
    vendor: str
    url: str  # for DATABASE_URL
    query: Callable[[str], list[tuple]]


def _assert_migrated(database: Database) -> None:
    """Every trigger and search index the migrations promise is there."""
    found = _triggers_found(database.query(_trigger_sql(database.vendor)))
    assert _expected_triggers(database.vendor) - found == set()
    if database.vendor == "postgresql":
        indexes = {name for (name,) in database.query("SELECT indexname FROM pg_indexes")}
        assert set(search.POSTGRESQL_INDEXES) - indexes == set()


def test_every_registry_table_has_its_triggers_after_all_migrations(db):
    def query(sql: str) -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()

    _assert_migrated(Database(connection.vendor, "the test database", query))


# --- Databases of their own ------------------------------------------------------------------


def _sqlite_database(path: Path) -> Database:
    def query(sql: str) -> list[tuple]:
        with closing(sqlite3.connect(path)) as db:
            return db.execute(sql).fetchall()

    return Database("sqlite", f"sqlite:///{path}", query)


@pytest.fixture(params=["sqlite", "postgresql"])
def new_database(request, tmp_path) -> Iterator[Database]:
    """An empty database: a SQLite file, or a new PostgreSQL database on the suite's server
    (only when the suite runs on PostgreSQL: the server is the one DATABASE_URL names)."""
    if request.param == "sqlite":
        yield _sqlite_database(tmp_path / "new.sqlite3")
        return
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run the suite with DATABASE_URL=postgres://...")
    import psycopg

    params = connection.settings_dict
    server = {
        "host": params["HOST"] or None,
        "port": params["PORT"] or None,
        "user": params["USER"] or None,
        "password": params["PASSWORD"] or None,
    }
    name = f"{params['NAME']}_migrations"

    def admin(sql: str) -> None:
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as db:
            db.execute(sql)

    def query(sql: str) -> list[tuple]:
        with psycopg.connect(dbname=name, **server) as db:
            return db.execute(sql).fetchall()

    admin(f'DROP DATABASE IF EXISTS "{name}"')
    admin(f'CREATE DATABASE "{name}"')
    password = f":{quote(server['password'], safe='')}" if server["password"] else ""
    url = (
        f"postgres://{quote(server['user'] or '', safe='')}{password}@{server['host'] or ''}"
        f":{server['port'] or 5432}/{name}"
    )
    try:
        yield Database("postgresql", url, query)
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run(
    database: Database, *argv: str, settings_module: str = "config.settings.test", path=None
) -> str:
    """Run `python argv` on `database` in a process of its own, as a person would; fail with
    what it printed unless it succeeds. `path`: a folder to import from besides the project."""
    env = {
        **os.environ,
        "DATABASE_URL": database.url,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "PYTHONPATH": os.pathsep.join(str(folder) for folder in (path, REPO) if folder),
    }
    done = subprocess.run(
        [sys.executable, *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _manage(database: Database, *args: str) -> str:
    return _run(database, "manage.py", *args)


# --- A new database, one migration at a time -----------------------------------------------


def _registry_migrations() -> list[str]:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    (leaf,) = loader.graph.leaf_nodes("registry")
    return [name for app, name in loader.graph.forwards_plan(leaf) if app == "registry"]


def test_a_new_database_migrates_one_registry_migration_at_a_time(new_database):
    for name in _registry_migrations():
        output = _manage(new_database, "migrate", "registry", name.split("_")[0], "--no-input")
        assert f"Applying registry.{name}... OK" in output
    _manage(new_database, "migrate", "--no-input")
    _assert_migrated(new_database)
    # The staff roles come with the permissions, once auth is migrated.
    groups = dict(
        new_database.query(
            "SELECT g.name, count(p.id) FROM auth_group g "
            "JOIN auth_group_permissions p ON p.group_id = g.id GROUP BY g.name"
        )
    )
    assert groups[EDITORS] > groups[VIEWERS] > 0


# --- A field added the ordinary way --------------------------------------------------------

# A registry app whose Organization has one more field, as a developer would add it to
# models.py, with the registry's migrations copied so that `makemigrations` can write there.
SCRATCH_APP = """
from django.db import models

from registry.apps import RegistryConfig


class RegistryWithOneMoreField(RegistryConfig):
    def ready(self):
        super().ready()
        from registry.models import Organization

        Organization.add_to_class(
            "scratch_note", models.CharField(max_length=50, blank=True, default="")
        )
"""
SCRATCH_SETTINGS = """
from config.settings.test import *  # noqa: F403

INSTALLED_APPS = [
    "scratch_app.RegistryWithOneMoreField" if app == "registry" else app
    for app in INSTALLED_APPS  # noqa: F405
]
MIGRATION_MODULES = {"registry": "scratch_migrations"}
"""
# A data migration after it, as a developer may write one: it runs after SQLite remade the
# table, before `migrate` ends, so while the table has no triggers.
SCRATCH_DATA_MIGRATION = """
from django.db import migrations


def rename(apps, schema_editor):
    Organization = apps.get_model("registry", "Organization")
    Organization.objects.filter(pk="{pk}").update(name="{name}")


class Migration(migrations.Migration):
    dependencies = [("registry", "{after}")]
    operations = [migrations.RunPython(rename, migrations.RunPython.noop)]
"""
# A new registry table, as a later migration may add one.
SCRATCH_TABLE_MIGRATION = """
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("registry", "{after}")]
    operations = [
        migrations.CreateModel(
            name="ScratchTable",
            fields=[
                ("id", models.BigAutoField(primary_key=True)),
                ("label", models.CharField(max_length=20)),
            ],
        ),
    ]
"""
# What a reader sees: "etag" prints a page's ETag; "use" also renames an organization the way
# the admin saves one, and asks the search page for both new names.
SCRATCH_USE = """
import json
import sys

import django

django.setup()

from django.test import Client

from registry.models import Organization

reader = Client()


def page(pk):
    return f"/organizations/{pk}/"


def etag():
    return reader.get(page("cppcc-general-office"))["ETag"]


def found(text, pk):
    return page(pk) in reader.get("/search/", {"q": text}).content.decode()


if sys.argv[1] == "etag":
    print(json.dumps(etag()))
else:
    migrated, saved = sys.argv[2:]
    before = etag()
    organization = Organization.objects.get(pk=saved)
    organization.name = "Bureau of Zymurgical Records"
    organization.scratch_note = "the new field is used"
    organization.save()
    print(json.dumps({
        "before": before,
        "after": etag(),
        "migrated_found": found("quixotic", migrated),
        "saved_found": found("zymurgical", saved),
    }))
"""
MIGRATED = "cppcc-go-research-office"
SAVED = "cppcc-go-research-office-information-bureau"


def _sqlite_triggers(database: Database) -> list[tuple]:
    return sorted(
        database.query("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'")
    )


def test_after_a_field_added_the_ordinary_way_and_a_new_table_every_trigger_is_there(
    new_database, tmp_path
):
    migrations = tmp_path / "scratch_migrations"
    shutil.copytree(
        REPO / "registry" / "migrations", migrations, ignore=shutil.ignore_patterns("__pycache__")
    )
    for name, text in (
        ("scratch_app", SCRATCH_APP),
        ("scratch_settings", SCRATCH_SETTINGS),
        ("scratch_use", SCRATCH_USE),
    ):
        (tmp_path / f"{name}.py").write_text(text)
    use = str(tmp_path / "scratch_use.py")

    def run(*argv: str) -> str:
        return _run(new_database, *argv, settings_module="scratch_settings", path=tmp_path)

    # The registry as it is, with its data.
    _manage(new_database, "migrate", "--no-input")
    _manage(new_database, "load_seed")
    _assert_migrated(new_database)
    triggers = _sqlite_triggers(new_database) if new_database.vendor == "sqlite" else []
    etag_before = json.loads(_run(new_database, use, "etag", path=tmp_path))

    # One more field on Organization, and the two commands a developer runs; a data migration
    # after it writes while SQLite's remade table has no triggers.
    run("manage.py", "makemigrations", "registry", "--name", "organization_scratch_note")
    (added,) = migrations.glob("*_organization_scratch_note.py")
    assert "migrations.AddField(" in added.read_text()
    number = int(added.name.split("_")[0])
    renamed = f"{number + 1:04d}_scratch_rename"
    (migrations / f"{renamed}.py").write_text(
        SCRATCH_DATA_MIGRATION.format(
            pk=MIGRATED, name="Bureau of Quixotic Studies", after=added.stem
        )
    )
    # And a new table, which must bump the stamp like every other.
    (migrations / f"{number + 2:04d}_scratch_table.py").write_text(
        SCRATCH_TABLE_MIGRATION.format(after=renamed)
    )
    output = run("manage.py", "migrate", "--no-input")
    assert f"Applying registry.{added.stem}... OK" in output

    _assert_migrated(new_database)
    found = _triggers_found(new_database.query(_trigger_sql(new_database.vendor)))
    assert {("registry_scratchtable", "stamp", op) for op in OPERATIONS} <= found
    if new_database.vendor == "sqlite":
        # The very triggers of before, not only as many.
        new_table = [
            trigger
            for trigger in _sqlite_triggers(new_database)
            if trigger[1] == "registry_scratchtable"
        ]
        assert [t for t in _sqlite_triggers(new_database) if t not in new_table] == triggers
    used = json.loads(run(use, "use", MIGRATED, SAVED))
    # The data migration's write changed the pages: no cached copy may be confirmed.
    assert used["before"] != etag_before
    assert used["migrated_found"]
    # And what is written afterwards is seen, as before the field was added.
    assert used["after"] != used["before"]
    assert used["saved_found"]


# --- Migration 0009: a curator's Chinese translation becomes the Chinese name -----------------

BEFORE_CHINESE_NAMES = """
import django
django.setup()
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

apps = MigrationExecutor(connection).loader.project_state(("registry", "0008_valid_time")).apps
Organization = apps.get_model("registry", "Organization")
OtherName = apps.get_model("registry", "OtherName")
tree = dict(lft=1, rght=2, level=0, kind_id="internal-department")
office = Organization.objects.create(id="office", name="Office", tree_id=1, **tree)
dated = Organization.objects.create(id="dated", name="Dated", tree_id=2, **tree)
OtherName.objects.create(organization=office, name="English alias", name_type="abbreviation")
OtherName.objects.create(
    organization=office, name="办公厅", name_type="translation", language="zh-Hans", position=1
)
OtherName.objects.create(
    organization=office, name="辦公廳", name_type="translation", language="zh-Hant", position=2
)
OtherName.objects.create(
    organization=dated, name="旧名", name_type="translation", language="zh", start="1990"
)
"""


def test_the_chinese_names_migration_moves_an_undated_chinese_translation_and_back(new_database):
    _manage(new_database, "migrate", "registry", "0008", "--no-input")
    _run(new_database, "-c", BEFORE_CHINESE_NAMES)
    _manage(new_database, "migrate", "registry", "0009", "--no-input")

    def names() -> set[tuple]:
        return set(
            new_database.query(
                "SELECT organization_id, name, name_type, language FROM registry_othername"
            )
        )

    rows = dict(new_database.query("SELECT id, name_zh FROM registry_organization"))
    assert rows == {"office": "办公厅", "dated": ""}  # a dated name is not today's
    keys = dict(new_database.query("SELECT id, pinyin_key FROM registry_organization"))
    assert keys["office"] == "bangongting bgt"
    assert names() == {
        ("office", "English alias", "abbreviation", ""),
        ("office", "辦公廳", "translation", "zh-Hant"),  # traditional: not the simplified name
        ("dated", "旧名", "translation", "zh"),
    }
    _manage(new_database, "migrate", "registry", "0008", "--no-input")
    assert ("office", "办公厅", "translation", "zh-Hans") in names()
