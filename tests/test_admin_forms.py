"""The admin's forms: the organization picker, identifiers suggested from the name, one rule for
identifiers, and positions appended by default."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from registry.admin.autocomplete import PATH_SEPARATOR
from registry.models import (
    IDENTIFIER_HELP,
    Kind,
    Organization,
    OtherName,
    Post,
)

from .conftest import admin_form_data, empty_inlines

ADD = "/admin/registry/organization/add/"
PICKER = "/admin/registry/organization/autocomplete/"
SUGGEST = "/admin/registry/organization/suggest-id/"


def _pick(client, term: str, field: str = "parent", model: str = "organization", page=1):
    response = client.get(
        PICKER,
        {
            "term": term,
            "app_label": "registry",
            "model_name": model,
            "field_name": field,
            "page": page,
        },
    )
    assert response.status_code == 200, response.content
    return response.json()


def test_picker_shows_each_candidates_path_and_rank(seeded, editor_client):
    texts = {r["id"]: r["text"] for r in _pick(editor_client, "Research Office")["results"]}
    npc = Organization.objects.get(pk="npcsc-go-research-office")
    path = PATH_SEPARATOR.join(a.name for a in npc.get_ancestors())
    assert texts["npcsc-go-research-office"].startswith(f"{path}{PATH_SEPARATOR}Research Office")
    assert texts["cppcc-go-research-office"] != texts["npcsc-go-research-office"]
    if npc.rank_id:
        assert texts["npcsc-go-research-office"].endswith(f" · {npc.rank.name}")


def test_picker_ranks_exact_matches_then_prefixes_then_the_rest(seeded, editor_client):
    ids = [r["id"] for r in _pick(editor_client, "Secretariat")["results"]]
    exact = {"cppcc-go-secretariat", "npcsc-go-secretariat"}
    assert set(ids[:2]) == exact
    prefix = [pk for pk in ids if Organization.objects.get(pk=pk).name.startswith("Secretariat ")]
    rest = [pk for pk in ids if pk not in exact and pk not in prefix]
    assert ids == [*ids[:2], *prefix, *rest]
    assert "cppcc-secretariat" in prefix  # "Secretariat of the CPPCC National Committee"


def test_picker_matches_chinese_names_pinyin_other_names_and_ids(seeded, editor_client):
    unit = Organization.objects.get(pk="cppcc-go-research-office")
    OtherName.objects.create(
        organization=unit, name="Policy Studies Unit Zeta", name_type="abbreviation", position=1
    )
    for term in (unit.name_zh or "研究室", "cppcc-go-research-office", "Studies Unit Zeta"):
        assert "cppcc-go-research-office" in [
            r["id"] for r in _pick(editor_client, term)["results"]
        ]
    assert _pick(editor_client, "cppcc-go-research-office")["results"][0]["id"] == (
        "cppcc-go-research-office"
    )


def test_picker_tells_apart_many_units_of_the_same_name_in_bounded_queries(
    seeded, editor_client, django_assert_max_num_queries
):
    kind = Kind.objects.get(pk="internal-department")
    parents = list(Organization.objects.filter(parent__isnull=False, level__lte=2))
    units = []
    for i in range(5000):
        parent = parents[i % len(parents)]
        units.append(Organization(id=f"bulk-{i}", name=f"Unit {i}", parent=parent, kind=kind))
    # Units of the same name under different parents, as in a large registry.
    for i, parent in enumerate(parents):
        units.append(Organization(id=f"go-{i}", name="General Office", parent=parent, kind=kind))
    Organization.objects.bulk_create(
        [
            Organization(
                **{
                    f.attname: getattr(u, f.attname)
                    for f in Organization._meta.concrete_fields
                    if f.attname not in ("lft", "rght", "tree_id", "level")
                },
                lft=0,
                rght=0,
                tree_id=0,
                level=0,
            )
            for u in units
        ]
    )
    Organization.objects.rebuild()
    with django_assert_max_num_queries(12):
        results = _pick(editor_client, "General Office")["results"]
    texts = [r["text"] for r in results]
    assert len(texts) == 20
    assert len(set(texts)) == len(texts), texts  # each can be told apart


def test_picker_keeps_the_admins_permission_checks(seeded, client):
    nobody = User.objects.create_user("nobody", password="a-long-test-password", is_staff=True)
    client.force_login(nobody)
    response = client.get(
        PICKER,
        {
            "term": "Office",
            "app_label": "registry",
            "model_name": "organization",
            "field_name": "parent",
        },
    )
    assert response.status_code == 403
    client.logout()
    assert client.get(PICKER, {"term": "Office"}).status_code == 302  # to the login page


def test_picker_serves_placements_lineage_posts_and_events(seeded, editor_client):
    for model, field in (
        ("placement", "parent"),
        ("succession", "predecessor"),
        ("post", "organization"),
        ("eventorganization", "organization"),
    ):
        text = _pick(editor_client, "Research Office", field=field, model=model)["results"][0][
            "text"
        ]
        assert PATH_SEPARATOR in text, (model, text)


def test_chosen_parent_shows_its_path_on_the_change_form(seeded, editor_client):
    page = editor_client.get("/admin/registry/organization/cppcc-go-research-office/change/")
    html = page.content.decode()
    parent = Organization.objects.get(pk="cppcc-general-office")
    path = PATH_SEPARATOR.join([*(a.name for a in parent.get_ancestors()), parent.name])
    assert path.replace("'", "&#x27;") in html
    assert 'data-ajax--url="/admin/registry/organization/autocomplete/"' in html


# --- Identifiers suggested from the name ------------------------------------------------------


def _suggest(client, **params):
    response = client.get(SUGGEST, params)
    assert response.status_code == 200
    return response.json()["id"]


def test_identifier_is_suggested_from_the_english_name_under_the_parents_id(seeded, editor_client):
    assert _suggest(editor_client, name="Archives Bureau", parent="cppcc-general-office") == (
        "cppcc-go-archives-bureau"
    )
    assert (
        _suggest(editor_client, name="People's Letters Office", parent="cppcc-go-research-office")
        == "cppcc-go-research-office-peoples-letters-office"
    )
    assert _suggest(editor_client, name="Top Body") == "top-body"


def test_identifier_is_suggested_in_pinyin_from_a_chinese_name(seeded, editor_client):
    assert _suggest(editor_client, name="", name_zh="档案局", parent="npcsc-general-office") == (
        "npcsc-go-dang-an-ju"
    )


def test_suggested_identifier_is_not_one_already_taken(seeded, editor_client):
    assert _suggest(editor_client, name="Research Office", parent="cppcc-general-office") == (
        "cppcc-go-research-office-2"
    )


@pytest.mark.parametrize(
    "name",
    ['<script>alert("x")</script>', "' OR 1=1 --", "x" * 5000, "   ", "🙂", "Ärger & Co."],
)
def test_suggested_identifier_follows_the_rule_whatever_the_name(seeded, editor_client, name):
    from registry.models import identifier_validator

    suggestion = _suggest(editor_client, name=name, parent="<b>")
    assert suggestion == "" or identifier_validator.regex.match(suggestion)
    assert len(suggestion) <= 100


def test_identifier_suggestions_are_for_curators_who_may_add(seeded, viewer_client):
    assert viewer_client.get(SUGGEST, {"name": "X"}).status_code == 403


def test_add_form_asks_for_suggestions_and_change_form_does_not(seeded, editor_client):
    add = editor_client.get(ADD).content.decode()
    assert 'data-suggest-url="/admin/registry/organization/suggest-id/"' in add
    change = editor_client.get(
        "/admin/registry/organization/cppcc-go-research-office/change/"
    ).content.decode()
    assert "data-suggest-url" not in change


# --- One rule for identifiers -----------------------------------------------------------------


def _add(client, **fields):
    data = {
        "name": "Archives Bureau",
        "kind": "internal-department",
        "parent": "cppcc-general-office",
        **empty_inlines(),
    }
    return client.post(ADD, data | fields)


@pytest.mark.parametrize("bad", ["Archives_Bureau", "archives bureau", "archives--bureau", "Ab"])
def test_identifier_error_says_what_the_help_says(seeded, editor_client, bad):
    response = _add(editor_client, id=bad)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["id"]
    assert errors == [
        "Use lowercase letters, digits and single hyphens only (e.g. npcsc-research-office)."
    ]
    assert "lowercase letters, digits and single hyphens" in str(IDENTIFIER_HELP)
    assert "underscores" not in response.content.decode()
    assert not Organization.objects.filter(name="Archives Bureau").exists()


def test_csv_docs_and_import_refusal_state_the_same_rule(
    seeded, editor_client, settings, tmp_path
):
    from pathlib import Path

    from django.core.files.uploadedfile import SimpleUploadedFile

    from registry.models import IDENTIFIER_RULE

    from .csvtools import export_text, parse, write

    docs = (Path(__file__).resolve().parents[1] / "docs" / "csv.md").read_text()
    assert f"`/organizations/ID/`: {IDENTIFIER_RULE}," in docs

    settings.REGISTRY_IMPORT_UPLOADS = str(tmp_path)
    rows = parse(export_text())
    rows.append(rows[-1] | {"id": "Archives_Bureau", "name": "Archives Bureau"})
    upload = SimpleUploadedFile("registry.csv", write(rows), "text/csv")
    preview = editor_client.post(
        "/admin/registry/organization/import/", {"format": "0", "import_file": upload}
    )
    assert f"“Archives_Bureau” is not an identifier: use {IDENTIFIER_RULE}" in (
        preview.content.decode()
    )
    assert not Organization.objects.filter(name="Archives Bureau").exists()


# --- Positions appended by default --------------------------------------------------------------


def test_a_post_added_without_a_position_goes_after_the_others(seeded, editor_client):
    org = Organization.objects.get(pk="cppcc-go-research-office")
    last = max([0, *org.posts.values_list("position", flat=True)])
    page = editor_client.get("/admin/registry/post/add/")
    assert 'name="position" value="0"' not in page.content.decode()
    data = admin_form_data(page) | {"organization": org.pk, "title": "Archivist", "position": ""}
    data = {k: v for k, v in data.items() if v is not None}
    response = editor_client.post("/admin/registry/post/add/", data)
    assert response.status_code == 302, response.context and response.context["errors"]
    assert Post.objects.get(organization=org, title="Archivist").position == last + 1


def test_an_explicit_position_is_kept_as_typed(seeded, editor_client):
    org = Organization.objects.get(pk="cppcc-go-research-office")
    page = editor_client.get("/admin/registry/post/add/")
    data = admin_form_data(page) | {"organization": org.pk, "title": "Clerk", "position": "0"}
    response = editor_client.post("/admin/registry/post/add/", data)
    assert response.status_code == 302
    assert Post.objects.get(organization=org, title="Clerk").position == 0


def test_other_names_added_in_the_inline_without_positions_are_appended_in_order(
    seeded, editor_client
):
    url = "/admin/registry/organization/cppcc-go-research-office/change/"
    org = Organization.objects.get(pk="cppcc-go-research-office")
    OtherName.objects.create(
        organization=org, name="Existing", name_type="abbreviation", position=3
    )
    page = editor_client.get(url)
    data = admin_form_data(page)
    start = int(data["other_names-TOTAL_FORMS"])
    for i, name in enumerate(("First new", "Second new", "Typed")):
        data[f"other_names-{start + i}-name"] = name
        data[f"other_names-{start + i}-name_type"] = OtherName._meta.get_field(
            "name_type"
        ).choices[0][0]
        data[f"other_names-{start + i}-position"] = "7" if name == "Typed" else ""
    data["other_names-TOTAL_FORMS"] = str(start + 3)
    response = editor_client.post(url, data)
    assert response.status_code == 302, [
        f.errors for f in response.context["inline_admin_formsets"][0].formset.forms
    ]
    positions = dict(org.other_names.values_list("name", "position"))
    assert positions["Typed"] == 7
    assert (positions["First new"], positions["Second new"]) == (8, 9)


def test_the_first_other_name_of_a_new_organization_is_position_1(seeded, editor_client):
    data = {
        "id": "cppcc-go-archives-bureau",
        "name": "Archives Bureau",
        "kind": "internal-department",
        "parent": "cppcc-general-office",
        **empty_inlines(),
        "other_names-TOTAL_FORMS": "1",
        "other_names-0-name": "Archives",
        "other_names-0-name_type": OtherName._meta.get_field("name_type").choices[0][0],
    }
    response = editor_client.post(ADD, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    assert OtherName.objects.get(organization_id="cppcc-go-archives-bureau").position == 1
