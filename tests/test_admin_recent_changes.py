"""Recent changes for curators (/admin/recent-changes/): each kind of change, made through the
path a curator uses, appears as one line, newest first, linked to the record's history."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from registry.models import Organization

from .conftest import admin_drag, admin_form_data, admin_submit
from .csvtools import export_text, parse, write

RECENT = "/admin/recent-changes/"
TREE = "/admin/registry/organization/"


@pytest.fixture(autouse=True)
def uploads(settings, tmp_path):
    folder = tmp_path / "uploads"
    folder.mkdir()
    settings.REGISTRY_IMPORT_UPLOADS = str(folder)


def _lines(client, **params) -> list[str]:
    response = client.get(RECENT, params)
    assert response.status_code == 200
    body = response.content.decode()
    rows = re.findall(r"<tr class=\"change-[a-z]+\">(.*?)</tr>", body, re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in rows]


def _import(client, data: bytes) -> None:
    preview = client.post(
        f"{TREE}import/",
        {"format": "0", "import_file": SimpleUploadedFile("registry.csv", data, "text/csv")},
    )
    assert preview.status_code == 200
    assert "confirm_form" in preview.context, preview.content.decode()[-3000:]
    form = preview.context["confirm_form"]
    response = client.post(
        f"{TREE}process_import/", {name: form[name].value() for name in form.fields}
    )
    assert response.status_code == 302, response.content[:2000]


def test_each_kind_of_change_appears_newest_first(seeded, editor_client):
    client = editor_client
    # added, through the add form
    add = client.get(f"{TREE}add/")
    data = admin_form_data(add) | {
        "id": "cppcc-go-archives-bureau",
        "name": "Archives Bureau",
        "kind": "internal-department",
        "parent": "cppcc-general-office",
    }
    assert client.post(f"{TREE}add/", data).status_code == 302
    # changed, through the change form
    response = admin_submit(
        client, f"{TREE}cppcc-go-secretariat/change/", name="Secretariat (renamed)"
    )
    assert response.status_code == 302
    # moved, by drag and drop
    assert admin_drag(client, "cppcc-go-auditorium", "cppcc-go-secretariat", "left").startswith(
        b"OK"
    )
    # deleted, through the delete page
    assert (
        client.post(f"{TREE}cppcc-go-archives-bureau/delete/", {"post": "yes"}).status_code == 302
    )
    # imported, through the import page
    rows = parse(export_text())
    for row in rows:
        if row["id"] == "npcsc-go-trade-union":
            row["name"] = "Trade Union (imported)"
    _import(client, write(rows))

    lines = _lines(client)
    kinds = [line.split(" ")[3] for line in lines[:5]]
    assert kinds == ["imported", "deleted", "moved", "changed", "added"], lines[:6]
    assert "Trade Union (imported)" in lines[0] or "organization" in lines[0]
    assert "editor" in lines[0]
    assert "Secretariat (renamed)" in lines[3]
    assert "Archives Bureau" in lines[1] and "Archives Bureau" in lines[4]


def test_a_revert_appears_as_reverted_with_a_link_to_the_history(seeded, editor_client):
    pk = "cppcc-go-research-office"
    admin_submit(editor_client, f"{TREE}{pk}/change/", name="Research Department")
    history = editor_client.get(f"{TREE}{pk}/history/").content.decode()
    first = re.findall(rf"{TREE}{pk}/history/(\d+)/", history)[-1]
    preview = editor_client.get(f"{TREE}{pk}/history/{first}/")
    assert (
        editor_client.post(f"{TREE}{pk}/history/{first}/", admin_form_data(preview)).status_code
        == 302
    )
    body = editor_client.get(RECENT).content.decode()
    line = _lines(editor_client)[0]
    assert line.split(" ")[3] == "reverted"
    assert f'href="{TREE}{pk}/history/"' in body
    assert f'href="{TREE}{pk}/change/"' in body


def test_an_import_of_5000_organizations_is_one_line(
    seeded, editor_client, django_assert_max_num_queries
):
    header = list(parse(export_text())[0])
    rows = [
        {
            "id": f"npcsc-go-unit-{i}",
            "parent": "npcsc-general-office",
            "name": f"Unit {i}",
            "kind": "internal-department",
        }
        for i in range(5000)
    ]
    _import(editor_client, write(rows, header))
    assert Organization.objects.filter(pk__startswith="npcsc-go-unit-").count() == 5000
    with django_assert_max_num_queries(25):
        lines = _lines(editor_client)
    assert lines[0].split(" ")[3] == "imported"
    assert "5,000 organizations" in lines[0]
    assert not any("Unit 17" in line for line in lines)


def test_filters_by_curator_and_by_model(seeded, editor_client, client):
    admin_submit(editor_client, f"{TREE}cppcc-go-secretariat/change/", name="Secretariat X")
    editor = User.objects.get(username="editor")
    assert _lines(editor_client, user=editor.pk)[0].split(" ")[3] == "changed"
    assert all(" editor " in f" {line} " for line in _lines(editor_client, user=editor.pk))
    assert _lines(editor_client, model="registry.person") == [] or all(
        "Secretariat X" not in line for line in _lines(editor_client, model="registry.person")
    )
    assert any(
        "Secretariat X" in line for line in _lines(editor_client, model="registry.organization")
    )


def test_a_curator_sees_only_the_models_they_may_view(seeded, editor_client, client):
    admin_submit(editor_client, f"{TREE}cppcc-go-secretariat/change/", name="Secretariat Y")
    people_only = User.objects.create_user(
        "people", password="a-long-test-password", is_staff=True
    )
    people_only.user_permissions.add(Permission.objects.get(codename="view_person"))
    client.force_login(people_only)
    assert not any("Secretariat Y" in line for line in _lines(client))
    assert not any(
        "organization" in line for line in _lines(client, model="registry.organization")
    )


def test_recent_changes_are_for_staff_only(seeded, client):
    assert client.get(RECENT).status_code == 302  # to the login page
    client.force_login(User.objects.create_user("outsider", password="a-long-test-password"))
    assert client.get(RECENT).status_code == 302


def test_the_admin_index_and_the_lists_link_to_recent_changes(seeded, editor_client):
    assert f'href="{RECENT}"' in editor_client.get("/admin/").content.decode()
    for model in ("person", "organization"):  # the tree list has a template of its own
        listed = editor_client.get(f"/admin/registry/{model}/").content.decode()
        assert f'href="{RECENT}?model=registry.{model}"' in listed


def test_pages_go_older_and_newer(seeded, editor_client):
    for i in range(55):
        admin_submit(editor_client, f"{TREE}cppcc-go-secretariat/change/", name=f"Secretariat {i}")
    body = editor_client.get(RECENT).content.decode()
    assert 'rel="next"' in body
    assert len(_lines(editor_client)) == 50
    older = _lines(editor_client, p=2)
    assert older and "Secretariat 4 " in " ".join(older) + " "


def test_a_read_only_viewer_sees_the_changes_of_the_records_they_may_view(
    seeded, editor, viewer_client
):
    curator = Client()  # the viewer's is the test's client
    curator.force_login(editor)
    response = admin_submit(curator, f"{TREE}cppcc-go-secretariat/change/", name="Secretariat Z")
    assert response.status_code == 302
    lines = _lines(viewer_client)
    assert "Secretariat Z" in lines[0]
    assert "editor" in lines[0]
