"""The field declarations (registry/schema.py) are what every face of the registry uses: the
documentation, the command-line import and export, and the download over HTTP."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import models

from devtools.csvdocs import DOCUMENT, marked_datasets, with_tables
from registry.models import (
    ChangeEvent,
    EventOrganization,
    Holding,
    Organization,
    Person,
    Placement,
    Post,
)
from registry.schema import (
    DATASETS,
    EVENTS,
    ORGANIZATIONS,
    PEOPLE,
    PLACEMENTS,
    POSTS,
    Cell,
    dataset,
)

from .csvtools import parse, write

# Model fields that no file exchanges, and why. A new model field must be declared in
# registry/schema.py or listed here: a field added to the model alone would silently be left
# out of every file.
NOT_EXCHANGED = {
    # The nested-set fields are derived from `parent` and the `order` column.
    (Organization, "lft"),
    (Organization, "rght"),
    (Organization, "tree_id"),
    (Organization, "level"),
    # A person's note, sources and curated pinyin are curated in the admin only (no people
    # file yet; the posts file carries people's names and Chinese names).
    (Person, "note"),
    (Person, "sources"),
    (Person, "pinyin"),
    # Derived from the Chinese names and pinyin (registry/names.py), rewritten on every write.
    (Organization, "pinyin_key"),
    (Person, "pinyin_key"),
    # The organization's sources travel as the `sources` JSON cell, through its citations.
    (Organization, "sources"),
    # Holdings are identified by post, person and start: no id of their own in files.
    (Holding, "id"),
    (Holding, "post"),
    (Holding, "person"),
    (Post, "id"),
    (Post, "holders"),
    # Placements are identified by organization and end; an event's organizations are its
    # participants (the `organizations` cell), in array order within each role.
    (Placement, "id"),
    (ChangeEvent, "organizations"),
    # An event's source travels as its title and url (`source`, `source_url`), as sources do.
    (ChangeEvent, "source"),
    (EventOrganization, "id"),
    (EventOrganization, "event"),
    (EventOrganization, "position"),
}


def _declared(model: type[models.Model]) -> set[str]:
    datasets = (ORGANIZATIONS, POSTS, PEOPLE, PLACEMENTS, EVENTS)
    keys = {
        key.field for fields in datasets for f in fields for key in f.keys if key.model is model
    }
    return keys | {
        f.model_field.name
        for fields in datasets
        for f in fields
        if f.model is model and f.cell is not Cell.ITEMS
    }


@pytest.mark.parametrize(
    "model", (Organization, Person, Post, Holding, Placement, ChangeEvent, EventOrganization)
)
def test_every_model_field_is_declared_or_known_not_to_be_exchanged(model):
    fields = {f.name for f in model._meta.get_fields() if not f.auto_created or f.concrete}
    fields -= {f.name for f in model._meta.get_fields() if f.one_to_many}
    missing = fields - _declared(model) - {name for m, name in NOT_EXCHANGED if m is model}
    assert not missing, f"declare {sorted(missing)} in registry/schema.py"


def test_docs_csv_md_column_tables_are_the_declarations():
    text = DOCUMENT.read_text(encoding="utf-8")
    assert marked_datasets(text) == list(DATASETS)
    assert with_tables(text) == text, "run `python manage.py csv_docs`"


def test_csv_docs_command_rewrites_a_table_that_disagrees(tmp_path, monkeypatch):
    stale = DOCUMENT.read_text(encoding="utf-8").replace("at most 300 characters", "at most 3")
    copy = tmp_path / "csv.md"
    copy.write_text(stale, encoding="utf-8")
    monkeypatch.setattr("devtools.management.commands.csv_docs.DOCUMENT", copy)
    call_command("csv_docs")
    assert copy.read_text(encoding="utf-8") == DOCUMENT.read_text(encoding="utf-8")


def test_an_unknown_dataset_is_refused_naming_the_known_ones():
    with pytest.raises(
        ValueError, match="“people”; the datasets are organizations, posts, placements, events"
    ):
        dataset("people")


@pytest.mark.django_db
def test_the_download_has_the_declared_columns_in_their_order(client, seeded):
    for name, declared in DATASETS.items():
        header = client.get(f"/{name}.csv").getvalue().decode().splitlines()[0]
        assert header == ",".join(declared.columns)


LIMITED_TEXT = [f for f in ORGANIZATIONS if f.cell is Cell.TEXT and f.limit is not None]


@pytest.mark.django_db
@pytest.mark.parametrize("declared", LIMITED_TEXT, ids=lambda f: f.column)
def test_the_import_command_holds_each_text_column_to_its_declared_limit(
    declared, seeded, tmp_path
):
    """The limit is the model's: a cell of exactly that length is stored, one more character
    is refused with the column named, and nothing is written."""
    path = tmp_path / "organizations.csv"
    call_command("export_registry", "organizations", "--output", str(path))
    rows = parse(path.read_text(encoding="utf-8"))
    rows[-1][declared.column] = "x" * declared.limit
    path.write_bytes(write(rows))
    call_command("import_registry", "organizations", str(path), verbosity=0)
    stored = Organization.objects.filter(pk=rows[-1]["id"]).values_list(declared.attname)
    assert stored.get()[0] == "x" * declared.limit

    rows[-1][declared.column] += "y"
    path.write_bytes(write(rows))
    with pytest.raises(CommandError, match="nothing was written"):
        call_command("import_registry", "organizations", str(path), verbosity=0)
    assert stored.get()[0] == "x" * declared.limit
