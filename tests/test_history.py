"""Nothing is lost: every change is recorded, can be reverted, and deletions can be recovered."""

import pytest
import reversion
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from reversion.models import Revision, Version

from registry.models import Citation, Holding, Organization, OtherName, Person, Post, Source

from .conftest import admin_drag, admin_form_data, admin_submit, assert_tree_valid, tree_snapshot
from .csvtools import empty_registry, export_text, parse, write

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


def test_a_csv_import_records_each_changed_organization_as_its_own_revision(seeded, tmp_path):
    rows = parse(export_text())
    for row in rows:
        if row["id"] in ("npcsc-go-secretariat", "npcsc-go-trade-union"):
            row["name"] += " (renamed)"
    path = tmp_path / "changes-2026-11.csv"
    path.write_bytes(write(rows))
    call_command("import_registry", "organizations", str(path), verbosity=0)
    revisions = Revision.objects.filter(comment__startswith="CSV import of changes-2026-11.csv")
    assert [
        {v.object_id for v in revision.version_set.filter(content_type__model="organization")}
        for revision in revisions.order_by("pk")
    ] == [{"npcsc-go-secretariat"}, {"npcsc-go-trade-union"}]
    assert len({(r.date_created, r.comment) for r in revisions}) == 1


def test_a_rejected_import_records_nothing(seeded, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id,parent,name,kind,rank\r\nx,nowhere,X,internal-department,\r\n")
    before = Revision.objects.count(), Version.objects.count()
    with pytest.raises(CommandError, match="Rejected"):
        call_command("import_registry", "organizations", str(path), verbosity=0)
    assert (Revision.objects.count(), Version.objects.count()) == before


def test_a_dry_run_records_nothing(seeded, tmp_path):
    rows = parse(export_text())
    rows[-1]["name"] += " (renamed)"
    path = tmp_path / "changes.csv"
    path.write_bytes(write(rows))
    before = Revision.objects.count(), Version.objects.count()
    call_command("import_registry", "organizations", str(path), "--dry-run", verbosity=0)
    assert (Revision.objects.count(), Version.objects.count()) == before
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


# Restoring one record: through the admin's history and "Recover deleted" pages.


def _import_both_offices(tmp_path) -> None:
    """The seed registry, exported and imported again into an empty registry by the command."""
    organizations, posts = export_text(), export_text("posts")
    empty_registry()
    Revision.objects.all().delete()
    for dataset, text in (("organizations", organizations), ("posts", posts)):
        path = tmp_path / f"{dataset}.csv"
        path.write_text(text, encoding="utf-8")
        call_command("import_registry", dataset, str(path), verbosity=0)


def _import_version(pk: str) -> Version:
    return _versions(pk).filter(revision__comment__startswith="CSV import of").first()


def _curate_npcsc(client) -> None:
    """A curator's later work on the other office: a rename, a post, a sub-department."""
    _admin_edit(client, "npcsc-general-office", name="General Office (renamed)")
    response = admin_submit(
        client,
        "/admin/registry/post/add/",
        organization="npcsc-general-office",
        title="Chief of Staff",
        position="9",
    )
    assert response.status_code == 302
    response = admin_submit(
        client,
        f"{CHANGELIST}add/",
        id="npcsc-go-new-unit",
        name="New Unit",
        parent="npcsc-general-office",
        kind="internal-department",
    )
    assert response.status_code == 302


def _npcsc_state() -> tuple:
    return _snapshot("npcsc-general-office"), _snapshot("npcsc-go-new-unit")


def test_reverting_one_imported_organization_leaves_the_others_of_its_file_alone(
    editor_client, seeded, tmp_path
):
    _import_both_offices(tmp_path)
    imported = _snapshot("cppcc-general-office")
    _admin_edit(editor_client, "cppcc-general-office", name="Renamed CPPCC office")
    _curate_npcsc(editor_client)
    npcsc = _npcsc_state()

    url = f"{CHANGELIST}cppcc-general-office/history/{_import_version('cppcc-general-office').pk}/"
    preview = editor_client.get(url)
    assert preview.status_code == 200
    assert Organization.objects.get(pk="cppcc-general-office").name == "Renamed CPPCC office"
    assert editor_client.post(url, admin_form_data(preview)).status_code == 302
    assert _snapshot("cppcc-general-office") == imported
    assert _npcsc_state() == npcsc
    assert Post.objects.filter(title="Chief of Staff").exists()
    assert_tree_valid()


def test_recovering_one_imported_organization_leaves_the_others_of_its_file_alone(
    editor_client, seeded, tmp_path
):
    _import_both_offices(tmp_path)
    pk = "cppcc-go-research-office-theoretical-bureau"
    imported = _snapshot(pk)
    editor_client.post(f"{CHANGELIST}{pk}/delete/", {"post": "yes"})
    assert not Organization.objects.filter(pk=pk).exists()
    _curate_npcsc(editor_client)
    npcsc = _npcsc_state()

    version = Version.objects.get_deleted(Organization).get(object_id=pk)
    response = admin_submit(editor_client, f"{CHANGELIST}recover/{version.pk}/")
    assert response.status_code == 302
    assert _snapshot(pk) == imported
    assert _npcsc_state() == npcsc
    assert_tree_valid()


def test_the_revert_preview_says_what_will_be_deleted_and_what_comes_back(
    editor_client, seeded, tmp_path
):
    _import_both_offices(tmp_path)
    pk = "npcsc-general-office"
    version = _import_version(pk)
    _curate_npcsc(editor_client)
    chief = Post.objects.get(title="Chief of Staff")
    Holding.objects.create(post=chief, person=Person.objects.get(pk="liu-qi"), position=1)
    OtherName.objects.create(organization_id=pk, name="NPCSC GO", name_type="abbreviation")
    secretary = Post.objects.filter(organization_id=pk).exclude(pk=chief.pk).first()
    editor_client.post(f"/admin/registry/post/{secretary.pk}/delete/", {"post": "yes"})
    assert not Post.objects.filter(pk=secretary.pk).exists()

    page = editor_client.get(f"{CHANGELIST}{pk}/history/{version.pk}/").content.decode()
    deleted = page.split("Will be deleted:")[1].split("</li>")[0]
    assert "Chief of Staff" in deleted and "Liu Qi" in deleted and "NPCSC GO" in deleted
    assert "New Unit" not in deleted  # a sub-unit is a record of its own: it stays
    back = page.split("Will come back:")[1].split("</li>")[0]
    assert secretary.title in back
    assert Post.objects.filter(pk=chief.pk).exists()  # the preview changed nothing


def test_a_drag_and_drop_move_is_in_the_history_in_words(editor_client, seeded):
    pk = "npcsc-go-research-office"
    assert admin_drag(editor_client, pk, "cppcc-go-research-office", "last-child").startswith(
        b"OK"
    )
    html = editor_client.get(f"{CHANGELIST}{pk}/history/").content.decode()
    assert f"Moved from under “{_name('npcsc-general-office')}” to under “Research Office”." in (
        html.replace("&#x27;", "'")
    )


def _name(pk: str) -> str:
    return Organization.objects.get(pk=pk).name


def test_a_parent_change_in_the_form_is_in_the_history_in_words(editor_client, seeded):
    pk = "npcsc-go-research-office"
    _admin_edit(editor_client, pk, parent="cppcc-go-research-office")
    assert (
        _versions(pk)
        .first()
        .revision.comment.startswith(
            f"Moved from under “{_name('npcsc-general-office')}” to under “Research Office”."
        )
    )


def test_a_recover_address_takes_only_its_own_models_versions(editor_client, seeded):
    pk = "cppcc-go-research-office-theoretical-bureau"
    editor_client.post(f"{CHANGELIST}{pk}/delete/", {"post": "yes"})
    version = Version.objects.get_deleted(Organization).get(object_id=pk)
    for url in (
        f"/admin/registry/person/recover/{version.pk}/",
        f"/admin/registry/kind/recover/{version.pk}/",
        f"/admin/registry/person/{pk}/history/{version.pk}/",
    ):
        assert editor_client.get(url).status_code == 404
        assert editor_client.post(url, {"name": "x", "id": pk}).status_code == 404
    assert not Organization.objects.filter(pk=pk).exists()
    assert not Person.objects.filter(pk=pk).exists()


def test_a_revert_whose_parent_was_deleted_is_refused_with_what_to_do(editor_client, seeded):
    response = admin_submit(
        editor_client,
        f"{CHANGELIST}add/",
        id="npcsc-go-temporary",
        name="Temporary Office",
        parent="npcsc-general-office",
        kind="internal-department",
    )
    assert response.status_code == 302
    pk = "npcsc-go-research-office"
    _admin_edit(editor_client, pk, parent="npcsc-go-temporary")
    under_temporary = _versions(pk).first()
    _admin_edit(editor_client, pk, parent="npcsc-general-office")
    editor_client.post(f"{CHANGELIST}npcsc-go-temporary/delete/", {"post": "yes"})
    assert not Organization.objects.filter(pk="npcsc-go-temporary").exists()
    before = tree_snapshot(), _snapshot(pk)

    url = f"{CHANGELIST}{pk}/history/{under_temporary.pk}/"
    for response in (editor_client.get(url), editor_client.post(url, {"name": "x"})):
        assert response.status_code == 302
        message = str(list(get_messages(response.wsgi_request))[-1])
        assert "“Temporary Office”" in message and "was deleted" in message
        assert "recover it first" in message
    assert (tree_snapshot(), _snapshot(pk)) == before


def test_a_revert_that_would_make_a_cycle_is_refused(editor_client, seeded):
    pk = "npcsc-go-research-office"
    with reversion.create_revision():
        reversion.add_to_revision(Organization.objects.get(pk=pk))
    under_office = _versions(pk).first()
    _admin_edit(editor_client, pk, parent="")
    _admin_edit(editor_client, "npcsc-general-office", parent=pk)
    before = tree_snapshot()

    url = f"{CHANGELIST}{pk}/history/{under_office.pk}/"
    for response in (editor_client.get(url), editor_client.post(url, {"name": "x"})):
        assert response.status_code == 302
        message = str(list(get_messages(response.wsgi_request))[-1])
        assert "its own ancestor" in message and "out of" in message
    assert tree_snapshot() == before
    assert_tree_valid()


def _registry_export() -> tuple[str, str]:
    return export_text(), export_text("posts")


def test_a_seed_unit_never_edited_is_recovered_with_its_names_and_citations(editor_client, seeded):
    pk = "cppcc-go-committee-handling-proposals-office"
    assert OtherName.objects.filter(organization_id=pk).exists()
    assert Citation.objects.filter(organization_id=pk).exists()
    before = _registry_export()
    editor_client.post(f"{CHANGELIST}{pk}/delete/", {"post": "yes"})
    assert not Organization.objects.filter(pk=pk).exists()
    recoverable = editor_client.get(f"{CHANGELIST}recover/").content.decode()
    assert "Office of the Committee for Handling Proposals" in recoverable
    version = Version.objects.get_deleted(Organization).get(object_id=pk)
    assert admin_submit(editor_client, f"{CHANGELIST}recover/{version.pk}/").status_code == 302
    assert _registry_export() == before
    assert_tree_valid()


def test_a_seed_post_never_edited_is_recovered_with_its_holders(editor_client, seeded):
    post = Post.objects.get(
        organization_id="cppcc-general-office", title="Deputy Secretary-General"
    )
    assert post.holdings.count() > 1
    before = _registry_export()
    editor_client.post(f"/admin/registry/post/{post.pk}/delete/", {"post": "yes"})
    assert not Post.objects.filter(pk=post.pk).exists()
    version = Version.objects.get_deleted(Post).get(object_id=post.pk)
    url = f"/admin/registry/post/recover/{version.pk}/"
    assert admin_submit(editor_client, url).status_code == 302
    assert _registry_export() == before


def test_history_initialize_gives_rows_without_history_a_version_once(db):
    call_command("loaddata", "seed", verbosity=0)  # rows written with no history at all
    Organization.objects.rebuild()
    assert not Version.objects.exists()
    call_command("history_initialize", verbosity=0)
    versioned = Version.objects.get_for_model(Organization).count()
    assert versioned == Organization.objects.count()
    revisions = Revision.objects.count()
    call_command("history_initialize", verbosity=0)
    assert Revision.objects.count() == revisions


def test_a_posts_import_records_the_organizations_and_people_it_changed(
    editor_client, seeded, tmp_path
):
    rows = parse(export_text("posts"))
    rows.append(dict(rows[0], person="new-deputy", person_name="New Deputy", holder_order="99"))
    path = tmp_path / "posts-2026-12.csv"
    path.write_bytes(write(rows))
    seed_version = _versions(rows[0]["organization"]).first()
    call_command("import_registry", "posts", str(path), verbosity=0)

    revisions = Revision.objects.filter(comment__startswith="CSV import of posts-2026-12.csv")
    recorded = {
        (v.content_type.model, v.object_id)
        for v in Version.objects.filter(revision__in=revisions)
        if v.content_type.model in ("organization", "person")
    }
    assert recorded == {("organization", rows[0]["organization"]), ("person", "new-deputy")}
    assert revisions.count() == 2

    # The organization's history can go back to before the import: the new holder goes.
    url = f"{CHANGELIST}{rows[0]['organization']}/history/{seed_version.pk}/"
    preview = editor_client.get(url)
    assert "New Deputy" in preview.content.decode().split("Will be deleted:")[1]
    assert editor_client.post(url, admin_form_data(preview)).status_code == 302
    assert not Holding.objects.filter(person="new-deputy").exists()
    assert Person.objects.filter(pk="new-deputy").exists()  # a record of its own
    assert_tree_valid()


def test_a_person_is_reverted_alone_and_one_whose_source_is_gone_is_refused(editor_client, seeded):
    with reversion.create_revision():
        source = Source.objects.create(title="Gazette 1999")
    person = Person.objects.get(pk="liu-qi")
    person.sources.add(source)
    with reversion.create_revision():
        reversion.add_to_revision(person)
        reversion.add_to_revision(Person.objects.get(pk="chen-xu"))
    version = Version.objects.get_for_object(person).first()
    Person.objects.filter(pk="chen-xu").update(name="Renamed too")
    Person.objects.filter(pk="liu-qi").update(name="Renamed")
    url = f"/admin/registry/person/liu-qi/history/{version.pk}/"
    preview = editor_client.get(url)
    assert editor_client.post(url, admin_form_data(preview)).status_code == 302
    assert Person.objects.get(pk="liu-qi").name == "Liu Qi"
    assert Person.objects.get(pk="chen-xu").name == "Renamed too"  # same revision, alone

    source.delete()
    editor_client.post("/admin/registry/person/liu-qi/delete/", {"post": "yes"})
    Holding.objects.filter(person="liu-qi").delete()
    editor_client.post("/admin/registry/person/liu-qi/delete/", {"post": "yes"})
    assert not Person.objects.filter(pk="liu-qi").exists()
    response = editor_client.post(f"/admin/registry/person/recover/{version.pk}/", {})
    assert response.status_code == 302
    message = str(list(get_messages(response.wsgi_request))[-1])
    assert "“Gazette 1999”" in message and "was deleted" in message
    assert not Person.objects.filter(pk="liu-qi").exists()


def test_a_version_that_cannot_be_read_gives_a_message_not_a_server_error(editor_client, seeded):
    pk = "npcsc-go-research-office"
    version = _versions(pk).first()
    Version.objects.filter(pk=version.pk).update(serialized_data="not json")
    response = editor_client.get(f"{CHANGELIST}{pk}/history/{version.pk}/")
    assert response.status_code == 302
    assert "incompatible" in str(list(get_messages(response.wsgi_request))[-1])


def test_viewers_cannot_revert(viewer_client, seeded):
    pk = "npcsc-go-research-office"
    Organization.objects.filter(pk=pk).update(name="Renamed")
    version = _versions(pk).first()
    url = f"{CHANGELIST}{pk}/history/{version.pk}/"
    assert viewer_client.post(url, {"name": "Research Office"}).status_code == 403
    assert Organization.objects.get(pk=pk).name == "Renamed"


def test_a_revert_that_would_take_a_post_from_another_organization_is_refused(
    editor_client, seeded
):
    with reversion.create_revision():
        post = Post.objects.create(organization_id="npcsc-general-office", title="Archivist")
        reversion.add_to_revision(Organization.objects.get(pk="npcsc-general-office"))
    version = _versions("npcsc-general-office").first()
    url = f"/admin/registry/post/{post.pk}/change/"
    response = admin_submit(editor_client, url, organization="cppcc-general-office")
    assert response.status_code == 302
    Organization.objects.filter(pk="npcsc-general-office").update(name="Renamed")
    url = f"{CHANGELIST}npcsc-general-office/history/{version.pk}/"
    response = editor_client.get(url)
    assert response.status_code == 302
    message = str(list(get_messages(response.wsgi_request))[-1])
    assert "now belongs to organization" in message and "Move it back first" in message
    assert Post.objects.get(pk=post.pk).organization_id == "cppcc-general-office"
    assert Organization.objects.get(pk="npcsc-general-office").name == "Renamed"
