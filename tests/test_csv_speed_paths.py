"""The fast paths of CSV import and export give exactly what the plain paths give."""

import json

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from devtools import synthetic
from registry import exports, imports
from registry.csvcodec import csv_lines, escape_formula, unescape_formula
from registry.imports import import_organizations, stored
from registry.models import Organization, Person, Post, Succession

from .conftest import assert_tree_valid
from .csvtools import empty_registry, export_text, parse, write


def _rows_by_id(text: str) -> dict[str, dict[str, str]]:
    return {row["id"]: row for row in parse(text)}


def test_predecessors_in_any_order_are_unchanged_on_reimport(seeded):
    row = _rows_by_id(export_text())["npcsc-go-research-office"]
    links = [{"id": "npcsc-go-secretariat"}, {"id": "cppcc-general-office", "date": "1983"}]
    row["predecessors"] = json.dumps(links)  # not sorted by id

    first = import_organizations(write([row]))
    assert first.outcomes[0].changes == ["predecessors"]
    again = import_organizations(write([row]))
    assert again.outcomes[0].action == "unchanged"
    stored = Succession.objects.filter(successor="npcsc-go-research-office")
    assert sorted(stored.values_list("predecessor", "date")) == [
        ("cppcc-general-office", "1983"),
        ("npcsc-go-secretariat", ""),
    ]


@pytest.mark.parametrize("whole_tables", [True, False])
def test_stored_rows_read_whole_or_in_batches_are_the_same(seeded, monkeypatch, whole_tables):
    ids = sorted(Organization.objects.values_list("pk", flat=True))[::3]
    expected = stored.current_rows(ids, registry_size=10**9)  # few ids: IN (...) batches
    assert expected.fields.keys() == set(ids)
    monkeypatch.setattr(stored, "CHUNK", 4)
    monkeypatch.setattr(stored, "WHOLE_TABLES_FROM_IDS", 0 if whole_tables else 10**9)
    assert stored.current_rows(ids, registry_size=10**9) == expected


def test_new_rows_store_empty_rank_and_parent_as_null_and_empty_dates_as_text(seeded):
    row = {
        "id": "a-new-body",
        "parent": "",
        "name": "A new body",
        "kind": "national-body",
        "rank": "",
    }
    assert import_organizations(write([row])).count("new") == 1
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT parent_id, rank_id, formed, dissolved FROM registry_organization "
            "WHERE id = %s",
            ["a-new-body"],
        )
        assert cursor.fetchone() == (None, None, "", "")
    assert_tree_valid()


@pytest.mark.parametrize("root", [None, "npcsc-general-office", "cppcc-general-office"])
def test_export_pages_of_any_size_give_the_same_file(seeded, monkeypatch, root):
    organization = Organization.objects.get(pk=root) if root else None
    whole = export_text(root=organization)
    monkeypatch.setattr(exports, "CHUNK", 3)  # pages end mid-tree and across trees
    assert export_text(root=organization) == whole


def test_export_pages_group_small_trees_and_lose_or_repeat_none(seeded, monkeypatch):
    bodies = [
        {"id": f"body-{n}", "parent": "", "name": f"Body {n}", "kind": "national-body"}
        for n in range(1, 9)
    ]
    units = [
        {
            "id": f"unit-{n}-{m}",
            "parent": f"body-{n}",
            "name": f"Unit {m}",
            "kind": "national-body",
        }
        for n in range(1, 9)
        for m in range(n % 3)
    ]
    header = ["id", "parent", "name", "kind", "rank"]
    assert import_organizations(write([*bodies, *units], header)).count("new") == 8 + 9
    whole = export_text()  # one page
    monkeypatch.setattr(exports, "CHUNK", 3)
    assert any(
        page.first_tree < page.last_tree for page in Organization.objects.pages(size=exports.CHUNK)
    )
    assert export_text() == whole


def test_a_file_imported_into_an_empty_registry_exports_byte_identically_in_small_pages(
    seeded, monkeypatch
):
    text = export_text()
    empty_registry()
    monkeypatch.setattr(exports, "CHUNK", 5)
    assert import_organizations(text.encode()).count("new") == 53
    assert export_text() == text
    assert_tree_valid()


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("", ""),
        ("plain", "plain"),
        ("=1+1", "'=1+1"),
        ("-", "'-"),
        ("\tx", "'\tx"),
        ("'", "'"),
        ("'s-Hertogenbosch", "'s-Hertogenbosch"),
        ("'=x", "''=x"),
        ("''", "'''"),
    ],
)
def test_formula_escape_fast_path_keeps_every_case(value, escaped):
    assert escape_formula(value) == escaped
    assert unescape_formula(escaped) == value


@pytest.mark.django_db(transaction=True)
def test_export_outside_a_transaction_reads_each_page_in_one_transaction(monkeypatch):
    call_command("load_seed", verbosity=0)
    with transaction.atomic():  # in the caller's transaction, pages open none of their own
        expected = export_text()
    monkeypatch.setattr(exports, "CHUNK", 5)
    seen = []
    related = exports._related

    def spy(*args):
        seen.append(connection.in_atomic_block)
        return related(*args)

    monkeypatch.setattr(exports, "_related", spy)
    assert not connection.in_atomic_block
    assert export_text() == expected
    assert len(seen) > 5 and all(seen)
    assert not connection.in_atomic_block


def test_new_posts_are_created_once_not_created_and_then_updated(db):
    call_command("generate_registry", organizations=200, people=0, seed=3, verbosity=0)
    organizations = Organization.objects.values_list("pk", "level")
    rows = synthetic.post_rows(organizations, 40, seed=3)
    header = next(rows)
    Person.objects.bulk_create(Person(id=pk, name=name) for pk, name, _ in synthetic.people(40, 3))
    with CaptureQueriesContext(connection) as queries:
        report = imports.import_posts("".join(csv_lines(header, rows)))
    assert report.ok and report.count("new") > 50
    assert not [q["sql"] for q in queries if q["sql"].startswith('UPDATE "registry_post"')]
    assert Post.objects.count() > 0
