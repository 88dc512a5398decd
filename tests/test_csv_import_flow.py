"""The import's one flow (`registry.imports.run_import`): datasets are dispatched by name and an
unknown name is refused loudly; a dry run rolls every write back, the change stamp included;
each row's outcome names its organization (and a posts row's person) by id."""

from __future__ import annotations

import hashlib

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from reversion.models import Revision, Version

from registry.imports import run_import
from registry.models import ChangeStamp, Organization, Person

from .csvtools import export_text, parse, write

PAGE = "/organizations/npcsc-general-office/"


def _edited_organizations() -> bytes:
    """The seed's organizations with one renamed, one moved and one new (with lists)."""
    rows = parse(export_text())
    for row in rows:
        if row["id"] == "npcsc-go-secretariat":
            row["name"] = "Secretariat Bureau"
        if row["id"] == "npcsc-go-trade-union":
            row["parent"], row["order"] = "npcsc-go-personnel-bureau", "1"
    new = dict.fromkeys(rows[0], "") | {
        "id": "npcsc-go-new-office",
        "parent": "npcsc-general-office",
        "name": "New Office",
        "kind": "internal-department",
        "other_names": '[{"type": "abbreviation", "name": "NO"}]',
        "sources": '[{"title": "A new gazette", "url": "https://example.org/g"}]',
        "predecessors": '[{"id": "npcsc-go-secretariat"}]',
    }
    return write([*rows, new])


def _edited_posts() -> bytes:
    """The seed's posts with a new person holding the first post."""
    rows = parse(export_text("posts"))
    new = rows[0] | {
        "person": "a-new-deputy",
        "person_name": "A New Deputy",
        "person_name_zh": "",
        "holder_order": "",
        "start": "2025-03",
        "end": "",
    }
    return write([*rows, new])


def _database() -> dict[str, object]:
    """Every registry and history table's row count, the change stamp, and a checksum of the
    organizations table (every column, tree fields included)."""
    state: dict[str, object] = {
        model._meta.db_table: model.objects.count()
        for model in [*apps.get_app_config("registry").get_models(), Revision, Version]
    }
    state["stamp"] = tuple(ChangeStamp.objects.values_list("version", "changed").get(pk=1))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {Organization._meta.db_table} ORDER BY id")
        state["organizations"] = hashlib.sha256(repr(cursor.fetchall()).encode()).hexdigest()
    return state


def test_an_unknown_dataset_is_refused_by_the_command_naming_the_datasets(seeded, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(export_text())
    before = _database()
    with pytest.raises(CommandError, match=r"^Unknown dataset “nope”; the datasets are "):
        call_command("import_registry", "nope", str(path))
    with pytest.raises(
        CommandError, match=r"the datasets are organizations, posts, placements, events\.$"
    ):
        call_command("import_registry", "people", str(path))
    assert _database() == before


def test_run_import_refuses_an_unknown_dataset_naming_the_datasets(seeded):
    with pytest.raises(
        ValueError, match=r"“Posts”; the datasets are organizations, posts, placements, events\.$"
    ):
        run_import("Posts", export_text("posts"))


@pytest.mark.parametrize(
    ("dataset", "edited"), [("organizations", _edited_organizations), ("posts", _edited_posts)]
)
def test_a_dry_run_leaves_the_database_and_the_change_stamp_as_they_were(
    seeded, tmp_path, capsys, dataset, edited
):
    path = tmp_path / f"{dataset}.csv"
    path.write_bytes(edited())
    reader = Client()
    etag = reader.get(PAGE)["ETag"]  # reading the stamp, as every public page does
    before = _database()

    call_command("import_registry", dataset, str(path), "--dry-run")
    out = capsys.readouterr().out
    assert "Dry run, nothing written: " in out and "0 new, 0 updated" not in out
    assert _database() == before
    assert reader.get(PAGE, headers={"if-none-match": etag}).status_code == 304

    # The same file applied does change all of it: what the dry run left alone it would write.
    call_command("import_registry", dataset, str(path))
    after = _database()
    assert after["stamp"] != before["stamp"]
    assert after[Version._meta.db_table] > before[Version._meta.db_table]
    assert reader.get(PAGE, headers={"if-none-match": etag}).status_code == 200
    if dataset == "organizations":
        assert after["organizations"] != before["organizations"]


def test_organization_outcomes_carry_their_id(seeded):
    report = run_import("organizations", _edited_organizations())
    assert report.ok and {o.action for o in report.outcomes} == {"new", "update", "unchanged"}
    assert all(o.organization == o.key and not o.person for o in report.outcomes)
    assert {o.organization for o in report.outcomes} == set(
        Organization.objects.values_list("pk", flat=True)
    )


def test_posts_outcomes_carry_the_organization_and_person_ids_the_history_records(
    seeded, tmp_path
):
    organization = parse(export_text("posts"))[0]["organization"]
    report = run_import("posts", _edited_posts(), dry_run=True)
    changed = [o for o in report.outcomes if o.action != "unchanged"]
    assert [(o.organization, o.person, o.action) for o in changed] == [
        (organization, "a-new-deputy", "new")
    ]
    assert all(o.key.startswith(f"{o.organization} / ") for o in report.outcomes)
    assert all(o.key.endswith(f" / {o.person}") for o in report.outcomes)

    path = tmp_path / "posts.csv"
    path.write_bytes(_edited_posts())
    call_command("import_registry", "posts", str(path))
    recorded = Version.objects.filter(revision__comment__startswith="CSV import of posts.csv")
    assert {(v.content_type.model, v.object_id) for v in recorded} >= {
        ("organization", organization),
        ("person", "a-new-deputy"),
    }
    assert Person.objects.filter(pk="a-new-deputy").exists()
