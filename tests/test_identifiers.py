"""External identifiers (Wikidata, the unified social credit code, free schemes): refused with a
message naming what is wrong, never normalised; edited in the admin, exchanged in CSV, shown on
the pages, kept by history."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from reversion.models import Revision, Version

from registry.history import history_record
from registry.identifiers import identifier_problem, scheme_problem, uscc_check_character
from registry.imports import import_organizations
from registry.models import Identifier, Organization, Person

from .conftest import admin_form_data, admin_submit
from .csvtools import export_text, parse, write

CHANGELIST = "/admin/registry/organization/"
UNIT = "cppcc-go-research-office"
PERSON = "wang-dongfeng"
# The worked example of GB 32100-2015 (its text computes the check character of
# 91350100M000100Y4Z as 3, so that code is refused and this one is valid). No claim that it
# belongs to any body.
STANDARD_EXAMPLE = "91350100M000100Y43"
# Built here from the algorithm: a made-up first 17 characters and their check character.
COMPUTED = "12100000MB0000000" + uscc_check_character("12100000MB0000000")


# --- The schemes' rules ----------------------------------------------------------------------


@pytest.mark.parametrize("qid", ["Q1", "Q42", "Q1234567890"])
def test_a_q_number_is_q_then_digits(qid):
    assert identifier_problem("wikidata", qid) is None


@pytest.mark.parametrize("qid", ["q42", "Q042", "Q", "42", "Q4 2", "Q0", "P31", "Q42a"])
def test_a_malformed_q_number_is_refused_saying_what_to_type(qid):
    problem = identifier_problem("wikidata", qid)
    assert problem is not None
    assert "Q followed by digits without leading zero" in problem
    assert f"“{qid}”" in problem


def test_the_standards_example_has_the_check_character_it_computes():
    assert uscc_check_character(STANDARD_EXAMPLE[:17]) == "3"
    assert identifier_problem("uscc", STANDARD_EXAMPLE) is None


def test_the_standards_counter_example_is_refused_naming_the_right_check_character():
    problem = identifier_problem("uscc", "91350100M000100Y4Z")
    assert "should be 3" in problem
    assert "not Z" in problem


def test_a_code_computed_from_the_algorithm_is_accepted():
    assert len(COMPUTED) == 18
    assert identifier_problem("uscc", COMPUTED) is None


def test_a_check_value_of_31_is_written_as_0():
    # Find a first 17 whose weighted sum is a multiple of 31: its check character is "0".
    first = next(
        f"9111000000000{n:04d}"
        for n in range(10_000)
        if sum(
            "0123456789ABCDEFGHJKLMNPQRTUWXY".index(c) * w
            for c, w in zip(
                f"9111000000000{n:04d}",
                (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28),
                strict=True,
            )
        )
        % 31
        == 0
    )
    assert uscc_check_character(first) == "0"
    assert identifier_problem("uscc", first + "0") is None


@pytest.mark.parametrize(
    ("code", "said"),
    [
        ("91350100M000100Y4", "has 17"),
        ("91350100M000100Y433", "has 19"),
        ("91350100m000100Y43", "“m”"),  # lowercase: refused, not uppercased
        ("91350100M000100I43", "“I”"),  # I, O, S, V, Z are not in the alphabet
        ("91350100M00010 Y43", "“ ”"),
    ],
)
def test_a_malformed_credit_code_is_refused_saying_what_is_wrong(code, said):
    problem = identifier_problem("uscc", code)
    assert problem is not None
    assert said in problem


@pytest.mark.parametrize("value", [" Q42", "Q42 ", "\tQ42"])
def test_spaces_around_an_identifier_are_refused_not_trimmed(value):
    assert "spaces" in identifier_problem("wikidata", value)


def test_a_free_scheme_takes_any_text_without_spaces_around_it():
    assert identifier_problem("isni", "0000 0001 2103 2683") is None
    assert identifier_problem("gov-cn-site", "https://www.cppcc.gov.cn/") is None
    assert identifier_problem("isni", " 0000") is not None


@pytest.mark.parametrize("scheme", ["wikidata", "uscc", "isni", "gov-cn-site"])
def test_a_scheme_is_a_short_lowercase_token(scheme):
    assert scheme_problem(scheme) is None


@pytest.mark.parametrize("scheme", ["Wikidata", "gov cn", "-isni", "isni-", "a--b", "x" * 31, ""])
def test_other_scheme_names_are_refused(scheme):
    assert "short lowercase name" in scheme_problem(scheme)


# --- The database's rules --------------------------------------------------------------------


def test_one_identifier_cannot_belong_to_two_organizations(seeded):
    Identifier.objects.create(organization_id=UNIT, scheme="wikidata", identifier="Q42")
    with pytest.raises(IntegrityError), transaction.atomic():
        Identifier.objects.create(
            organization_id="npcsc-general-office", scheme="wikidata", identifier="Q42"
        )


def test_one_identifier_cannot_belong_to_an_organization_and_a_person(seeded):
    Identifier.objects.create(organization_id=UNIT, scheme="wikidata", identifier="Q42")
    with pytest.raises(IntegrityError), transaction.atomic():
        Identifier.objects.create(person_id=PERSON, scheme="wikidata", identifier="Q42")


@pytest.mark.parametrize("owners", [{}, {"organization_id": UNIT, "person_id": PERSON}])
def test_an_identifier_has_exactly_one_owner(seeded, owners):
    with pytest.raises(IntegrityError), transaction.atomic():
        Identifier.objects.create(scheme="wikidata", identifier="Q42", **owners)


def test_clean_names_the_record_that_already_has_the_identifier(seeded):
    Identifier.objects.create(organization_id=UNIT, scheme="wikidata", identifier="Q42")
    duplicate = Identifier(person_id=PERSON, scheme="wikidata", identifier="Q42")
    with pytest.raises(ValidationError) as error:
        duplicate.full_clean()
    (message,) = error.value.message_dict["identifier"]
    assert "already belongs to organization “Research Office”" in message


def test_deleting_the_owner_deletes_its_identifiers(seeded, make_org):
    unit = make_org()
    Identifier.objects.create(organization=unit, scheme="isni", identifier="0000")
    Organization.objects.filter(pk=unit.pk).delete()
    assert not Identifier.objects.exists()


# --- The admin --------------------------------------------------------------------------------


def _submit_identifier(client, url: str, scheme: str, identifier: str):
    page = client.get(url)
    assert page.status_code == 200
    data = admin_form_data(page)
    count = int(data["identifiers-TOTAL_FORMS"])
    data |= {
        "identifiers-TOTAL_FORMS": str(count + 1),
        f"identifiers-{count}-scheme": scheme,
        f"identifiers-{count}-identifier": identifier,
    }
    return client.post(url, data)


@pytest.mark.parametrize(
    ("scheme", "value"), [("wikidata", "Q42"), ("uscc", STANDARD_EXAMPLE), ("isni", "0000 0001")]
)
def test_an_organizations_identifier_is_added_in_the_admin(editor_client, seeded, scheme, value):
    response = _submit_identifier(editor_client, f"{CHANGELIST}{UNIT}/change/", scheme, value)
    assert response.status_code == 302
    assert list(Organization.objects.get(pk=UNIT).identifiers.values_list()) == [
        (Identifier.objects.get().pk, UNIT, None, scheme, value)
    ]


def test_a_persons_identifier_is_added_in_the_admin(editor_client, seeded):
    url = f"/admin/registry/person/{PERSON}/change/"
    response = _submit_identifier(editor_client, url, "wikidata", "Q42")
    assert response.status_code == 302
    assert list(Person.objects.get(pk=PERSON).identifiers.values_list("scheme", "identifier")) == [
        ("wikidata", "Q42")
    ]


@pytest.mark.parametrize(
    ("scheme", "value", "said"),
    [
        ("wikidata", "q42", "Q followed by digits without leading zero"),
        ("wikidata", " Q42", "spaces"),
        ("uscc", "91350100M000100Y4Z", "should be 3"),
        ("uscc", "91350100m000100Y43", "the capital letters"),
        ("Wikidata", "Q42", "short lowercase name"),
    ],
)
def test_a_bad_identifier_shows_its_message_and_saves_nothing(
    editor_client, seeded, scheme, value, said
):
    name = Organization.objects.get(pk=UNIT).name
    page = editor_client.get(f"{CHANGELIST}{UNIT}/change/")
    data = admin_form_data(page) | {
        "name": "Renamed with a bad identifier",
        "identifiers-TOTAL_FORMS": "1",
        "identifiers-0-scheme": scheme,
        "identifiers-0-identifier": value,
    }
    response = editor_client.post(f"{CHANGELIST}{UNIT}/change/", data)
    assert response.status_code == 200
    assert said in response.content.decode()
    assert not Identifier.objects.exists()
    assert Organization.objects.get(pk=UNIT).name == name


def test_a_bad_identifier_of_a_person_shows_its_message(editor_client, seeded):
    url = f"/admin/registry/person/{PERSON}/change/"
    response = _submit_identifier(editor_client, url, "uscc", "91350100M000100Y4Z")
    assert response.status_code == 200
    assert "should be 3" in response.content.decode()
    assert not Identifier.objects.exists()


def test_the_admin_refuses_an_identifier_another_record_has(editor_client, seeded):
    Identifier.objects.create(person_id=PERSON, scheme="wikidata", identifier="Q42")
    response = _submit_identifier(editor_client, f"{CHANGELIST}{UNIT}/change/", "wikidata", "Q42")
    assert response.status_code == 200
    assert "already belongs to person" in response.content.decode()
    assert Identifier.objects.get().person_id == PERSON


# --- CSV --------------------------------------------------------------------------------------


def _import(tmp_path, rows, dataset="organizations", name="identifiers.csv"):
    path = tmp_path / name
    path.write_bytes(write(rows))
    call_command("import_registry", dataset, str(path), verbosity=0)


def _with_identifiers(rows, pk: str, items: list[dict]) -> list[dict]:
    for row in rows:
        if row["id"] == pk:
            row["identifiers"] = json.dumps(items, ensure_ascii=False)
    return rows


def _identifiers() -> list[tuple]:
    return list(
        Identifier.objects.order_by("scheme", "identifier").values_list(
            "organization", "person", "scheme", "identifier"
        )
    )


def test_an_organizations_file_brings_identifiers_in_and_out_unchanged(seeded, tmp_path):
    items = [
        {"scheme": "wikidata", "identifier": "Q42"},
        {"scheme": "uscc", "identifier": STANDARD_EXAMPLE},
        {"scheme": "gov-cn-site", "identifier": "https://www.cppcc.gov.cn/"},
    ]
    _import(tmp_path, _with_identifiers(parse(export_text()), UNIT, items))
    assert _identifiers() == [
        (UNIT, None, "gov-cn-site", "https://www.cppcc.gov.cn/"),
        (UNIT, None, "uscc", STANDARD_EXAMPLE),
        (UNIT, None, "wikidata", "Q42"),
    ]
    exported = export_text()
    (row,) = [row for row in parse(exported) if row["id"] == UNIT]
    assert json.loads(row["identifiers"]) == sorted(
        items, key=lambda i: (i["scheme"], i["identifier"])
    )

    before, revisions = _identifiers(), Revision.objects.count()
    report = import_organizations(exported.encode())
    assert report.applied
    assert {o.action for o in report.outcomes} == {"unchanged"}
    assert _identifiers() == before
    assert export_text() == exported
    assert Revision.objects.count() == revisions


def test_an_organizations_file_replaces_and_removes_identifiers(seeded, tmp_path):
    Identifier.objects.create(organization_id=UNIT, scheme="wikidata", identifier="Q1")
    rows = _with_identifiers(parse(export_text()), UNIT, [{"scheme": "isni", "identifier": "1"}])
    _import(tmp_path, rows)
    assert _identifiers() == [(UNIT, None, "isni", "1")]
    _import(tmp_path, _with_identifiers(parse(export_text()), UNIT, []))
    assert _identifiers() == []


def test_a_file_without_the_identifiers_column_keeps_them(seeded, tmp_path):
    Identifier.objects.create(organization_id=UNIT, scheme="wikidata", identifier="Q1")
    rows = parse(export_text())
    for row in rows:
        del row["identifiers"]
        if row["id"] == UNIT:
            row["name"] = "Research Office (renamed)"
    _import(tmp_path, rows)
    assert Organization.objects.get(pk=UNIT).name == "Research Office (renamed)"
    assert _identifiers() == [(UNIT, None, "wikidata", "Q1")]


def test_a_file_may_move_an_identifier_from_one_organization_to_another(seeded, tmp_path):
    Identifier.objects.create(organization_id=UNIT, scheme="wikidata", identifier="Q1")
    rows = _with_identifiers(parse(export_text()), UNIT, [])
    rows = _with_identifiers(
        rows, "npcsc-general-office", [{"scheme": "wikidata", "identifier": "Q1"}]
    )
    _import(tmp_path, rows)
    assert _identifiers() == [("npcsc-general-office", None, "wikidata", "Q1")]


def _line_of(rows, pk: str) -> int:
    return 2 + [row["id"] for row in rows].index(pk)


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
        (
            [{"scheme": "isni", "identifier": "1"}, {"scheme": "isni", "identifier": "1"}],
            "listed twice",
        ),
    ],
)
def test_a_bad_identifier_in_a_file_is_refused_with_line_and_column_and_nothing_is_written(
    seeded, tmp_path, capsys, items, said
):
    rows = parse(export_text())
    for row in rows:
        row["name"] += " (renamed)"
    rows = _with_identifiers(rows, UNIT, items)
    before = export_text()
    with pytest.raises(CommandError, match="nothing was written"):
        _import(tmp_path, rows)
    errors = capsys.readouterr().err
    assert f"line {_line_of(rows, UNIT)}, column identifiers: " in errors
    assert said in errors
    assert export_text() == before
    assert not Identifier.objects.exists()


def test_an_identifier_another_record_holds_is_refused_naming_it(seeded, tmp_path, capsys):
    Identifier.objects.create(person_id=PERSON, scheme="wikidata", identifier="Q42")
    rows = _with_identifiers(
        parse(export_text()), UNIT, [{"scheme": "wikidata", "identifier": "Q42"}]
    )
    with pytest.raises(CommandError, match="nothing was written"):
        _import(tmp_path, rows)
    errors = capsys.readouterr().err
    assert (
        f"line {_line_of(rows, UNIT)}, column identifiers: wikidata Q42 belongs to person "
        f"“{PERSON}” in the registry"
    ) in errors
    assert _identifiers() == [(None, PERSON, "wikidata", "Q42")]


def test_two_rows_of_a_file_cannot_share_an_identifier(seeded, tmp_path, capsys):
    item = [{"scheme": "wikidata", "identifier": "Q42"}]
    rows = _with_identifiers(parse(export_text()), UNIT, item)
    rows = _with_identifiers(rows, "npcsc-general-office", item)
    with pytest.raises(CommandError, match="nothing was written"):
        _import(tmp_path, rows)
    assert "is also given to organization" in capsys.readouterr().err
    assert not Identifier.objects.exists()


# --- Pages and search -------------------------------------------------------------------------


def test_the_organization_page_links_its_q_number_and_shows_its_credit_code(client, seeded):
    Identifier.objects.create(organization_id=UNIT, scheme="wikidata", identifier="Q42")
    Identifier.objects.create(organization_id=UNIT, scheme="uscc", identifier=STANDARD_EXAMPLE)
    page = client.get(f"/organizations/{UNIT}/").content.decode()
    assert '<dt>Wikidata</dt><dd><a href="https://www.wikidata.org/wiki/Q42">Q42</a></dd>' in page
    assert f"<dt>Unified social credit code</dt><dd>{STANDARD_EXAMPLE}</dd>" in page


def test_the_chinese_page_labels_the_credit_code_in_chinese(client, seeded):
    Identifier.objects.create(organization_id=UNIT, scheme="uscc", identifier=STANDARD_EXAMPLE)
    page = client.get(f"/zh-hans/organizations/{UNIT}/")
    assert f"<dt>统一社会信用代码</dt><dd>{STANDARD_EXAMPLE}</dd>" in page.content.decode()


def test_the_person_page_lists_their_identifiers(client, seeded):
    Identifier.objects.create(person_id=PERSON, scheme="wikidata", identifier="Q42")
    Identifier.objects.create(person_id=PERSON, scheme="isni", identifier="0000 0001")
    page = client.get(f"/people/{PERSON}/").content.decode()
    assert '<a href="https://www.wikidata.org/wiki/Q42">Q42</a>' in page
    assert "<dt>isni</dt><dd>0000 0001</dd>" in page


def test_a_page_changes_when_an_identifier_is_added(client, seeded):
    url = f"/organizations/{UNIT}/"
    etag = client.get(url)["ETag"]
    Identifier.objects.create(organization_id=UNIT, scheme="wikidata", identifier="Q42")
    response = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200
    assert "Q42" in response.content.decode()


@pytest.mark.parametrize("query", ["Q42", STANDARD_EXAMPLE])
def test_search_finds_an_organization_by_its_q_number_or_credit_code(client, seeded, query):
    Identifier.objects.create(organization_id=UNIT, scheme="wikidata", identifier="Q42")
    Identifier.objects.create(organization_id=UNIT, scheme="uscc", identifier=STANDARD_EXAMPLE)
    assert UNIT in set(Organization.objects.matching(query).values_list("pk", flat=True))
    assert f"/organizations/{UNIT}/" in client.get("/search/", {"q": query}).content.decode()


def test_search_for_a_q_number_matches_it_whole(seeded):
    def found(text: str) -> set[str]:
        return set(Organization.objects.matching(text).values_list("pk", flat=True))

    before = found("Q4"), found("91350100M000100Y4")
    Identifier.objects.create(organization_id=UNIT, scheme="wikidata", identifier="Q42")
    Identifier.objects.create(organization_id=UNIT, scheme="uscc", identifier=STANDARD_EXAMPLE)
    assert (found("Q4"), found("91350100M000100Y4")) == before
    assert UNIT not in found("91350100M000100Y4")


# --- History -----------------------------------------------------------------------------------


def test_a_deleted_organization_is_recovered_with_its_identifiers(editor_client, seeded):
    unit = Organization.objects.get(pk="npcsc-general-office").get_children().last()
    assert not unit.get_children().exists() and not unit.posts.exists()
    Identifier.objects.create(organization=unit, scheme="wikidata", identifier="Q42")
    Identifier.objects.create(organization=unit, scheme="uscc", identifier=STANDARD_EXAMPLE)
    history_record(model=Organization, pks=[unit.pk], comment="Identifiers added.")
    before = _identifiers()
    response = editor_client.post(f"{CHANGELIST}{unit.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Identifier.objects.exists()

    version = Version.objects.get_deleted(Organization).get(object_id=unit.pk)
    response = admin_submit(editor_client, f"{CHANGELIST}recover/{version.pk}/")
    assert response.status_code == 302
    assert _identifiers() == before


def test_an_admin_edit_of_identifiers_is_recorded_and_can_be_reverted(editor_client, seeded):
    url = f"{CHANGELIST}{UNIT}/change/"
    assert _submit_identifier(editor_client, url, "wikidata", "Q42").status_code == 302
    first = Version.objects.get_for_object(Organization.objects.get(pk=UNIT)).first()
    page = editor_client.get(url)
    data = admin_form_data(page) | {"identifiers-0-identifier": "Q43"}
    assert editor_client.post(url, data).status_code == 302
    assert _identifiers() == [(UNIT, None, "wikidata", "Q43")]

    history = f"{CHANGELIST}{UNIT}/history/{first.pk}/"
    assert (
        editor_client.post(history, admin_form_data(editor_client.get(history))).status_code == 302
    )
    assert _identifiers() == [(UNIT, None, "wikidata", "Q42")]


def test_a_deleted_person_is_recovered_with_their_identifiers(editor_client, seeded):
    person = Person.objects.create(id="zhang-san", name="Zhang San")
    Identifier.objects.create(person=person, scheme="wikidata", identifier="Q42")
    call_command("history_initialize", verbosity=0)
    editor_client.post("/admin/registry/person/zhang-san/delete/", {"post": "yes"})
    assert not Person.objects.filter(pk="zhang-san").exists()
    assert not Identifier.objects.exists()
    version = Version.objects.get_deleted(Person).get(object_id="zhang-san")
    response = admin_submit(editor_client, f"/admin/registry/person/recover/{version.pk}/")
    assert response.status_code == 302
    assert _identifiers() == [(None, "zhang-san", "wikidata", "Q42")]
