"""Nothing is lost: every change is recorded, can be reverted, and deletions can be recovered."""

import pytest
import reversion
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from reversion.models import Revision, Version

from registry.models import Holding, Organization, OtherName, Person, Post

from .conftest import admin_form_data, admin_submit, assert_tree_valid
from .csvtools import export_text, parse, write

CHANGELIST = "/admin/registry/organization/"


def _versions(pk: str):
    return Version.objects.get_for_object(Organization.objects.get(pk=pk))


def _snapshot(pk: str) -> tuple:
    """Everything the CSV says about one organization and its posts."""
    organization = next(row for row in parse(export_text()) if row["id"] == pk)
    del organization["order"]
    posts = [row for row in parse(export_text("posts")) if row["organization"] == pk]
    return organization, posts


def _admin_edit(client, pk: str, **changes):
    response = admin_submit(client, f"{CHANGELIST}{pk}/change/", **changes)
    assert response.status_code == 302, response.context["adminform"].form.errors
    return response


def test_an_admin_edit_is_recorded_with_who_and_what(editor_client, editor, seeded):
    _admin_edit(editor_client, "npcsc-go-research-office", name="Research Office (renamed)")
    version = _versions("npcsc-go-research-office").first()
    assert version.revision.user == editor
    assert version.field_dict["name"] == "Research Office (renamed)"


def test_history_page_lists_the_changes(editor_client, seeded):
    _admin_edit(editor_client, "npcsc-go-research-office", name="Renamed once")
    html = editor_client.get(f"{CHANGELIST}npcsc-go-research-office/history/").content.decode()
    assert "/admin/registry/organization/npcsc-go-research-office/history/" in html


def test_reverting_restores_the_earlier_version_and_keeps_the_tree_valid(editor_client, seeded):
    pk = "cppcc-go-research-office"
    with reversion.create_revision():
        reversion.add_to_revision(Organization.objects.get(pk=pk))
    before = _snapshot(pk)
    original = _versions(pk).first()
    _admin_edit(editor_client, pk, name="Research Department", parent="npcsc-general-office")
    assert Organization.objects.get(pk=pk).parent_id == "npcsc-general-office"

    preview = editor_client.get(f"{CHANGELIST}{pk}/history/{original.pk}/")
    assert preview.status_code == 200
    assert (
        Organization.objects.get(pk=pk).name == "Research Department"
    )  # a preview changes nothing
    data = admin_form_data(preview)
    response = editor_client.post(f"{CHANGELIST}{pk}/history/{original.pk}/", data)
    assert response.status_code == 302
    restored = Organization.objects.get(pk=pk)
    assert (restored.name, restored.parent_id) == ("Research Office", "cppcc-general-office")
    assert [c.pk for c in restored.get_children()] == [
        "cppcc-go-research-office-theoretical-bureau",
        "cppcc-go-research-office-information-bureau",
        "cppcc-go-research-office-office",
    ]
    assert _snapshot(pk) == before
    assert_tree_valid()


def _make_unit_with_names_and_a_post() -> Organization:
    with reversion.create_revision():
        unit = Organization.objects.create(
            id="npcsc-go-archive",
            name="Archive",
            kind_id="internal-department",
            parent=Organization.objects.get(pk="npcsc-general-office"),
            formed="1999-05",
        )
        OtherName.objects.create(
            organization=unit, name="档案馆", name_type="translation", language="zh-Hans"
        )
        post = Post.objects.create(organization=unit, title="Director", position=1)
        Holding.objects.create(post=post, person=Person.objects.get(pk="liu-qi"), position=1)
    return unit


def test_a_deleted_organization_is_recovered_with_its_names_and_posts(editor_client, seeded):
    unit = _make_unit_with_names_and_a_post()
    before = _snapshot(unit.pk)
    Post.objects.filter(organization=unit).delete()  # posts block a delete: remove them first
    editor_client.post(f"{CHANGELIST}{unit.pk}/delete/", {"post": "yes"})
    assert not Organization.objects.filter(pk=unit.pk).exists()

    recover_list = editor_client.get(f"{CHANGELIST}recover/").content.decode()
    assert "Archive" in recover_list
    version = Version.objects.get_deleted(Organization).get(object_id=unit.pk)
    response = admin_submit(editor_client, f"{CHANGELIST}recover/{version.pk}/")
    assert response.status_code == 302
    assert _snapshot(unit.pk) == before
    assert_tree_valid()


def test_a_csv_import_is_one_revision_named_after_the_file(seeded, tmp_path):
    rows = parse(export_text())
    for row in rows:
        if row["id"] in ("npcsc-go-secretariat", "npcsc-go-trade-union"):
            row["name"] += " (renamed)"
    path = tmp_path / "changes-2026-11.csv"
    path.write_bytes(write(rows))
    call_command("import_registry", "organizations", str(path), verbosity=0)
    revision = Revision.objects.get(comment__startswith="CSV import of changes-2026-11.csv")
    assert {
        v.object_id for v in revision.version_set.filter(content_type__model="organization")
    } == {
        "npcsc-go-secretariat",
        "npcsc-go-trade-union",
    }


def test_a_rejected_import_records_nothing(seeded, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id,parent,name,kind,rank\r\nx,nowhere,X,internal-department,\r\n")
    with pytest.raises(CommandError, match="Rejected"):
        call_command("import_registry", "organizations", str(path), verbosity=0)
    assert not Revision.objects.exists()


def test_a_dry_run_records_nothing(seeded, tmp_path):
    rows = parse(export_text())
    rows[-1]["name"] += " (renamed)"
    path = tmp_path / "changes.csv"
    path.write_bytes(write(rows))
    call_command("import_registry", "organizations", str(path), "--dry-run", verbosity=0)
    assert not Revision.objects.exists()
    assert not Organization.objects.filter(name__endswith="(renamed)").exists()


def test_viewers_see_the_admin_but_change_nothing(viewer_client, seeded):
    assert viewer_client.get(CHANGELIST).status_code == 200
    assert viewer_client.get(f"{CHANGELIST}npcsc-go-secretariat/change/").status_code == 200
    viewer_client.post(f"{CHANGELIST}npcsc-go-secretariat/change/", {"name": "Changed"})
    assert Organization.objects.get(pk="npcsc-go-secretariat").name == "Secretariat"
    assert viewer_client.get(f"{CHANGELIST}add/").status_code == 403
    assert viewer_client.get("/admin/auth/user/").status_code == 403
    assert viewer_client.get("/admin/registry/organization/import/").status_code == 403


def test_staff_without_a_role_cannot_see_registry_data(client, seeded):
    client.force_login(User.objects.create_user("staff", is_staff=True))
    assert client.get(CHANGELIST).status_code == 403
