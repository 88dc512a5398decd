"""People's identifiers in the posts file (`person_identifiers`): checked as the organizations'
are, written with the import and recorded in the person's history, exported on every row of
the person, and unchanged by an export imported again."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from reversion.models import Revision, Version

from registry.imports import import_posts
from registry.models import Identifier, Person

from .csvtools import export_text, parse, write

PERSON = "wang-dongfeng"
OTHER = "zou-jiayi"
UNIT = "cppcc-go-research-office"
STANDARD_EXAMPLE = "91350100M000100Y43"  # GB 32100-2015's worked example (test_identifiers.py)
Q42 = [{"scheme": "wikidata", "identifier": "Q42"}]


@pytest.fixture(autouse=True)
def uploads(settings, tmp_path):
    settings.REGISTRY_IMPORT_UPLOADS = str(tmp_path / "uploads")
    (tmp_path / "uploads").mkdir()


def _posts(changes: dict[str, list[dict]] | None = None) -> list[dict]:
    """The posts export, each row of a person in `changes` given those identifiers."""
    rows = parse(export_text("posts"))
    for row in rows:
        if row["person"] in (changes or {}):
            row["person_identifiers"] = json.dumps(changes[row["person"]], ensure_ascii=False)
    return rows


def _second_row(rows: list[dict], person: str, identifiers: str) -> list[dict]:
    """`rows` with one more holding of `person` (in another post of their organization)."""
    first = next(row for row in rows if row["person"] == person)
    extra = first | {"post": "Adviser", "post_plural": "", "post_order": "9"}
    return [*rows, extra | {"person_identifiers": identifiers, "holder_order": "1"}]


def _import(tmp_path, rows: list[dict]) -> None:
    path = tmp_path / "posts.csv"
    path.write_bytes(write(rows))
    call_command("import_registry", "posts", str(path), verbosity=0)


def _line_of(rows: list[dict], person: str, last: bool = False) -> int:
    lines = [line for line, row in enumerate(rows, start=2) if row["person"] == person]
    return lines[-1] if last else lines[0]


def _identifiers() -> list[tuple]:
    return list(
        Identifier.objects.order_by("scheme", "identifier").values_list(
            "organization", "person", "scheme", "identifier"
        )
    )


def test_a_posts_file_gives_people_identifiers_and_records_them_in_their_history(seeded, tmp_path):
    items = [
        {"scheme": "wikidata", "identifier": "Q42"},
        {"scheme": "isni", "identifier": "0000 0001 2345 6789"},
    ]
    _import(tmp_path, _posts({PERSON: items}))
    assert _identifiers() == [
        (None, PERSON, "isni", "0000 0001 2345 6789"),
        (None, PERSON, "wikidata", "Q42"),
    ]
    version = Version.objects.get_for_object(Person.objects.get(pk=PERSON)).first()
    assert version.revision.comment.startswith("CSV import of posts.csv")
    owned = version.revision.version_set.filter(content_type__model="identifier")
    assert sorted(json.loads(v.serialized_data)[0]["fields"]["identifier"] for v in owned) == [
        "0000 0001 2345 6789",
        "Q42",
    ]


def test_a_new_person_comes_with_their_identifiers(seeded, tmp_path):
    rows = _posts()
    first = next(row for row in rows if row["person"])
    rows.append(
        first
        | {
            "person": "zhang-san",
            "person_name": "Zhang San",
            "person_identifiers": json.dumps(Q42),
            "start": "2020",
        }
    )
    _import(tmp_path, rows)
    assert _identifiers() == [(None, "zhang-san", "wikidata", "Q42")]


def test_an_empty_cell_leaves_the_identifiers_and_an_empty_array_removes_them(seeded, tmp_path):
    Identifier.objects.create(person_id=PERSON, scheme="wikidata", identifier="Q1")
    rows = _posts()
    for row in rows:
        row["person_identifiers"] = ""
        if row["person"] == PERSON:
            row["person_name"] = "Wang Dongfeng (renamed)"
    _import(tmp_path, rows)
    assert Person.objects.get(pk=PERSON).name == "Wang Dongfeng (renamed)"
    assert _identifiers() == [(None, PERSON, "wikidata", "Q1")]
    # A file without the column says nothing either.
    _import(
        tmp_path, [{k: v for k, v in row.items() if k != "person_identifiers"} for row in rows]
    )
    assert _identifiers() == [(None, PERSON, "wikidata", "Q1")]

    _import(tmp_path, _posts({PERSON: []}))
    assert _identifiers() == []


def test_rows_of_one_person_may_leave_the_cell_empty_or_list_the_same_ones_in_any_order(
    seeded, tmp_path
):
    items = [{"scheme": "wikidata", "identifier": "Q42"}, {"scheme": "isni", "identifier": "7"}]
    rows = _second_row(_posts({PERSON: items}), PERSON, json.dumps(items[::-1]))
    rows = _second_row(rows, PERSON, "")
    rows[-1]["post"] = "Consultant"
    _import(tmp_path, rows)
    assert _identifiers() == [(None, PERSON, "isni", "7"), (None, PERSON, "wikidata", "Q42")]


def test_a_file_may_move_an_identifier_from_one_person_to_another(seeded, tmp_path):
    Identifier.objects.create(person_id=PERSON, scheme="wikidata", identifier="Q42")
    _import(tmp_path, _posts({PERSON: [], OTHER: Q42}))
    assert _identifiers() == [(None, OTHER, "wikidata", "Q42")]


# --- Refused files: line and column named, nothing written --------------------------------------


def _refused(tmp_path, capsys, rows: list[dict]) -> str:
    before = (export_text("posts"), _identifiers(), Revision.objects.count())
    with pytest.raises(CommandError, match="nothing was written"):
        _import(tmp_path, rows)
    assert (export_text("posts"), _identifiers(), Revision.objects.count()) == before
    return capsys.readouterr().err


def _renamed(rows: list[dict]) -> list[dict]:
    """Rows that would change something else too, so that a refusal is seen to write nothing."""
    for row in rows:
        if row["person"]:
            row["person_name"] += " (renamed)"
    return rows


@pytest.mark.parametrize(
    ("items", "said"),
    [
        ([{"scheme": "wikidata", "identifier": "q42"}], "item 1: A Q-number must be Q followed"),
        (
            [{"scheme": "uscc", "identifier": "91350100M000100Y4Z"}],
            "item 1: The check character (the 18th) should be 3",
        ),
        ([{"scheme": "wikidata", "identifier": "Q42 "}], "spaces"),
        ([{"scheme": "Wikidata", "identifier": "Q42"}], "short lowercase name"),
        ([{"scheme": "wikidata"}], "“identifier” is required"),
        ([*Q42, *Q42], "listed twice"),
    ],
)
def test_a_bad_identifier_is_refused_with_line_and_column(seeded, tmp_path, capsys, items, said):
    rows = _renamed(_posts({PERSON: items}))
    errors = _refused(tmp_path, capsys, rows)
    assert f"line {_line_of(rows, PERSON)}, column person_identifiers: " in errors
    assert said in errors


def test_two_people_cannot_claim_one_identifier(seeded, tmp_path, capsys):
    rows = _renamed(_posts({PERSON: Q42, OTHER: Q42}))
    errors = _refused(tmp_path, capsys, rows)
    later = max(_line_of(rows, PERSON), _line_of(rows, OTHER))
    assert f"line {later}, column person_identifiers: wikidata Q42 is also given to person" in (
        errors
    )


def test_one_persons_rows_must_give_the_same_identifiers(seeded, tmp_path, capsys):
    rows = _second_row(_renamed(_posts({PERSON: Q42})), PERSON, json.dumps([]))
    errors = _refused(tmp_path, capsys, rows)
    assert (
        f"line {_line_of(rows, PERSON, last=True)}, column person_identifiers: “{PERSON}” has "
        f"wikidata Q42 on line {_line_of(rows, PERSON)} and no identifiers ([]) here"
    ) in errors


def test_an_identifier_held_by_an_organization_is_refused_naming_it(seeded, tmp_path, capsys):
    # As after an organizations file gave it: each file is imported in its own transaction,
    # organizations first, so the posts file finds it in the registry.
    organizations = parse(export_text())
    for row in organizations:
        if row["id"] == UNIT:
            row["identifiers"] = json.dumps([{"scheme": "uscc", "identifier": STANDARD_EXAMPLE}])
    path = tmp_path / "organizations.csv"
    path.write_bytes(write(organizations))
    call_command("import_registry", "organizations", str(path), verbosity=0)

    rows = _renamed(_posts({PERSON: [{"scheme": "uscc", "identifier": STANDARD_EXAMPLE}]}))
    errors = _refused(tmp_path, capsys, rows)
    assert (
        f"line {_line_of(rows, PERSON)}, column person_identifiers: uscc {STANDARD_EXAMPLE} "
        f"belongs to organization “{UNIT}” in the registry"
    ) in errors


def test_an_identifier_another_person_keeps_is_refused(seeded, tmp_path, capsys):
    Identifier.objects.create(person_id=OTHER, scheme="wikidata", identifier="Q42")
    rows = _posts({PERSON: Q42})
    for row in rows:
        if row["person"] == OTHER:  # exported with it: empty, the file leaves it to them
            row["person_identifiers"] = ""
    rows = _renamed(rows)
    errors = _refused(tmp_path, capsys, rows)
    assert f"wikidata Q42 belongs to person “{OTHER}” in the registry" in errors


def test_identifiers_without_a_person_are_refused(seeded, tmp_path, capsys):
    rows = _posts()
    rows.append({"organization": UNIT, "post": "Vacant", "person_identifiers": json.dumps(Q42)})
    errors = _refused(tmp_path, capsys, rows)
    assert f"line {len(rows) + 1}, column person: empty, but the row gives" in errors


# --- Export, round trip, admin preview ---------------------------------------------------------


def test_every_row_of_a_person_carries_their_identifiers_and_a_round_trip_changes_nothing(
    seeded, tmp_path
):
    items = [{"scheme": "wikidata", "identifier": "Q42"}, {"scheme": "isni", "identifier": "7"}]
    _import(tmp_path, _second_row(_posts({PERSON: items}), PERSON, ""))
    exported = export_text("posts")
    cells = {row["person_identifiers"] for row in parse(exported) if row["person"] == PERSON}
    assert [json.loads(cell) for cell in cells] == [sorted(items, key=lambda i: i["scheme"])]
    assert len([row for row in parse(exported) if row["person"] == PERSON]) == 2
    assert {row["person_identifiers"] for row in parse(exported) if row["person"] != PERSON} == {
        ""
    }

    before, revisions = _identifiers(), Revision.objects.count()
    report = import_posts(exported.encode())
    assert report.applied and report.changed == 0
    assert _identifiers() == before
    assert Revision.objects.count() == revisions
    assert export_text("posts") == exported


def test_the_queries_of_a_posts_import_do_not_grow_with_its_people(seeded):
    def queries(people: int) -> int:
        rows = _posts()
        first = next(row for row in rows if row["person"])
        for number in range(people):
            rows.append(
                first
                | {
                    "person": f"person-{people}-{number}",
                    "person_name": f"Person {number}",
                    "person_identifiers": json.dumps(
                        [{"scheme": "wikidata", "identifier": f"Q{people}{number + 1}"}]
                    ),
                    "start": str(1900 + number),
                }
            )
        with CaptureQueriesContext(connection) as captured:
            assert import_posts(write(rows)).ok
        return len(captured)

    assert queries(5) == queries(50)


def test_the_admin_preview_shows_a_persons_new_identifiers(editor_client, seeded):
    rows = _posts({PERSON: Q42})
    response = editor_client.post(
        "/admin/registry/post/import/",
        {"format": "0", "import_file": SimpleUploadedFile("posts.csv", write(rows), "text/csv")},
    )
    html = response.content.decode()
    assert response.context["preview"].changed == 1
    assert (
        "<dt>person_identifiers</dt> <dd><del>(empty)</del> → <ins>[{&quot;scheme&quot;: "
        "&quot;wikidata&quot;, &quot;identifier&quot;: &quot;Q42&quot;}]</ins></dd>"
    ) in " ".join(html.split())
    assert "Confirm import" in html
    assert not Identifier.objects.exists()
